"""GraphiQL works on a network without internet access: the gateway serves GraphiQL's assets itself (installed by
`make graphiql-assets` from the npm registry), and falls back to the CDN, with a warning, only when they are missing.
The browser test runs Debian's chromium against ``yiwang serve`` in demo mode with every request that leaves
127.0.0.1 blocked."""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from gateway import graphiql
from gateway.app import create_app
from gateway.router import ConnectorSet
from gateway.settings import Settings
from tests.conftest import NATIONAL_VIEWER, MockDepartments, bearer
from tests.served import ServedGateway, served_gateway
from tests.test_tracing_browser import CHROMIUM, CHROMIUM_ARGS, PAGE_TIMEOUT_MS

LOCK_FILE = Path(__file__).resolve().parent.parent / "web" / "graphiql" / "package-lock.json"
SIGNED_IN_QUERY = "{ events(first: 1) { totalCount } }"
ADMIN = ("MUNICIPAL", "370800", "platform_admin")


def _require_assets() -> None:
    if not graphiql.GraphiQLPage().local:
        pytest.fail("GraphiQL's assets are not installed: run `make graphiql-assets` (npm ci in web/graphiql)")


@pytest.fixture(scope="module")
def demo_gateway(mock_departments: MockDepartments, tmp_path_factory: pytest.TempPathFactory,
                 ) -> Iterator[ServedGateway]:
    _require_assets()
    directory = tmp_path_factory.mktemp("graphiql")
    with served_gateway(mock_departments, directory, {
            "YIWANG_MODE": "demo", "YIWANG_DATABASE_URL": f"sqlite:///{directory / 'registry.sqlite3'}"}) as served:
        yield served


def _asset_urls(page_html: str) -> list[str]:
    """What the page loads: its scripts and style sheets."""
    return re.findall(r'<(?:script src|link rel="stylesheet" href)="([^"]+)"', page_html)


def test_graphiql_runs_a_query_with_the_typed_authorization_header_and_no_internet(
        demo_gateway: ServedGateway) -> None:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs Debian's chromium package")
    from playwright.sync_api import Request, Route, sync_playwright

    token = bearer(*NATIONAL_VIEWER)["authorization"]
    left_the_machine: list[str] = []
    problems: list[str] = []
    graphql_posts: list[Request] = []

    def only_this_machine(route: Route) -> None:
        if urlsplit(route.request.url).hostname == "127.0.0.1":
            route.continue_()
        else:  # what a city intranet does to a CDN request
            left_the_machine.append(route.request.url)
            route.abort("internetdisconnected")

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            context = browser.new_context()
            context.route("**/*", only_this_machine)
            page = context.new_page()
            page.set_default_timeout(PAGE_TIMEOUT_MS)
            page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
            page.on("pageerror", lambda error: problems.append(str(error)))
            page.on("request", lambda request: graphql_posts.append(request)
                    if request.method == "POST" and request.url.endswith("/graphql") else None)

            page.goto(f"{demo_gateway.url}/graphql")
            page.wait_for_selector(".graphiql-query-editor .CodeMirror")
            result = page.locator(".result-window .CodeMirror")

            def run(query: str) -> dict[str, object]:
                """Type ``query`` into the editor, press ▶ and read the result pane."""
                page.locator(".graphiql-query-editor .CodeMirror").evaluate(
                    "(editor, query) => editor.CodeMirror.setValue(query)", query)
                before = result.evaluate("editor => editor.CodeMirror.getValue()")
                with page.expect_response(lambda r: r.request.method == "POST" and r.url.endswith("/graphql")
                                          and query in (r.request.post_data or "")):
                    page.click(".graphiql-execute-button")
                page.wait_for_function("([editor, before]) => editor.CodeMirror.getValue() !== before",
                                       arg=[result.element_handle(), before])
                return dict(json.loads(result.evaluate("editor => editor.CodeMirror.getValue()")))

            departments = run("{ departments { id } }")
            assert {d["id"] for d in departments["data"]["departments"]} >= {"water", "citymgmt"}  # type: ignore[index]

            anonymous = run(SIGNED_IN_QUERY)  # demo mode: anonymous callers see public data only
            assert anonymous["errors"][0]["extensions"]["code"] == "FORBIDDEN"  # type: ignore[index]

            page.get_by_role("button", name="Headers").click()  # typed into GraphiQL's Headers tab
            page.locator(".graphiql-editor-tool .graphiql-editor:not(.hidden) > .CodeMirror").evaluate(
                "(editor, headers) => editor.CodeMirror.setValue(headers)",
                json.dumps({"Authorization": token}))
            signed_in = run(SIGNED_IN_QUERY)
            assert "errors" not in signed_in
            assert isinstance(signed_in["data"]["events"]["totalCount"], int)  # type: ignore[index]
            assert graphql_posts[-1].headers.get("authorization") == token
        finally:
            browser.close()
    assert left_the_machine == []
    assert problems == []  # no script error, no Content-Security-Policy violation


