"""Concurrent 1:1 calls over Loket's public contract, each party a synthetic peer.

One call, as a browser pair would make it (README, "The API in brief"):

1. the adviser logs in (``POST /api/v1/auth/login``), fetches its ICE servers
   (``GET /api/v1/rtc/ice-servers``), connects to ``/adviser``, sends ``session:resume`` and
   ``presence:set available``; every adviser is ready before the first visitor comes;
2. the visitor opens a widget session (``POST /api/v1/widget/sessions`` with one of the key's
   origins), connects to ``/visitor``, sends ``session:resume`` and ``queue:join``: the call's
   clock starts;
3. the adviser who is rung sends ``call:accept``; each party, once accepted, offers with
   ``rtc:offer`` from a :class:`~media.synthetic_peer.SyntheticPeer` and applies the answer;
4. media is up when both parties have a first whole video frame (``join_to_media``).

Each client sends an ``X-Forwarded-For`` address of its own from 198.18.0.0/15, the range
RFC 2544 sets aside for benchmarks, so a server that trusts the tool as its proxy (the spawned
one does) applies its per-address limits (20 logins, 30 widget sessions a minute) to each
client, not to the tool. The calls end with the visitor's ``call:end``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import socketio
from aiortc import RTCConfiguration, RTCIceServer

from media.synthetic import EncodedLoop
from media.synthetic_peer import SyntheticPeer

logger = logging.getLogger(__name__)

Json = dict[str, Any]


class SetupError(Exception):
    """A call could not be set up; the message says which step and what the server answered."""


@dataclass(frozen=True, slots=True)
class Credentials:
    email: str
    password: str


@dataclass(frozen=True, slots=True)
class Target:
    """A Loket deployment to call: its URL, a widget key with one of its origins, a queue, and
    advisers who may log in (one per concurrent call)."""

    url: str
    widget_key: str
    origin: str
    queue_id: str
    advisers: tuple[Credentials, ...]
    language: str | None = None

    def __post_init__(self) -> None:
        if not self.url.startswith(("http://", "https://")):
            raise ValueError("the target URL must be http:// or https://")
        if not self.advisers:
            raise ValueError("a target needs at least one adviser")


def client_address(role: int, step: int, index: int) -> str:
    """A client's own address in 198.18.0.0/15: role 0 visitors, 1 advisers (RFC 2544)."""
    if not 0 <= index < 250 * 256:
        raise ValueError("at most 64,000 clients per role and step")
    return f"198.{18 + role}.{(step * 16 + index // 250) % 256}.{index % 250 + 1}"


class _Session:
    """One socket.io connection to one namespace, keeping the server's events by name."""

    def __init__(self, namespace: str) -> None:
        self.namespace = namespace
        self.sio = socketio.AsyncClient(reconnection=False)
        self._events: defaultdict[str, asyncio.Queue[Json]] = defaultdict(asyncio.Queue)
        # Every event's seq, so the soak can count the events a session lost (gaps).
        self.seqs: list[int] = []
        self.sio.on("*", self._record, namespace=namespace)

    async def _record(self, event: str, data: Json) -> None:
        if isinstance(data, dict) and isinstance(data.get("seq"), int):
            self.seqs.append(data["seq"])
        self._events[event].put_nowait(data)

    async def connect(self, url: str, token: str, address: str) -> None:
        try:
            await self.sio.connect(
                url,
                namespaces=[self.namespace],
                auth={"token": token},
                headers={"X-Forwarded-For": address},
                transports=["websocket"],
                wait_timeout=15,
            )
        except socketio.exceptions.ConnectionError as exc:
            raise SetupError(f"{self.namespace} connect: {exc}") from exc

    async def call(self, event: str, data: Json | None = None, timeout: float = 15) -> Json:
        try:
            ack: Json = await self.sio.call(event, data, namespace=self.namespace, timeout=timeout)
        except socketio.exceptions.TimeoutError as exc:
            raise SetupError(f"{self.namespace} {event}: no acknowledgement within {timeout:.0f} s") from exc
        if not ack.get("ok"):
            raise SetupError(f"{self.namespace} {event}: {ack.get('error')}")
        return ack

    async def resume(self) -> None:
        """``session:resume`` from nothing. An adviser's session outlives its connections (its
        id is the user's), so a later step's login resumes the last step's: what the server
        replays, or a ``resume_gap``, is history the tool draws nothing from (the contract:
        nothing from before the resume acknowledgement)."""
        try:
            await self.call("session:resume", {"last_seq": 0})
        except SetupError as exc:
            if "resume_gap" not in str(exc):
                raise
        self._events.clear()

    async def next(self, event: str, timeout: float) -> Json:
        try:
            return await asyncio.wait_for(self._events[event].get(), timeout)
        except TimeoutError:
            raise SetupError(f"{self.namespace}: no {event} within {timeout:.0f} s") from None

    def drain(self, event: str) -> list[Json]:
        """The ``event`` events received and not yet taken."""
        queue, taken = self._events[event], []
        while not queue.empty():
            taken.append(queue.get_nowait())
        return taken

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.sio.disconnect()


