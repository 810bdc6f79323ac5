"""The docs page at /docs: Swagger UI over /openapi.json, from swagger-ui-dist vendored by the build.

`make docs-ui` (a step of `make run` and `make test`) installs npm's swagger-ui-dist with `npm ci` in
tools/web and copies the files the page needs into `docs_ui/` beside this module, which the package
serves; nothing of it is committed and nothing is fetched from a CDN. The page itself is the small
HTML below: Swagger UI reads the document, lists every operation, and its "Try it out" calls this
gateway with the token given under "Authorize".
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import grpc
from aiohttp import web

from ..errors import GatewayError
from .openapi import DOCUMENT_PATH

DOCS_PATH = "/docs"
# What the page loads, and swagger-ui-dist's licence files, which travel with its code.
ASSETS = (
    "swagger-ui.css",
    "swagger-ui-bundle.js",
    "favicon-32x32.png",
    "LICENSE",
    "NOTICE",
    "swagger-ui-bundle.js.LICENSE.txt",
)
CONTENT_TYPES = {
    ".css": "text/css",
    ".js": "text/javascript",
    ".png": "image/png",
    ".txt": "text/plain",
    "": "text/plain",
}

PAGE = f"""<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Encord Gateway API</title>
  <link rel="icon" href="{DOCS_PATH}/favicon-32x32.png">
  <link rel="stylesheet" href="{DOCS_PATH}/swagger-ui.css">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="{DOCS_PATH}/swagger-ui-bundle.js"></script>
  <script src="{DOCS_PATH}/init.js"></script>
</body>
</html>
"""

# A separate script rather than an inline one, so a strict Content-Security-Policy can forbid inline code.
INIT = f"""window.ui = SwaggerUIBundle({{
  url: "{DOCUMENT_PATH}",
  dom_id: "#swagger-ui",
  deepLinking: true,
  displayOperationId: true,
  // Hundreds of operations: tags start closed, so the page is quick to open; a click opens one.
  docExpansion: "none",
  filter: true,
  persistAuthorization: false,
}});
"""


def assets_dir() -> Path:
    """Where `make docs-ui` puts the vendored Swagger UI files."""
    return Path(str(resources.files("encord_gateway.edge"))) / "docs_ui"


def install(app: web.Application) -> None:
    """Serve the page and its assets; without the assets, /docs says how to install them."""
    directory = assets_dir()

    async def page(request: web.Request) -> web.StreamResponse:
        if not (directory / "swagger-ui-bundle.js").is_file():
            raise GatewayError(
                grpc.StatusCode.UNAVAILABLE,
                f"the docs page's Swagger UI is not installed in {directory}: run `make docs-ui`",
                reason="DOCS_NOT_INSTALLED",
            )
        return web.Response(text=PAGE, content_type="text/html")

    async def init(request: web.Request) -> web.StreamResponse:
        return web.Response(text=INIT, content_type="text/javascript")

    def asset(name: str) -> web.RouteDef:
        async def serve(request: web.Request) -> web.StreamResponse:
            path = directory / name
            if not path.is_file():
                raise web.HTTPNotFound()
            return web.Response(
                body=path.read_bytes(),
                content_type=CONTENT_TYPES[path.suffix],
                headers={"Cache-Control": "public, max-age=3600"},
            )

        return web.get(f"{DOCS_PATH}/{name}", serve, name=f"docs-asset-{name.replace('-', '_')}")

    app.add_routes(
        [
            web.get(DOCS_PATH, page, name="docs"),
            web.get(f"{DOCS_PATH}/", page, name="docs-slash"),
            web.get(f"{DOCS_PATH}/init.js", init, name="docs-init"),
            *(asset(name) for name in ASSETS),
        ]
    )
