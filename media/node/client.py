"""``NodeClient``: signed requests to media nodes, their errors raised as the media package's own.

A node's refusal comes back as the error the same call would raise in process
(``NegotiationError``, ``LegClosedError``, ``RecordingError``, ``SpoolPathError``, ...), so a
placement behaves the same wherever its media runs. A node that cannot be reached, or that
refuses our signature (a wrong secret: a deployment error, logged), is ``MediaUnavailable``.
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING

import aiohttp
from pydantic import BaseModel, ValidationError

from media.errors import (
    CallOnOtherNode,
    LegClosedError,
    MediaError,
    MediaUnavailable,
    NegotiationError,
    NodeError,
    SpoolPathError,
    UnknownCall,
)
from media.node.auth import sign
from media.node.config import ClusterConfig
from media.node.wire import ReplyT
from media.recorder import RecordingError

if TYPE_CHECKING:
    from media.node.registry import NodeInfo

logger = logging.getLogger(__name__)

# The errors a node answers with that mean the same here.
_KNOWN: dict[str, type[MediaError]] = {
    error.code: error
    for error in (
        NegotiationError,
        LegClosedError,
        RecordingError,
        SpoolPathError,
        UnknownCall,
        CallOnOtherNode,
        MediaUnavailable,
    )
}


class NodeClient:
    """An HTTP client for the internal channel; ``start`` before use, ``stop`` when done."""

    def __init__(self, config: ClusterConfig) -> None:
        self._config = config
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self._config.request_timeout_s)
            )

    async def stop(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    async def send(
        self, node: NodeInfo, method: str, path: str, body: BaseModel | None, reply: type[ReplyT]
    ) -> ReplyT:
        """Send a signed request to ``node``; its reply, or the node's error raised."""
        data = await self.send_raw(node, method, path, body)
        try:
            return reply.model_validate_json(data)
        except ValidationError as exc:
            raise NodeError(f"media node {node.node_id} sent an unreadable reply") from exc

    async def send_raw(self, node: NodeInfo, method: str, path: str, body: BaseModel | None) -> bytes:
        if self._session is None:
            raise RuntimeError("the node client has not started")
        payload = b"" if body is None else body.model_dump_json().encode()
        headers = sign(self._config.secret, method, path, payload)
        if body is not None:
            headers["Content-Type"] = "application/json"
        try:
            async with self._session.request(
                method, node.url + path, data=payload, headers=headers
            ) as response:
                status, data = response.status, await response.read()
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise MediaUnavailable(f"media node {node.node_id} cannot be reached") from exc
        if status < 400:
            return data
        raise _refusal(node, status, data)


def _refusal(node: NodeInfo, status: int, data: bytes) -> MediaError:
    try:
        detail = json.loads(data)["error"]
        code, message = str(detail["code"]), str(detail["message"])
    except (ValueError, KeyError, TypeError):
        return NodeError(f"media node {node.node_id} answered {status}")
    if status == 401:
        logger.error(
            "media node %s refused our signature (%s): is the shared secret the same?", node.node_id, message
        )
        return MediaUnavailable(f"media node {node.node_id} refused this signalling node")
    known = _KNOWN.get(code)
    if known is None:
        return NodeError(f"media node {node.node_id}: {code}: {message}")
    return known(message)
