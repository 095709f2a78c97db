"""What one node serves over HTTP: the REST API's route modules, its CORS preflights and OpenAPI
document, the health and readiness probes, the widget script and the staff pages."""

from __future__ import annotations

import asyncio

from aiohttp import web

import loket
from api.api import Api
from api.middlewares import error_response
from api.routes import api_keys as api_key_routes
from api.routes import attachments as attachment_routes
from api.routes import audit_events as audit_event_routes
from api.routes import auth as auth_routes
from api.routes import calls as call_routes
from api.routes import consent_texts as consent_text_routes
from api.routes import locations as location_routes
from api.routes import organisation as organisation_routes
from api.routes import privacy as privacy_routes
from api.routes import queues as queue_routes
from api.routes import recordings as recording_routes
from api.routes import retention_rules as retention_rule_routes
from api.routes import statistics as statistics_routes
from api.routes import transcripts as transcript_routes
from api.routes import two_factor as two_factor_routes
from api.routes import users as user_routes
from api.routes import wallboard as wallboard_routes
from api.routes import webhooks as webhook_routes
from api.routes import widget as widget_routes
from api.routes import widget_keys as widget_key_routes
from loket.app_keys import API, SETTINGS
from loket.pages import add_page_routes
from loket.readiness import readyz
from loket.settings import Settings

# The embeddable widget, built by `cd widget && npm ci && npm run build` (`make widget`).
# Short: a new release reaches every customer's website within minutes; ETag revalidates.
WIDGET_CACHE_CONTROL = "public, max-age=300"

# Every route module's table, in the order the API lists them.
ROUTE_TABLES = (
    auth_routes.routes,
    widget_routes.routes,
    attachment_routes.routes,
    queue_routes.routes,
    user_routes.routes,
    widget_key_routes.routes,
    call_routes.routes,
    audit_event_routes.routes,
    retention_rule_routes.routes,
    webhook_routes.routes,
    privacy_routes.routes,
    recording_routes.routes,
    statistics_routes.routes,
    wallboard_routes.routes,
    transcript_routes.routes,
    organisation_routes.routes,
    consent_text_routes.routes,
    location_routes.routes,
    two_factor_routes.routes,
    api_key_routes.routes,
)


def mount_routes(app: web.Application, settings: Settings) -> None:
    """Add every route of the node to ``app`` (its services must be in ``app`` by the time a
    request comes, not now)."""
    api = Api()
    for table in ROUTE_TABLES:
        api.endpoints.extend(table.endpoints)
    api.install(app)
    app[API] = api
    for widget_path in widget_routes.CORS_PATHS:
        app.router.add_route("OPTIONS", "/api/v1" + widget_path, widget_routes.preflight)
    attachment_routes.install_preflights(app)
    app.router.add_get("/api/v1/openapi.json", openapi)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    # No /metrics here: it is served on LOKET_METRICS_PORT only (loket.metrics_server says why).
    app.router.add_get("/widget.js", widget_script)
    add_page_routes(app, settings)


async def openapi(request: web.Request) -> web.Response:
    """This OpenAPI 3.1 document."""
    document = request.app[API].openapi(
        title="Loket API", version=loket.__version__, router=request.app.router
    )
    return web.json_response(document)


async def widget_script(request: web.Request) -> web.StreamResponse:
    """The embeddable widget: a public script for any website (its key is checked later)."""
    path = request.app[SETTINGS].widget_dir / "widget.js"
    if not await asyncio.to_thread(path.is_file):
        return error_response(
            404,
            "widget_not_built",
            "widget.js is not built: run `make widget` (npm ci && npm run build in widget/)",
        )
    # FileResponse sends widget.js.gz, written by the build, to browsers that accept gzip.
    return web.FileResponse(
        path,
        headers={
            "Content-Type": "text/javascript; charset=utf-8",
            "Cache-Control": WIDGET_CACHE_CONTROL,
            "Access-Control-Allow-Origin": "*",
            "X-Content-Type-Options": "nosniff",
        },
    )


async def healthz(_request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})
