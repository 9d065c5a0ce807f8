"""Cross-origin access (CORS): a dashboard on a listed origin (``YIWANG_CORS_ALLOWED_ORIGINS``) may call the gateway
from a browser; any other origin is refused at the preflight; simple cross-site requests are still refused by the
CSRF guard. Over HTTP against ``yiwang serve``, and in Debian's chromium from pages served on other local ports."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.app import create_app
from gateway.exceptions import ConfigurationError
from gateway.middleware import CORS_REQUEST_HEADERS, CrossOriginAccess
from gateway.router import ConnectorSet
from gateway.settings import Settings, load_settings
from tests.conftest import NATIONAL_VIEWER, MockDepartments, bearer
from tests.served import ServedGateway, served_gateway
from tests.test_tracing_browser import CHROMIUM, CHROMIUM_ARGS, PAGE_TIMEOUT_MS

QUERY = "{ departments { id } }"
WILDCARD = "https://*.dash.example.gov.cn"
TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


class _Page(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"<!doctype html><title>city dashboard</title><p>dashboard</p>"
        self.send_response(200)
        self.send_header("content-type", "text/html; charset=utf-8")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def dashboards() -> Iterator[tuple[str, str]]:
    """Two web servers on other local ports: the dashboard the gateway allows, and another site."""
    servers = [ThreadingHTTPServer(("127.0.0.1", 0), _Page) for _ in range(2)]
    for server in servers:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        allowed, other = (f"http://127.0.0.1:{server.server_address[1]}" for server in servers)
        yield allowed, other
    finally:
        for server in servers:
            server.shutdown()
            server.server_close()


@pytest.fixture(scope="module")
def gateway_with_cors(mock_departments: MockDepartments, dashboards: tuple[str, str],
                      tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedGateway]:
    allowed, _ = dashboards
    directory = tmp_path_factory.mktemp("cors")
    with served_gateway(mock_departments, directory, {
            "YIWANG_CORS_ALLOWED_ORIGINS": f"{allowed}/, {WILDCARD}",  # a trailing slash is forgiven
            "YIWANG_DATABASE_URL": f"sqlite:///{directory / 'registry.sqlite3'}"}) as served:
        yield served


def _preflight(gateway: ServedGateway, origin: str, method: str = "POST",
               headers: str = "authorization, content-type") -> httpx.Response:
    return httpx.options(f"{gateway.url}/graphql", headers={
        "origin": origin, "access-control-request-method": method, "access-control-request-headers": headers})


def _code(response: httpx.Response) -> str:
    return str(response.json()["errors"][0]["extensions"]["code"])


def test_a_preflight_from_an_allowed_origin_succeeds(gateway_with_cors: ServedGateway,
                                                    dashboards: tuple[str, str]) -> None:
    allowed, _ = dashboards
    for origin in (allowed, "https://ops.dash.example.gov.cn", "https://a.b.dash.example.gov.cn"):
        response = _preflight(gateway_with_cors, origin, headers="Authorization, Content-Type, traceparent, "
                                                                 "x-yiwang-csrf, accept")
        assert response.status_code == 204, (origin, response.text)
        assert response.headers["access-control-allow-origin"] == origin
        assert set(response.headers["access-control-allow-methods"].split(", ")) == {"GET", "POST"}
        assert set(response.headers["access-control-allow-headers"].split(", ")) == set(CORS_REQUEST_HEADERS)
        assert int(response.headers["access-control-max-age"]) > 0
        assert "access-control-allow-credentials" not in response.headers  # bearer tokens, no cookies
        assert "Origin" in response.headers["vary"]


def test_other_origins_and_requests_beyond_the_allowed_ones_are_refused_at_the_preflight(
        gateway_with_cors: ServedGateway, dashboards: tuple[str, str]) -> None:
    allowed, other = dashboards
    for origin in (other, allowed.replace("127.0.0.1", "localhost"), allowed.replace("http:", "https:"),
                   f"{allowed}.evil.example", "null", "https://dash.example.gov.cn", "http://ops.dash.example.gov.cn",
                   "https://evil-dash.example.gov.cn", "https://ops.dash.example.gov.cn.evil.cn",
                   "https://ops.dash.example.gov.cn:8443"):
        response = _preflight(gateway_with_cors, origin)
        assert response.status_code == 403 and _code(response) == "CORS_REJECTED", origin
        assert "access-control-allow-origin" not in response.headers
    put = _preflight(gateway_with_cors, allowed, method="PUT")
    assert put.status_code == 403 and _code(put) == "CORS_REJECTED" and "PUT" in put.json()["errors"][0]["message"]
    extra_header = _preflight(gateway_with_cors, allowed, headers="content-type, x-forwarded-for")
    assert extra_header.status_code == 403 and "x-forwarded-for" in extra_header.json()["errors"][0]["message"]


def test_the_real_request_from_an_allowed_origin_gets_the_cors_headers(gateway_with_cors: ServedGateway,
                                                                      dashboards: tuple[str, str]) -> None:
    allowed, other = dashboards
    response = gateway_with_cors.post({"query": QUERY}, headers={"origin": allowed, **bearer(*NATIONAL_VIEWER)})
    assert response.status_code == 200 and response.json()["data"]["departments"]
    assert response.headers["access-control-allow-origin"] == allowed
    assert response.headers["access-control-expose-headers"] == "x-trace-id" and response.headers["x-trace-id"]
    assert "Origin" in response.headers["vary"]
    from_elsewhere = gateway_with_cors.post({"query": QUERY}, headers={"origin": other})
    assert "access-control-allow-origin" not in from_elsewhere.headers  # so the browser keeps the answer from it
    assert "Origin" in from_elsewhere.headers["vary"]


def test_simple_cross_site_requests_are_still_refused(gateway_with_cors: ServedGateway,
                                                      dashboards: tuple[str, str]) -> None:
    allowed, other = dashboards
    for origin in (allowed, other):
        form = httpx.post(f"{gateway_with_cors.url}/graphql", data={"query": QUERY}, headers={"origin": origin})
        assert form.status_code == 400 and _code(form) == "CSRF_REJECTED"
        text = gateway_with_cors.post(content=f'{{"query": "{QUERY}"}}',
                                      headers={"origin": origin, "content-type": "text/plain"})
        assert text.status_code == 400 and _code(text) == "CSRF_REJECTED"
        get = gateway_with_cors.get("/graphql", params={"query": QUERY}, headers={"origin": origin})
        assert get.status_code == 400 and _code(get) == "CSRF_REJECTED"


@pytest.fixture
async def default_gateway() -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(Settings(anonymous="public"), connectors=ConnectorSet([]))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway") as client:
        yield client


async def test_by_default_no_origin_may_call_the_gateway(default_gateway: httpx.AsyncClient) -> None:
    preflight = await default_gateway.options("/graphql", headers={
        "origin": "https://dash.example.gov.cn", "access-control-request-method": "POST"})
    assert preflight.status_code == 403 and _code(preflight) == "CORS_REJECTED"
    assert "YIWANG_CORS_ALLOWED_ORIGINS" in preflight.json()["errors"][0]["message"]
    response = await default_gateway.post("/graphql", json={"query": QUERY},
                                          headers={"origin": "https://dash.example.gov.cn"})
    assert response.status_code == 200 and not any(name.startswith("access-control-") for name in response.headers)
    plain_options = await default_gateway.options("/graphql")  # not a preflight, and no GraphQL operation either
    assert plain_options.status_code == 405 and _code(plain_options) == "METHOD_NOT_ALLOWED"


@pytest.mark.parametrize("value", [
    "*", "null", "https://dash.example.gov.cn/app", "dash.example.gov.cn", "ftp://dash.example.gov.cn",
    "https://*.cn", "https://*", "https://dash..example.gov.cn", "https://dash.example.gov.cn:99999",
    "https://user@dash.example.gov.cn", "https://dash.example.gov.cn?x=1", "https://*.10.0.0.1"])
def test_origins_that_are_not_origins_are_refused_at_start_up(value: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("YIWANG_CORS_ALLOWED_ORIGINS", f"https://ok.example.gov.cn,{value}")
    with pytest.raises(ConfigurationError, match="CORS origin"):
        load_settings()
    with pytest.raises(ValueError, match="CORS origin"):
        CrossOriginAccess(create_app, allowed_origins=[value])  # type: ignore[arg-type]


def test_origins_are_normalised_as_browsers_send_them() -> None:
    settings = Settings(cors_allowed_origins=" HTTPS://Dash.Example.gov.cn:443/, http://127.0.0.1:8080,"
                                             "http://127.0.0.1:8080, https://*.Ops.example.gov.cn ")
    assert settings.cors_allowed_origins == ("https://dash.example.gov.cn,http://127.0.0.1:8080,"
                                             "https://*.ops.example.gov.cn")


def test_a_dashboard_on_an_allowed_origin_reads_answers_and_another_site_cannot(
        gateway_with_cors: ServedGateway, dashboards: tuple[str, str]) -> None:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs Debian's chromium package")
    from playwright.sync_api import sync_playwright

    call_gateway = """async ([url, token, traceparent, query]) => {
        try {
            const response = await fetch(url, {method: "POST", body: JSON.stringify({query}), headers: {
                "content-type": "application/json", authorization: token, traceparent}});
            return {status: response.status, traceId: response.headers.get("x-trace-id"), body: await response.json()};
        } catch (error) {
            return {error: String(error)};
        }
    }"""
    arguments = [f"{gateway_with_cors.url}/graphql", bearer(*NATIONAL_VIEWER)["authorization"], TRACEPARENT, QUERY]
    allowed, other = dashboards
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page()
            page.set_default_timeout(PAGE_TIMEOUT_MS)
            page.goto(allowed)
            answer = page.evaluate(call_gateway, arguments)
            assert answer.get("error") is None, answer
            assert answer["status"] == 200 and answer["body"]["data"]["departments"]
            assert answer["traceId"] == TRACEPARENT.split("-")[1]  # exposed, and the dashboard's trace continued

            page.goto(other)
            refused = page.evaluate(call_gateway, arguments)
            assert refused == {"error": "TypeError: Failed to fetch"}
        finally:
            browser.close()
