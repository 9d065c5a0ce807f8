"""GraphiQL, served by the gateway itself: a city intranet has no CDN.

The page (``static/graphiql.html`` + ``static/graphiql.js``, our own) loads GraphiQL's and React's standalone
browser builds from ``/graphiql/static/…``. Those files are not committed: ``make graphiql-assets`` installs them
from the npm registry (``npm ci`` in ``web/graphiql`` from its committed lock file). When they are not installed (a
wheel without the source tree, no npm), the page loads the same pinned versions from ``CDN`` with subresource
integrity, and a warning says so. Who may see GraphiQL is ``GraphQLView.render_graphql_ide``'s decision; the assets
follow the same rule (:func:`may_use_graphiql`).
"""

from __future__ import annotations

import html
import json
import logging
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Route

from gateway.auth.principal import Principal, Role
from gateway.exceptions import AuthenticationError

logger = logging.getLogger("yiwang.graphiql")

ASSET_DIR = Path(__file__).resolve().parent.parent / "web" / "graphiql" / "node_modules"
STATIC_PATH = "/graphiql/static"
CDN = "https://unpkg.com"
OWN_SCRIPT = "yiwang-graphiql.js"
ASSET_CACHE_CONTROL = "public, max-age=31536000, immutable"  # the URL names the package version
OWN_CACHE_CONTROL = "no-cache"  # a few kB that change with the gateway, not with a version in their URL


@dataclass(frozen=True)
class Asset:
    """One file of an npm package, pinned to the version in ``web/graphiql/package-lock.json``."""

    package: str
    version: str
    file: str
    integrity: str  # SRI of this file in that version's npm tarball, which is what the CDN serves

    @property
    def name(self) -> str:
        """Its path under ``STATIC_PATH``: versioned, so it can be cached for good."""
        return f"{self.package}@{self.version}/{self.file}"

    @property
    def cdn_url(self) -> str:
        return f"{CDN}/{self.name}"


REACT_VERSION = "18.3.1"
GRAPHIQL_VERSION = "3.9.0"  # the last GraphiQL with a standalone (UMD) build; 4.x needs a bundler or esm.sh
SCRIPTS = (
    Asset("react", REACT_VERSION, "umd/react.production.min.js",
          "sha384-DGyLxAyjq0f9SPpVevD6IgztCFlnMF6oW/XQGmfe+IsZ8TqEiDrcHkMLKI6fiB/Z"),
    Asset("react-dom", REACT_VERSION, "umd/react-dom.production.min.js",
          "sha384-gTGxhz21lVGYNMcdJOyq01Edg0jhn/c22nsx0kyqP0TxaV5WVdsSH1fSDUf5YJj1"),
    Asset("graphiql", GRAPHIQL_VERSION, "graphiql.min.js",
          "sha384-8NGfVj4CVlqHajlZj+bPJT4thxPMHMJYn7DWK2CvtopLd02E7qsPHazniBYvVjOO"),
)
STYLES = (
    Asset("graphiql", GRAPHIQL_VERSION, "graphiql.min.css",
          "sha384-QMux00XgRtwRLSYIY3kw2rj1ovk5AuuliAchk+HSQbqdbGFnz9GYuqIlOqxhwCE2"),
)
ASSETS = {asset.name: asset for asset in (*SCRIPTS, *STYLES)}
MEDIA_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}


