"""The browser pages Loket serves itself: the adviser console (/console/), the admin console
(/admin/), the privacy-request page (/privacy/request) and their scripts under /assets/.

All are built by `make widget` into ``settings.widget_dir`` (widget/build.mjs). They talk only to
this origin, so a strict Content-Security-Policy costs nothing and stops injected scripts.
"""

from __future__ import annotations

import asyncio
import re

from aiohttp import web
from aiohttp.typedefs import Handler

from api.middlewares import error_response
from loket.settings import Settings

# Inline styles are allowed (the pages keep theirs in the shell); scripts come from /assets only.
PAGE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; media-src 'self' blob:; connect-src 'self' ws: wss:; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
PAGES = {"/console/": "console.html", "/admin/": "admin.html", "/privacy/request": "privacy.html"}
ASSET_NAME = re.compile(r"^[a-z]+\.js$")


def add_page_routes(app: web.Application, settings: Settings) -> None:
    """Route every page, its short form without the trailing slash, and /assets/{name}."""
    for path, page in PAGES.items():
        app.router.add_get(path, _page_handler(settings, page))
        if path.endswith("/"):
            app.router.add_get(path.rstrip("/"), _redirect_to(path))
    app.router.add_get("/assets/{name}", _asset_handler(settings))


def _not_built(name: str) -> web.Response:
    return error_response(
        404, "page_not_built", f"{name} is not built: run `make widget` (npm ci && npm run build in widget/)"
    )


def _page_handler(settings: Settings, page: str) -> Handler:
    async def handler(_request: web.Request) -> web.StreamResponse:
        path = settings.widget_dir / "pages" / page
        if not await asyncio.to_thread(path.is_file):
            return _not_built(page)
        return web.FileResponse(
            path,
            headers={
                "Content-Type": "text/html; charset=utf-8",
                "Cache-Control": "no-cache",
                "Content-Security-Policy": PAGE_CSP,
                "X-Content-Type-Options": "nosniff",
                "Referrer-Policy": "no-referrer",
            },
        )

    return handler


def _redirect_to(path: str) -> Handler:
    async def handler(_request: web.Request) -> web.StreamResponse:
        raise web.HTTPMovedPermanently(path)

    return handler


def _asset_handler(settings: Settings) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        path = settings.widget_dir / "apps" / name
        if not ASSET_NAME.match(name) or not await asyncio.to_thread(path.is_file):
            return error_response(404, "not_found", f"no asset {name!r}")
        # FileResponse sends the .gz sibling written by the build to browsers that accept gzip.
        return web.FileResponse(
            path,
            headers={
                "Content-Type": "text/javascript; charset=utf-8",
                "Cache-Control": "no-cache",
                "X-Content-Type-Options": "nosniff",
            },
        )

    return handler
