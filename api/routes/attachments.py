"""Photos in a call over REST: the bytes are too big for a socket.io event (64 KiB).

- ``POST /widget/attachments`` (visitor token; the widget, cross-origin): a photo into the
  token's active call;
- ``GET /widget/attachments/{attachment_id}`` (visitor token): an image of the token's own call;
- ``POST /calls/{call_id}/attachments`` (the call's adviser): a snapshot of the visitor's video;
- ``GET /calls/{call_id}/attachments`` (staff): the list, without bytes;
- ``GET /calls/{call_id}/attachments/{attachment_id}[?download=true]`` (staff): the image, each
  read audited (``attachment.viewed`` / ``attachment.downloaded``).

The body is the image itself (``Content-Type: image/jpeg|png|webp``), read here with its own cap
(the app's JSON limit is 64 KiB); what the sanitiser refuses is a 4xx with a code.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from accounts import queries
from accounts.models import Role
from accounts.tokens import VisitorClaims
from api.api import Api
from api.keys import SESSIONS, TOKENS
from api.middlewares import VISITOR_ID
from api.routes._common import acting, path_id, widget_cors, widget_preflight
from db.errors import Forbidden, PayloadTooLarge, Unauthenticated
from signaling.attachments import Attachments, Opened, check_declared
from signaling.live import adviser_session, visitor_session

routes = Api()
ATTACHMENTS: web.AppKey[Attachments] = web.AppKey("attachments", Attachments)

WIDGET_PATH = "/widget/attachments"
WIDGET_ITEM_PATH = "/widget/attachments/{attachment_id}"
# The widget's cross-origin paths; each gets the CORS preflight below.
CORS_PATHS = (WIDGET_PATH, WIDGET_ITEM_PATH)
CALL_PARTIES = frozenset({Role.ADVISER, Role.SUPERVISOR, Role.ADMIN})
READERS = frozenset({Role.ADVISER, Role.SUPERVISOR, Role.ADMIN, Role.DPO})


async def _image_body(request: web.Request) -> tuple[bytes, str]:
    """The raw body, refused as soon as it is over the limit (the app's 64 KiB cap is for JSON)."""
    limits = request.app[ATTACHMENTS].limits
    content_type = check_declared(request.headers.get("Content-Type", ""), request.content_length, limits)
    data = bytearray()
    while chunk := await request.content.read(1 << 16):
        data += chunk
        if len(data) > limits.max_bytes:
            raise PayloadTooLarge(f"photos are limited to {limits.max_bytes >> 20} MiB", code="too_large")
    return bytes(data), content_type


async def _visitor(request: web.Request) -> VisitorClaims:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("send 'Authorization: Bearer <visitor token>'")
    claims = request.app[TOKENS].verify_visitor(token.strip())
    request[VISITOR_ID] = claims.visitor_id
    origin = request.headers.get("Origin")
    if origin is not None:
        async with request.app[SESSIONS]() as db:
            # The token was issued to one of these origins; a page elsewhere gets nothing to read.
            if origin not in await queries.org_widget_origins(db, claims.org_id):
                raise Forbidden("this website may not use the widget", code="origin_not_allowed")
    return claims


def _image(opened: Opened, *, download: bool, origin: str | None = None) -> web.Response:
    headers = {
        **widget_cors(origin),
        "Cache-Control": "private, no-store",
        "X-Content-Type-Options": "nosniff",
        "Content-Disposition": ("attachment" if download else "inline")
        + f'; filename="{opened.description["kind"]}-{opened.description["id"][:8]}.jpg"',
    }
    return web.Response(body=opened.data, content_type=opened.content_type, headers=headers)


@routes.route(
    "POST",
    WIDGET_PATH,
    summary="Send a photo into the visitor token's active call (body: the image, "
    "Content-Type image/jpeg, image/png or image/webp; metadata is stripped on the server)",
    tag="widget",
    status=201,
)
async def send_photo(request: web.Request) -> web.Response:
    visitor = await _visitor(request)
    data, content_type = await _image_body(request)
    added = await request.app[ATTACHMENTS].add(
        visitor_session(visitor.visitor_id), visitor.org_id, data, content_type
    )
    return web.json_response(added, status=201, headers=widget_cors(request.headers.get("Origin")))


@routes.route(
    "GET",
    WIDGET_ITEM_PATH,
    summary="An image of the visitor token's own call",
    tag="widget",
)
async def visitor_image(request: web.Request) -> web.Response:
    visitor = await _visitor(request)
    opened = await request.app[ATTACHMENTS].open_for_visitor(
        visitor.visitor_id, visitor.org_id, path_id(request, "attachment_id")
    )
    return _image(opened, download=False, origin=request.headers.get("Origin"))


@routes.route(
    "POST",
    "/calls/{call_id}/attachments",
    summary="Add a snapshot of the visitor's video to your active call (body: the image)",
    tag="calls",
    roles=CALL_PARTIES,
    status=201,
)
async def take_snapshot(request: web.Request) -> web.Response:
    claims = acting(request)
    call_id = path_id(request, "call_id")
    data, content_type = await _image_body(request)
    added = await request.app[ATTACHMENTS].add(
        adviser_session(str(claims.user_id)), claims.org_id, data, content_type, call_id=call_id
    )
    return web.json_response(added, status=201)


@routes.route(
    "GET",
    "/calls/{call_id}/attachments",
    summary="The photos of a call, without their bytes (not audited: no image is shown)",
    tag="calls",
    roles=READERS,
)
async def list_attachments(request: web.Request) -> web.Response:
    claims = acting(request)
    listed: list[dict[str, Any]] = await request.app[ATTACHMENTS].list_for_staff(
        claims.org_id, path_id(request, "call_id")
    )
    return web.json_response(listed)


@routes.route(
    "GET",
    "/calls/{call_id}/attachments/{attachment_id}",
    summary="One photo of a call (?download=true to save it); every read is audited",
    tag="calls",
    roles=READERS,
)
async def staff_image(request: web.Request) -> web.Response:
    claims = acting(request)
    download = request.query.get("download", "").lower() in ("1", "true")
    opened = await request.app[ATTACHMENTS].open_for_staff(
        claims.org_id,
        claims.user_id,
        path_id(request, "call_id"),
        path_id(request, "attachment_id"),
        download=download,
    )
    return _image(opened, download=download)


async def preflight(request: web.Request) -> web.Response:
    """CORS preflight for the widget's photo requests."""
    return await widget_preflight(request, methods="GET, POST")


def install_preflights(app: web.Application) -> None:
    for path in CORS_PATHS:
        app.router.add_route("OPTIONS", "/api/v1" + path, preflight)