@dataclass(eq=False)
class CallRecord:
    """One call as the tool sees it: its parties' peers, when it joined, what went wrong."""

    index: int
    call_id: str | None = None
    joined_at: float | None = None
    visitor: SyntheticPeer | None = None
    adviser: SyntheticPeer | None = None
    error: str | None = None
    _visitor_session: _Session | None = field(default=None, repr=False)
    _adviser_session: _Session | None = field(default=None, repr=False)
    # The ICE servers each party was given (a party negotiating afresh uses them again).
    _ice: dict[str, list[Json]] = field(default_factory=dict, repr=False)

    def media_at(self) -> float | None:
        """When both parties had a whole video frame (``time.monotonic()``), if they have."""
        firsts = [p.received["video"].first_frame_at for p in (self.visitor, self.adviser) if p is not None]
        if len(firsts) < 2 or None in firsts:
            return None
        return max(t for t in firsts if t is not None)

    def sessions(self) -> list[_Session]:
        """The parties' socket.io sessions known so far (visitor first)."""
        return [s for s in (self._visitor_session, self._adviser_session) if s is not None]

    def join_to_media_ms(self) -> float | None:
        media_at = self.media_at()
        if media_at is None or self.joined_at is None:
            return None
        return 1000 * (media_at - self.joined_at)