class GraphiQLPage:
    """The page, with its assets from ``asset_dir`` when all of them are installed there, else from the CDN."""

    def __init__(self, asset_dir: Path | None = None) -> None:
        self.asset_dir = asset_dir = ASSET_DIR if asset_dir is None else asset_dir
        missing = [asset for asset in ASSETS.values() if not self._installed(asset)]
        self.local = not missing
        if missing:
            logger.warning(
                "GraphiQL's assets are not installed (%s missing or another version in %s): GraphiQL loads them "
                "from %s, which a network without internet access cannot reach; run `make graphiql-assets` "
                "(npm ci in web/graphiql)", missing[0].name, asset_dir, CDN)
        self.html = self._render()
        remote = "" if self.local else f" {CDN}"
        self.content_security_policy = (
            f"default-src 'none'; script-src 'self'{remote}; style-src 'self' 'unsafe-inline'{remote}; "
            "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; "
            "frame-ancestors 'none'")

    def response(self) -> Response:
        return HTMLResponse(self.html, headers={
            "cache-control": "no-store", "content-security-policy": self.content_security_policy,
            "x-content-type-options": "nosniff", "referrer-policy": "no-referrer"})

    def asset_path(self, name: str) -> Path | None:
        """The installed file of the asset called ``name``; None for any other name (no path from the URL is
        ever used to open a file) or when the assets come from the CDN."""
        asset = ASSETS.get(name)
        return self.asset_dir / asset.package / asset.file if asset is not None and self.local else None

    def _installed(self, asset: Asset) -> bool:
        package = self.asset_dir / asset.package
        try:
            version = json.loads((package / "package.json").read_text(encoding="utf-8")).get("version")
        except (OSError, ValueError):
            return False
        return version == asset.version and (package / asset.file).is_file()

    def _render(self) -> str:
        def url(asset: Asset) -> str:
            # Relative to the page (…/graphql), so a path prefix added by a reverse proxy is kept.
            return f"graphiql/static/{asset.name}" if self.local else asset.cdn_url

        def remote(asset: Asset) -> str:
            return "" if self.local else f' integrity="{asset.integrity}" crossorigin="anonymous"'

        styles = "\n".join(f'    <link rel="stylesheet" href="{html.escape(url(a))}"{remote(a)}>' for a in STYLES)
        scripts = "\n".join(f'    <script src="{html.escape(url(a))}"{remote(a)}></script>' for a in SCRIPTS)
        template = resources.files("gateway").joinpath("static/graphiql.html").read_text(encoding="utf-8")
        return (template.replace("<!-- styles -->", styles.strip()).replace("<!-- scripts -->", scripts.strip())
                .replace("<!-- own script -->", f'<script src="graphiql/static/{OWN_SCRIPT}"></script>'))


@cache
def graphiql_page() -> GraphiQLPage:
    return GraphiQLPage()


def may_use_graphiql(demo: bool, principal: Principal | None) -> bool:
    """GraphiQL is for everyone in the demo, and in production for a platform_admin only."""
    return demo or (principal is not None and principal.has_role(Role.PLATFORM_ADMIN))


def graphiql_routes() -> list[BaseRoute]:
    """``/graphiql/static/…``: GraphiQL's assets and our page script, for whoever may use GraphiQL."""
    page = graphiql_page()  # at start-up, so that a missing install is logged then
    own_script = resources.files("gateway").joinpath("static/graphiql.js").read_bytes()

    async def static(request: Request) -> Response:
        if not await _may_use(request):
            return _not_found()
        name: str = request.path_params["name"]
        if name == OWN_SCRIPT:
            return Response(own_script, media_type=MEDIA_TYPES[".js"], headers={
                "cache-control": OWN_CACHE_CONTROL, "x-content-type-options": "nosniff"})
        path = page.asset_path(name)
        if path is None:
            return _not_found()
        return FileResponse(path, media_type=MEDIA_TYPES[path.suffix], headers={
            "cache-control": ASSET_CACHE_CONTROL, "x-content-type-options": "nosniff"})

    return [Route(f"{STATIC_PATH}/{{name:path}}", static, methods=["GET"])]


async def _may_use(request: Request) -> bool:
    demo: bool = request.app.state.settings.demo
    if demo:
        return True
    try:
        principal = await request.app.state.authenticator.authenticate(request.headers.get("authorization"))
    except AuthenticationError:
        return False
    return may_use_graphiql(demo, principal)


def _not_found() -> Response:
    return JSONResponse({"errors": [{"message": "Not Found", "extensions": {"code": "NOT_FOUND"}}]},
                        status_code=404)
