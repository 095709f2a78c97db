"""The widget's REST calls: trade a public widget key for a visitor token, and, after an answered
call, rate it with that token (``PUT /widget/rating``; the socket is closed by then)."""

from __future__ import annotations

from aiohttp import web

from accounts import hours, queries, ratelimit
from accounts.context import checked_context
from accounts.models import RecordingPolicy
from accounts.tokens import VisitorClaims
from api.api import Api, body
from api.keys import CONFIG, SESSIONS, STORE, TOKENS
from api.middlewares import VISITOR_ID, client_ip
from api.routes._common import ice_servers_for, widget_cors, widget_preflight
from api.schemas import (
    ConsentTextOut,
    QueueSummary,
    RatingOut,
    RatingRequest,
    WidgetSession,
    WidgetSessionRequest,
)
from db import utcnow
from db.errors import Forbidden, InvalidInput, Unauthenticated
from signaling import consent_texts
from signaling.rating import rate_call
from signaling.store import keys

routes = Api()

PATH = "/widget/sessions"
RATING_PATH = "/widget/rating"
# The widget's cross-origin paths; each gets the CORS preflight below.
CORS_PATHS = (PATH, RATING_PATH)


@routes.route(
    "POST",
    PATH,
    summary="Start an anonymous visitor session (Origin must match the key)",
    tag="widget",
    body=WidgetSessionRequest,
    response=WidgetSession,
)
async def create_widget_session(request: web.Request) -> web.Response:
    origin = request.headers.get("Origin")
    await ratelimit.hit(
        request.app[STORE],
        keys.widget_sessions_rate(client_ip(request)),
        request.app[CONFIG].widget_sessions_per_ip,
    )
    if not origin:
        raise Forbidden(
            "this endpoint is for the widget in a browser (no Origin header)", code="origin_required"
        )
    data = body(request, WidgetSessionRequest)
    async with request.app[SESSIONS]() as db:
        key = await queries.widget_key(db, data.widget_key)
        if key is None:
            raise Forbidden("unknown widget key", code="widget_key_invalid")
        if origin not in key.origins:
            raise Forbidden("this widget key is not allowed on this website", code="origin_not_allowed")
        queues = await queries.org_queues(db, key.org_id)
        texts = await consent_texts.shown(db, key.org_id)
    try:
        context = checked_context(key.context_keys or [], data.context)
    except InvalidInput as exc:
        # Readable by the page (the origin is allowed), so the widget can say why and call without it.
        return web.json_response({"error": exc.to_dict()}, status=exc.status, headers=widget_cors(origin))
    token, claims = request.app[TOKENS].issue_visitor(key.org_id, context)
    request[VISITOR_ID] = claims.visitor_id
    now = utcnow()
    session = WidgetSession(
        visitor_token=token,
        expires_in=request.app[TOKENS].visitor_seconds,
        ice_servers=ice_servers_for(request.app[CONFIG], lifetime=request.app[TOKENS].visitor_seconds),
        queues=[
            QueueSummary(
                id=queue.id,
                name=queue.name,
                languages=list(queue.languages),
                open=hours.is_open(queue.opening_hours, queue.timezone, now, queue.closing_days),
                opens_at=hours.next_opening(queue.opening_hours, queue.timezone, now, queue.closing_days),
                recording_policy=queue.recording_policy,
                timezone=queue.timezone,
            )
            for queue in queues
        ],
    )
    if any(queue.recording_policy == RecordingPolicy.ASK for queue in queues):
        session = session.model_copy(
            update={
                "consent_texts": [
                    ConsentTextOut(
                        id=text.id,
                        language=text.language,
                        text=text.text,
                        version=text.version,
                        sha256=text.sha256,
                    )
                    for text in texts
                ]
            }
        )
    return web.json_response(session.model_dump(mode="json"), headers=widget_cors(origin))


def _visitor(request: web.Request) -> VisitorClaims:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("send 'Authorization: Bearer <visitor token>'")
    claims = request.app[TOKENS].verify_visitor(token.strip())
    request[VISITOR_ID] = claims.visitor_id
    return claims


@routes.route(
    "PUT",
    RATING_PATH,
    summary="Rate the visitor token's own call, 1-5, once it was answered and has ended "
    "(Authorization: Bearer <visitor token>; may be changed while the token is valid)",
    tag="widget",
    body=RatingRequest,
    response=RatingOut,
)
async def rate_my_call(request: web.Request) -> web.Response:
    visitor = _visitor(request)
    data = body(request, RatingRequest)
    await ratelimit.hit(
        request.app[STORE], keys.rating_rate(visitor.visitor_id), request.app[CONFIG].ratings_per_session
    )
    origin = request.headers.get("Origin")
    async with request.app[SESSIONS]() as db:
        # The token was issued to one of these origins; a page elsewhere gets no answer to read.
        if origin is not None and origin not in await queries.org_widget_origins(db, visitor.org_id):
            raise Forbidden("this website may not use the widget", code="origin_not_allowed")
        call = await rate_call(db, visitor, data.rating)
        await db.commit()
    answer = RatingOut(call_id=call.id, rating=data.rating)
    return web.json_response(answer.model_dump(mode="json"), headers=widget_cors(origin))


async def preflight(request: web.Request) -> web.Response:
    """CORS preflight for the widget's requests (a session, a rating)."""
    return await widget_preflight(request, methods="POST, PUT")