class CallSet:
    """``count`` calls on ``target``: :meth:`start` sets them up (advisers first, then one
    visitor every ``ramp_s``), :meth:`wait_media` waits for their media, :meth:`stop` ends
    them and closes everything."""

    def __init__(
        self,
        target: Target,
        count: int,
        *,
        media: EncodedLoop,
        step: int = 0,
        ramp_s: float = 1.0,
        setup_timeout_s: float = 60.0,
    ) -> None:
        if count > len(target.advisers):
            raise ValueError(f"{count} calls need {count} advisers; the target has {len(target.advisers)}")
        self.target = target
        self.records = [CallRecord(index) for index in range(count)]
        self._media = media
        self._step = step
        self._ramp_s = ramp_s
        self._timeout = setup_timeout_s
        self._http: aiohttp.ClientSession | None = None
        self._sessions: list[_Session] = []
        self._peers: list[SyntheticPeer] = []
        self._adviser_peers: dict[str, SyntheticPeer] = {}
        self._adviser_sessions: dict[str, tuple[_Session, list[Json]]] = {}
        self._adviser_errors: dict[str, str] = {}
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        """Set the calls up; returns once every visitor has joined the queue or failed to."""
        self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))
        ready = [asyncio.Event() for _ in self.records]
        self._tasks = [
            asyncio.create_task(self._adviser(slot, ready[slot])) for slot in range(len(self.records))
        ]
        try:
            await asyncio.wait_for(asyncio.gather(*(event.wait() for event in ready)), self._timeout)
        except TimeoutError:
            raise SetupError(f"the advisers were not ready within {self._timeout:.0f} s") from None
        joined = []
        for record in self.records:
            joined.append(asyncio.create_task(self._visitor(record)))
            await asyncio.sleep(self._ramp_s)
        self._tasks += joined
        await asyncio.wait(joined)

    async def wait_media(self) -> list[CallRecord]:
        """The calls whose parties both receive video, once all do or time is up (the others
        get an ``error``)."""
        deadline = time.monotonic() + self._timeout
        while time.monotonic() < deadline:
            for record in self.records:
                record.adviser = self._adviser_peers.get(record.call_id or "")
                if record.call_id in self._adviser_sessions:
                    record._adviser_session, record._ice["adviser"] = self._adviser_sessions[record.call_id]
                if record.error is None and record.call_id in self._adviser_errors:
                    record.error = f"adviser: {self._adviser_errors[record.call_id]}"
            pending = [r for r in self.records if r.error is None and r.media_at() is None]
            if not pending:
                break
            await asyncio.sleep(0.1)
        for record in self.records:
            if record.error is None and record.media_at() is None:
                record.error = f"no media at both parties within {self._timeout:.0f} s"
        return [r for r in self.records if r.error is None]

    async def stop(self) -> None:
        """End every call (the visitor's ``call:end``), close the peers and connections."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        ends = [r._visitor_session.call("call:end", timeout=5) for r in self.records if r._visitor_session]
        await asyncio.gather(*ends, return_exceptions=True)
        await asyncio.gather(*(peer.close() for peer in self._peers), return_exceptions=True)
        await asyncio.gather(*(session.close() for session in self._sessions), return_exceptions=True)
        if self._http is not None:
            await self._http.close()

    # -- the parties ---------------------------------------------------------------------

    async def _adviser(self, slot: int, ready: asyncio.Event) -> None:
        credentials = self.target.advisers[slot]
        address = client_address(1, self._step, slot)
        try:
            tokens = await self._request(
                "POST",
                "/api/v1/auth/login",
                address,
                {"email": credentials.email, "password": credentials.password},
            )
            bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
            ice = await self._request("GET", "/api/v1/rtc/ice-servers", address, headers=bearer)
            session = self._session("/adviser")
            await session.connect(self.target.url, tokens["access_token"], address)
            await session.resume()
            await session.call("presence:set", {"status": "available"})
        except Exception as exc:
            logger.warning("adviser %d not ready: %s", slot, _describe(exc))
            return
        finally:
            ready.set()
        while True:  # answer the first ring still there when accepted
            try:
                ring = await session.next("call:incoming", timeout=1.0)
            except SetupError:
                # A ring that timed out before the accept got through (a server too busy to
                # answer in time) set this adviser away; an adviser at a console goes back.
                if any(state.get("status") == "away" for state in session.drain("presence:state")):
                    logger.info("adviser %d was set away; available again", slot)
                    with contextlib.suppress(SetupError):
                        await session.call("presence:set", {"status": "available"})
                continue
            try:
                await session.call("call:accept", {"call_id": ring["call_id"]})
            except SetupError as exc:
                logger.info("adviser %d: %s", slot, exc)
                continue
            break
        try:
            peer = self._peer(ice["ice_servers"])
            self._adviser_peers[ring["call_id"]] = peer
            self._adviser_sessions[ring["call_id"]] = session, ice["ice_servers"]
            await self._offer(session, peer)
        except Exception as exc:
            self._adviser_errors[ring["call_id"]] = _describe(exc)

    async def _visitor(self, record: CallRecord) -> None:
        address = client_address(0, self._step, record.index)
        try:
            widget = await self._request(
                "POST",
                "/api/v1/widget/sessions",
                address,
                {"widget_key": self.target.widget_key},
                headers={"Origin": self.target.origin},
            )
            session = record._visitor_session = self._session("/visitor")
            await session.connect(self.target.url, widget["visitor_token"], address)
            await session.resume()
            join: Json = {"queue_id": self.target.queue_id}
            if self.target.language:
                join["language"] = self.target.language
            record.joined_at = time.monotonic()
            record.call_id = (await session.call("queue:join", join))["call_id"]
        except Exception as exc:
            record.error = _describe(exc)
            return
        self._tasks.append(asyncio.create_task(self._visitor_media(record, session, widget["ice_servers"])))

    async def _visitor_media(self, record: CallRecord, session: _Session, ice_servers: list[Json]) -> None:
        record._ice["visitor"] = ice_servers
        try:
            await session.next("call:accepted", timeout=self._timeout)
            record.visitor = self._peer(ice_servers)
            await self._offer(session, record.visitor)
        except Exception as exc:
            record.error = _describe(exc)

    async def renegotiate(self, record: CallRecord, timeout: float) -> float:
        """Wait until both parties are told ``media:renegotiate`` (their call's media node died
        and the call was placed on another), then do what the widget and the console do: a new
        peer connection each, offering afresh. When both parties have a whole video frame from
        the new connections (``time.monotonic()``); :class:`SetupError` past ``timeout``."""
        deadline = time.monotonic() + timeout

        async def party(role: str, session: _Session | None) -> float:
            if session is None:
                raise SetupError(f"call {record.index}: no {role} session")
            await session.next("media:renegotiate", max(0.0, deadline - time.monotonic()))
            old: SyntheticPeer | None = getattr(record, role)
            peer = self._peer(record._ice[role])
            setattr(record, role, peer)
            if role == "adviser" and record.call_id is not None:
                self._adviser_peers[record.call_id] = peer
            await self._offer(session, peer)
            if old is not None:
                # As the widget does once the new answer is applied: the old one stops sending.
                await old.close()
            try:
                return await peer.received["video"].wait_first_frame(max(0.0, deadline - time.monotonic()))
            except TimeoutError:
                raise SetupError(f"call {record.index}: no video at the {role} after renegotiating") from None

        times = await asyncio.gather(
            party("visitor", record._visitor_session), party("adviser", record._adviser_session)
        )
        return max(times)

    def told_to_renegotiate(self, record: CallRecord) -> bool:
        """Whether a party of ``record`` was told ``media:renegotiate`` and has not acted on it."""
        sessions = (record._visitor_session, record._adviser_session)
        return any(s is not None and not s._events["media:renegotiate"].empty() for s in sessions)

    # -- helpers -------------------------------------------------------------------------

    def _session(self, namespace: str) -> _Session:
        session = _Session(namespace)
        self._sessions.append(session)
        return session

    def _peer(self, ice_servers: list[Json]) -> SyntheticPeer:
        configuration = RTCConfiguration(iceServers=[RTCIceServer(**server) for server in ice_servers])
        peer = SyntheticPeer.create(self._media, configuration)
        self._peers.append(peer)
        return peer

    async def _offer(self, session: _Session, peer: SyntheticPeer) -> None:
        offer = await peer.offer()
        answer = await session.call("rtc:offer", {"sdp": offer.sdp, "type": offer.type}, timeout=30)
        try:
            await peer.accept(answer["sdp"], answer["type"])
        except Exception as exc:
            raise SetupError(f"{session.namespace}: the answer to rtc:offer did not apply: {exc}") from exc

    async def _request(
        self,
        method: str,
        path: str,
        address: str,
        body: Json | None = None,
        *,
        headers: dict[str, str] | None = None,
    ) -> Json:
        assert self._http is not None
        sent = {"X-Forwarded-For": address, **(headers or {})}
        try:
            async with self._http.request(
                method, self.target.url + path, json=body, headers=sent
            ) as response:
                answer: Json = await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise SetupError(f"{method} {path}: {exc.__class__.__name__} {exc}") from exc
        if response.status != 200:
            raise SetupError(f"{method} {path}: {response.status} {answer.get('error', answer)}")
        return answer


def _describe(exc: BaseException) -> str:
    return str(exc) if isinstance(exc, SetupError) else f"{exc.__class__.__name__}: {exc}"
