"""A socket.io client light enough to hold thousands of connections in one Python process.

python-socketio's ``AsyncClient`` keeps an engine.io client, tasks and queues per connection;
5,000 of them cost the load generator more than the server they load. This speaks just the part
of the contract the benchmarks need, over one aiohttp websocket each: engine.io v4 framing
(``0`` open, ``2`` ping answered by ``3`` pong, ``4`` message) carrying socket.io v5 packets
(``0`` connect with ``auth``, ``2`` event, ``3`` acknowledgement, ``4`` connect error, ``1``
disconnect) on one namespace. No polling, no binary packets, no reconnection: what the server
sends that is not one of those is counted in :attr:`LightSocket.unknown`.

Every server event's ``seq`` is kept (:attr:`LightSocket.seqs`), so a benchmark can count the
events a session lost (gaps in its numbers).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import aiohttp

Json = dict[str, Any]
Listener = Callable[[str, Json], None]


class SocketError(Exception):
    """The connection was refused, lost, or an acknowledgement did not come."""


def _split(packet: str) -> tuple[str, str, str, str]:
    """A socket.io packet (engine.io ``4`` stripped): (type, namespace, ack id, JSON text)."""
    kind, rest = packet[0], packet[1:]
    namespace = "/"
    if rest.startswith("/"):
        namespace, _, rest = rest.partition(",")
    digits = 0
    while digits < len(rest) and rest[digits].isdigit():
        digits += 1
    return kind, namespace, rest[:digits], rest[digits:]


def gaps(seqs: list[int]) -> int:
    """Numbers missing between the first and the last ``seq`` received (events lost)."""
    distinct = set(seqs)
    return max(distinct) - min(distinct) + 1 - len(distinct) if distinct else 0


class LightSocket:
    """One connection to one namespace of a Loket server (``/visitor`` or ``/adviser``)."""

    def __init__(self, http: aiohttp.ClientSession, namespace: str, listener: Listener | None = None) -> None:
        self.namespace = namespace
        self.seqs: list[int] = []
        self.events: Counter[str] = Counter()
        self.unknown = 0
        self.closed_by_server = False
        self._http = http
        self._listener = listener
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._reader: asyncio.Task[None] | None = None
        self._ids = itertools.count(1)
        self._acks: dict[str, asyncio.Future[Json]] = {}
        self._connected: asyncio.Future[None] | None = None
        self._pongs: set[asyncio.Future[None]] = set()

    async def connect(self, url: str, token: str, address: str, timeout: float = 30) -> None:
        """Open the websocket and the namespace with ``{token}`` as its auth; raises
        :class:`SocketError` when the server refuses."""
        endpoint = url.replace("http", "ws", 1) + "/socket.io/?EIO=4&transport=websocket"
        try:
            self._ws = await self._http.ws_connect(
                endpoint, headers={"X-Forwarded-For": address}, autoping=False
            )
            opened = await self._ws.receive_str(timeout=timeout)
        except (aiohttp.ClientError, TimeoutError, TypeError) as exc:
            raise SocketError(f"{self.namespace} connect: {exc.__class__.__name__} {exc}") from exc
        if not opened.startswith("0"):
            raise SocketError(f"{self.namespace} connect: no engine.io open packet ({opened[:80]!r})")
        self._connected = asyncio.get_running_loop().create_future()
        self._reader = asyncio.create_task(self._read())
        await self._ws.send_str(f"40{self.namespace},{json.dumps({'token': token})}")
        try:
            await asyncio.wait_for(asyncio.shield(self._connected), timeout)
        except TimeoutError:
            raise SocketError(f"{self.namespace} connect: no answer within {timeout:.0f} s") from None

    async def call(self, event: str, data: Json | None = None, timeout: float = 30) -> Json:
        """Send ``event`` and return its acknowledgement (``{ok, ...}``)."""
        if self._ws is None or self._ws.closed:
            raise SocketError(f"{self.namespace} {event}: not connected")
        ack_id = str(next(self._ids))
        future: asyncio.Future[Json] = asyncio.get_running_loop().create_future()
        self._acks[ack_id] = future
        body = json.dumps([event] if data is None else [event, data])
        try:
            await self._ws.send_str(f"42{self.namespace},{ack_id}{body}")
            return await asyncio.wait_for(future, timeout)
        except TimeoutError:
            raise SocketError(
                f"{self.namespace} {event}: no acknowledgement within {timeout:.0f} s"
            ) from None
        except (aiohttp.ClientError, ConnectionError) as exc:
            raise SocketError(f"{self.namespace} {event}: {exc.__class__.__name__} {exc}") from exc
        finally:
            self._acks.pop(ack_id, None)

    async def close(self) -> None:
        if self._ws is not None:
            with contextlib.suppress(Exception):
                await self._ws.close()
        if self._reader is not None:
            self._reader.cancel()
            await asyncio.gather(self._reader, return_exceptions=True)

    @property
    def open(self) -> bool:
        return self._ws is not None and not self._ws.closed and not self.closed_by_server

    async def _read(self) -> None:
        assert self._ws is not None
        try:
            async for message in self._ws:
                if message.type != aiohttp.WSMsgType.TEXT:
                    break
                self._packet(message.data)
        finally:
            self._fail(SocketError(f"{self.namespace}: the connection closed"))

    def _packet(self, text: str) -> None:
        assert self._ws is not None
        if text == "2":  # engine.io ping: answer at once, or the server drops us
            pong = asyncio.ensure_future(self._ws.send_str("3"))
            self._pongs.add(pong)
            pong.add_done_callback(self._pongs.discard)
            return
        if not text.startswith("4") or len(text) < 2:
            if text.startswith("1"):
                self.closed_by_server = True
            else:
                self.unknown += 1
            return
        kind, namespace, ack_id, body = _split(text[1:])
        if namespace != self.namespace:
            self.unknown += 1
        elif kind == "0" and self._connected is not None and not self._connected.done():
            self._connected.set_result(None)
        elif kind == "4" and self._connected is not None and not self._connected.done():
            self._connected.set_exception(SocketError(f"{self.namespace} refused: {body}"))
        elif kind == "3" and ack_id in self._acks:
            args = json.loads(body)
            if not self._acks[ack_id].done():
                self._acks[ack_id].set_result(args[0] if args else {})
        elif kind == "2":
            self._event(json.loads(body))
        elif kind == "1":
            self.closed_by_server = True
        else:
            self.unknown += 1

    def _event(self, args: list[Any]) -> None:
        event = args[0]
        data = args[1] if len(args) > 1 and isinstance(args[1], dict) else {}
        self.events[event] += 1
        if isinstance(data.get("seq"), int):
            self.seqs.append(data["seq"])
        if self._listener is not None:
            self._listener(event, {**data, "_at": time.monotonic()})

    def _fail(self, error: SocketError) -> None:
        if self._connected is not None and not self._connected.done():
            self._connected.set_exception(error)
        for future in self._acks.values():
            if not future.done():
                future.set_exception(error)
