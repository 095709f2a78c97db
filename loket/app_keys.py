"""The application keys the shell itself stores on the aiohttp app (the API's own are in
``api.keys``)."""

from __future__ import annotations

import socketio
from aiohttp import web

from api.api import Api
from loket.metrics_server import MetricsServer
from loket.settings import Settings
from signaling.metrics import Metrics

SETTINGS: web.AppKey[Settings] = web.AppKey("settings", Settings)
METRICS: web.AppKey[Metrics] = web.AppKey("metrics", Metrics)
METRICS_SERVER: web.AppKey[MetricsServer] = web.AppKey("metrics_server", MetricsServer)
SIO: web.AppKey[socketio.AsyncServer] = web.AppKey("sio")
API: web.AppKey[Api] = web.AppKey("api", Api)
