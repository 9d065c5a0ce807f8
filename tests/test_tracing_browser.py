"""The trace page in a real browser (Debian's chromium, driven by Playwright) and the JSON log lines, against
``yiwang serve`` running as a subprocess the way an operator runs it."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import NATIONAL_VIEWER, MockDepartments, bearer
from tests.served import served_gateway as serve
from tests.tracing_fixtures import ADMIN, DEPARTMENTS, THREE_DEPARTMENTS

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
PAGE_TIMEOUT_MS = 15_000


@dataclass
class LoggedGateway:
    url: str
    log_path: Path

    def log_lines(self) -> list[dict[str, Any]]:
        lines = self.log_path.read_text(errors="replace").splitlines()
        return [json.loads(line) for line in lines if line.startswith("{")]


@pytest.fixture(scope="module")
def served_gateway(mock_departments: MockDepartments, tmp_path_factory: pytest.TempPathFactory,
                   ) -> Iterator[LoggedGateway]:
    env = {"YIWANG_LOG_FORMAT": "json", "YIWANG_CACHE_ENABLED": "false", "YIWANG_UPSTREAM_TIMEOUT_S": "1.5"}
    with serve(mock_departments, tmp_path_factory.mktemp("served"), env) as served:
        yield LoggedGateway(served.url, served.log_path)


@pytest.fixture
def failing_query(served_gateway: LoggedGateway, mock_departments: MockDepartments) -> Iterator[str]:
    """The trace id of a query that asked water, transport and housing while water was down."""
    mock_departments.set_faults("water", down=True)
    try:
        response = httpx.post(f"{served_gateway.url}/graphql", json={"query": THREE_DEPARTMENTS},
                              headers=bearer(*NATIONAL_VIEWER), timeout=30)
    finally:
        mock_departments.reset()
    body = response.json()
    assert [e["extensions"]["department"] for e in body["errors"]] == ["water"]
    yield str(body["extensions"]["traceId"])


def test_the_trace_page_shows_each_department_and_the_failure(served_gateway: LoggedGateway,
                                                             failing_query: str) -> None:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs Debian's chromium package")
    from playwright.sync_api import sync_playwright

    token = bearer(*ADMIN)["authorization"].removeprefix("Bearer ")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page()
            page.set_default_timeout(PAGE_TIMEOUT_MS)

            page.goto(f"{served_gateway.url}/admin/tracing")  # no token: the data is refused
            page.wait_for_selector("#status.problem")
            assert "401" in page.inner_text("#status")

            page.goto(f"{served_gateway.url}/admin/tracing#token={token}&trace={failing_query}")
            page.wait_for_selector(f'#detail[data-trace-id="{failing_query}"] section[data-department="water"]')
            assert "token=" not in page.url  # taken out of the address bar
            sections = page.locator("#waterfall section.group")
            shown = {sections.nth(i).get_attribute("data-department") for i in range(sections.count())}
            assert shown == {"gateway", *DEPARTMENTS}
            for department in DEPARTMENTS:
                section = page.locator(f'section[data-department="{department}"]')
                assert section.locator(".row.span").count() >= 2  # the department fetch and its HTTP call
                bar_width = section.locator(".row.span .bar").first.evaluate("e => e.getBoundingClientRect().width")
                assert bar_width > 0
                wall = section.locator("h3 [data-wall-ms]").get_attribute("data-wall-ms")  # calls' union, not sum
                assert wall is not None and float(wall) > 0
                errors = section.locator(".row.error")
                if department == "water":
                    assert "failed-department" in (section.get_attribute("class") or "")
                    assert errors.count() >= 1
                    assert "UPSTREAM_UNAVAILABLE" in errors.first.inner_text()
                else:
                    assert errors.count() == 0
            assert "failed: water" in page.inner_text("#detail-summary")

            row = page.locator(f'#traces tr[data-trace-id="{failing_query}"]')  # the list of recent traces
            assert "error" in (row.get_attribute("class") or "")
            assert "UPSTREAM_UNAVAILABLE" in row.inner_text()
        finally:
            browser.close()


def test_log_lines_are_json_with_the_trace_and_span_id(served_gateway: LoggedGateway, failing_query: str) -> None:
    deadline = time.monotonic() + 5
    while True:
        lines = [line for line in served_gateway.log_lines() if line.get("trace_id") == failing_query]
        if lines or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    [failure] = [line for line in lines if line.get("department") == "water"]
    assert failure["level"] == "WARNING" and failure["code"] == "UPSTREAM_UNAVAILABLE"
    assert "water" in failure["message"] and len(failure["span_id"]) == 16
    assert failure["logger"].startswith("yiwang") and failure["time"]
