"""``NodeServer``: a media node's internal HTTP server, where signalling drives the node's calls.

It listens on the internal network only (``NodeConfig.bind_host``) and answers nothing that is
not signed with the cluster's secret (``media.node.auth``): an unsigned, wrongly signed, stale
or replayed request gets 401 before anything else is looked at, whatever its path. A signed
request for a call is then checked against the registry: a call placed on no node is 404
``unknown_call``, one placed on another node 421 ``call_on_other_node``, a closed one 409
``rtc_leg_closed``. Routes and bodies: ``media.node.wire``. Errors are
``{"error": {"code", "message"}}``; an unexpected one is logged and answered 500
``internal_error``, never with a stack trace.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import cast

from aiohttp import web
from pydantic import BaseModel, ValidationError

from db.errors import LoketError
from media.errors import CallOnOtherNode, LegClosedError, MediaError, UnknownCall
from media.node import keys, wire
from media.node.auth import RequestVerifier
from media.node.config import ClusterConfig, NodeConfig, valid_id
from media.node.registry import Registry
from media.placement import InProcessPlacement
from media.spool import check_spool_key
from media.types import Party

logger = logging.getLogger(__name__)

_PARTIES = ("visitor", "adviser")
_SHUTDOWN_S = 5.0
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class _BadInput(MediaError):
    code = "invalid_input"
    status = 400


class NodeServer:
    """Serves one node's calls (an ``InProcessPlacement``) on the internal channel."""

    def __init__(
        self,
        *,
        config: NodeConfig,
        cluster: ClusterConfig,
        media: InProcessPlacement,
        registry: Registry,
        status: Callable[[], wire.NodeStatus],
    ) -> None:
        self._config = config
        self._media = media
        self._registry = registry
        self._status = status
        self._verifier = RequestVerifier(cluster.secret, window_s=cluster.signature_window_s)
        self._runner: web.AppRunner | None = None
        self._url: str | None = None

    @property
    def url(self) -> str:
        """Where other processes reach this server (known once started)."""
        if self._url is None:
            raise RuntimeError("the node server has not started")
        return self._url

    async def start(self) -> None:
        app = web.Application(middlewares=[self._guard], client_max_size=self._config.max_body_bytes)
        prefix = wire.PREFIX
        app.router.add_get(f"{prefix}/node", self._node)
        app.router.add_post(f"{prefix}/calls/{{call_id}}/legs/{{party}}/answer", self._answer)
        app.router.add_post(f"{prefix}/calls/{{call_id}}/legs/{{party}}/candidates", self._candidate)
        app.router.add_put(f"{prefix}/calls/{{call_id}}/recording", self._start_recording)
        app.router.add_delete(f"{prefix}/calls/{{call_id}}/recording", self._stop_recording)
        app.router.add_delete(f"{prefix}/calls/{{call_id}}/legs/{{party}}", self._release_leg)
        app.router.add_delete(f"{prefix}/calls/{{call_id}}", self._close)
        # A stopping node waits a little for requests in flight, not aiohttp's default minute.
        runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=_SHUTDOWN_S)
        await runner.setup()
        site = web.TCPSite(runner, self._config.bind_host, self._config.bind_port)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        port = _bound_port(runner)
        configured = (self._config.internal_url or "").rstrip("/")
        self._url = configured or f"http://{_host_in_url(self._config.bind_host)}:{port}"
        logger.info("media node %s listening on %s", self._config.node_id, self._url)

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    # -- the edge ----------------------------------------------------------------------------

    @web.middleware
    async def _guard(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            body = await request.read()
            self._verifier.verify(request.method, request.raw_path, request.headers, body)
            return await handler(request)
        except LoketError as exc:
            return _error(exc.status, exc.code, exc.message)
        except ValidationError as exc:
            return _error(400, "invalid_input", _validation_message(exc))
        except web.HTTPException as exc:
            if exc.status < 400:
                raise
            return _error(exc.status, _http_code(exc.status), exc.reason)
        except Exception:
            logger.exception(
                "media node %s: %s %s failed", self._config.node_id, request.method, request.path
            )
            return _error(500, "internal_error", "the media node failed")

    async def _owned_call(self, request: web.Request, *, closed_ok: bool = False) -> str | None:
        """The request's call id if the call is placed on this node; ``None`` for a closed call
        when ``closed_ok``; refused otherwise."""
        call_id = request.match_info["call_id"]
        if not valid_id(call_id):
            raise _BadInput("a call id is 1-64 letters, digits, '.', '_' or '-'")
        owner = await self._registry.owner(call_id)
        if owner is None:
            raise UnknownCall("no media node holds this call")
        if owner == keys.CLOSED:
            if closed_ok:
                return None
            raise LegClosedError("this call's media is closed")
        if owner != self._config.node_id:
            raise CallOnOtherNode("this call is placed on another media node")
        return call_id

    # -- routes ------------------------------------------------------------------------------

    async def _node(self, request: web.Request) -> web.Response:
        return _json(self._status())

    async def _answer(self, request: web.Request) -> web.Response:
        party = _party(request)
        offer = wire.Offer.model_validate_json(await request.read())
        call_id = cast(str, await self._owned_call(request))
        sdp, sdp_type = await self._media.answer(call_id, party, offer.sdp, offer.type)
        return _json(wire.Answer(sdp=sdp, type=sdp_type))

    async def _candidate(self, request: web.Request) -> web.Response:
        party = _party(request)
        candidate = wire.Candidate.model_validate_json(await request.read())
        call_id = cast(str, await self._owned_call(request))
        used = await self._media.add_candidate(
            call_id, party, candidate.candidate, candidate.sdp_mid, candidate.sdp_mline_index
        )
        return _json(wire.CandidateUsed(used=used))

    async def _start_recording(self, request: web.Request) -> web.Response:
        start = wire.RecordingStart.model_validate_json(await request.read())
        # Keys only: the caller names files inside this node's spool, never a path of its own.
        files = {party: check_spool_key(key) for party, key in start.files.items()}
        call_id = cast(str, await self._owned_call(request))
        await self._media.start_recording(call_id, {party: Path(key) for party, key in files.items()})
        return _json(wire.RecordingStarted())

    async def _stop_recording(self, request: web.Request) -> web.Response:
        call_id = await self._owned_call(request, closed_ok=True)
        results = {} if call_id is None else await self._media.stop_recording(call_id)
        return _json(
            wire.RecordingStopped(
                results={party: wire.Recorded.of(result) for party, result in results.items()}
            )
        )

    async def _release_leg(self, request: web.Request) -> web.Response:
        party = _party(request)
        call_id = await self._owned_call(request, closed_ok=True)
        if call_id is not None:
            await self._media.release_leg(call_id, party)
        return web.Response(status=204)

    async def _close(self, request: web.Request) -> web.Response:
        call_id = await self._owned_call(request, closed_ok=True)
        if call_id is not None:
            await self._media.close_call(call_id)
        return web.Response(status=204)


def _party(request: web.Request) -> Party:
    party = request.match_info["party"]
    if party not in _PARTIES:
        raise _BadInput("the party is 'visitor' or 'adviser'")
    return cast(Party, party)


def _json(body: BaseModel) -> web.Response:
    return web.Response(body=body.model_dump_json().encode(), content_type="application/json")


def _error(status: int, code: str, message: str) -> web.Response:
    body = wire.ErrorBody(error=wire.ErrorDetail(code=code, message=message))
    return web.Response(status=status, body=body.model_dump_json().encode(), content_type="application/json")


def _http_code(status: int) -> str:
    return {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}.get(status, "bad_request")


def _validation_message(exc: ValidationError) -> str:
    errors = exc.errors()
    if not errors:
        return "the body is not valid"
    where = ".".join(str(part) for part in errors[0]["loc"]) or "body"
    return f"{where}: {errors[0]['msg']}"


def _host_in_url(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _bound_port(runner: web.AppRunner) -> int:
    for address in runner.addresses:
        if isinstance(address, tuple) and len(address) >= 2:
            return int(address[1])
    raise RuntimeError("the node server is not listening on a TCP port")