def test_the_page_loads_its_assets_from_the_gateway(demo_gateway: ServedGateway) -> None:
    page = demo_gateway.get("/graphql", headers={"accept": "text/html"})
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "script-src 'self';" in page.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    urls = _asset_urls(page.text)
    assert len(urls) == 5 and all(url.startswith("graphiql/static/") for url in urls)
    for url in urls:
        asset = demo_gateway.get(f"/{url}")
        assert asset.status_code == 200, url
        assert asset.headers["content-type"].split(";")[0] in ("text/javascript", "text/css")
        assert asset.headers["x-content-type-options"] == "nosniff"
    graphiql_js = demo_gateway.get(f"/graphiql/static/graphiql@{graphiql.GRAPHIQL_VERSION}/graphiql.min.js")
    assert "immutable" in graphiql_js.headers["cache-control"] and len(graphiql_js.content) > 100_000
    for name in ("graphiql/package.json", "graphiql@3.9.0/../react/package.json", "react@18.3.1/index.js",
                 "%2e%2e/%2e%2e/package.json", "graphiql@0.0.1/graphiql.min.js"):
        refused = demo_gateway.get(f"/graphiql/static/{name}")
        assert refused.status_code == 404 and refused.json()["errors"][0]["extensions"]["code"] == "NOT_FOUND"


@pytest.fixture
async def production() -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(Settings(anonymous="public", trust_demo_issuer=True), connectors=ConnectorSet([]))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway") as client:
        yield client


async def test_production_shows_graphiql_and_its_assets_to_platform_admins_only(
        production: httpx.AsyncClient) -> None:
    _require_assets()
    asset = f"/graphiql/static/graphiql@{graphiql.GRAPHIQL_VERSION}/graphiql.min.js"
    html = {"accept": "text/html"}
    for headers in ({}, bearer(*NATIONAL_VIEWER), {"authorization": "Bearer not-a-token"}):
        assert (await production.get(asset, headers=headers)).status_code == 404
        assert (await production.get("/graphiql/static/yiwang-graphiql.js", headers=headers)).status_code == 404
    assert (await production.get("/graphql", headers={**html, **bearer(*NATIONAL_VIEWER)})).status_code == 404
    admin = bearer(*ADMIN)
    page = await production.get("/graphql", headers={**html, **admin})
    assert page.status_code == 200 and "graphiql/static/" in page.text
    assert (await production.get(asset, headers=admin)).status_code == 200


@pytest.fixture
def no_installed_assets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(graphiql, "ASSET_DIR", tmp_path / "node_modules")
    graphiql.graphiql_page.cache_clear()
    yield
    graphiql.graphiql_page.cache_clear()


async def test_without_installed_assets_the_page_falls_back_to_the_cdn_with_a_warning(
        no_installed_assets: None, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="yiwang.graphiql"):
        app = create_app(Settings(mode="demo"), connectors=ConnectorSet([]))
    assert any("make graphiql-assets" in record.getMessage() for record in caplog.records)  # at start-up
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway") as client:
        page = await client.get("/graphql", headers={"accept": "text/html"})
        assert page.status_code == 200
        remote = [url for url in _asset_urls(page.text) if url.startswith(graphiql.CDN)]
        assert len(remote) == 4 and len(_asset_urls(page.text)) == 5  # all of GraphiQL's, not our own script
        tags = re.findall(r"<(?:script|link) [^>]*>", page.text)
        assert all('integrity="sha384-' in tag and 'crossorigin="anonymous"' in tag
                   for tag in tags if graphiql.CDN in tag)
        assert f"script-src 'self' {graphiql.CDN};" in page.headers["content-security-policy"]
        missing = await client.get(f"/graphiql/static/graphiql@{graphiql.GRAPHIQL_VERSION}/graphiql.min.js")
        assert missing.status_code == 404


def test_the_cdn_fallback_pins_the_installed_versions_and_their_bytes() -> None:
    """The CDN serves the npm tarballs' files: the fallback's versions are the lock file's, and its integrity
    hashes are those of the installed files."""
    _require_assets()
    locked = json.loads(LOCK_FILE.read_text(encoding="utf-8"))["packages"]
    for asset in graphiql.ASSETS.values():
        assert locked[f"node_modules/{asset.package}"]["version"] == asset.version, asset.package
        content = (graphiql.ASSET_DIR / asset.package / asset.file).read_bytes()
        digest = base64.b64encode(hashlib.sha384(content).digest()).decode()
        assert asset.integrity == f"sha384-{digest}", asset.name
