"""Who is there: sessions' connections, the resume window, and advisers' presence.

A session (a visitor's token subject, an adviser's user id) may have several socket.io
connections at once, on one or more signalling nodes, counted per node in
``keys.connections``. When its last one closes, the session gets ``resume_window_seconds`` to
come back (``keys.DETACHED``); only when the window passes does it count as gone: a visitor's
call ends, an adviser's call in progress ends and they leave the organisation's advisers. An
adviser who drops is *offline* at once, so nobody rings them meanwhile, and gets their earlier
presence back when they reconnect.

A node that dies closes no connection, so its counts are kept per node and each node beats a
heart (``keys.SIGNAL_NODES``, a deadline ``node_ttl_seconds`` ahead, renewed every tick). A
session's connections are those on nodes whose heart still beats. When a node's deadline
passes, the first other node to take its entry off the set forgets the dead node's counts of
every session it had (``keys.node_rooms``) and starts the resume window of each session left
with no connection anywhere, exactly as if those connections had closed.

The transitions expect the caller to hold the organisation's lock (``signaling.live``); the
public methods take it themselves.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from accounts import queries as account_queries
from accounts.models import CALL_TAKING_ROLES, User
from accounts.tokens import StaffClaims, VisitorClaims
from db import SessionFactory
from signaling.config import SignalingConfig
from signaling.ending import Ending
from signaling.errors import Conflict, Forbidden
from signaling.live import LiveState, Mail, adviser_session, visitor_session
from signaling.outbox import SessionId
from signaling.queue import Queue
from signaling.ringing import Ringing
from signaling.state import Activity, AdviserState, Presence
from signaling.store import keys

logger = logging.getLogger(__name__)


class Attendance:
    """Connections, the resume window and presence."""

    def __init__(
        self,
        *,
        live: LiveState,
        queue: Queue,
        ringing: Ringing,
        ending: Ending,
        sessions: SessionFactory,
        config: SignalingConfig,
        clock: Callable[[], float],
        node_id: str,
    ) -> None:
        self._node = node_id
        self._live = live
        self._store = live.store
        self._queue = queue
        self._ringing = ringing
        self._ending = ending
        self._sessions = sessions
        self._config = config
        self._clock = clock

    async def visitor_connected(self, visitor: VisitorClaims) -> None:
        await self._attach(str(visitor.org_id), visitor_session(visitor.visitor_id))

    async def visitor_disconnected(self, visitor: VisitorClaims) -> None:
        await self._detach(str(visitor.org_id), visitor_session(visitor.visitor_id))

    async def adviser_connected(self, staff: StaffClaims) -> None:
        org_id, user_id = str(staff.org_id), str(staff.user_id)
        async with self._sessions() as db:
            user = await db.get(User, staff.user_id)
            if user is None or not user.active:
                raise Forbidden("account disabled", code="account_disabled")
            if user.role not in CALL_TAKING_ROLES:  # the token may predate a role change
                raise Forbidden("your role does not take calls", code="forbidden")
            served = await account_queries.served_queue_ids(db, staff.user_id)
        mail: Mail = []
        async with self._live.locked(org_id):
            await self._attach(org_id, adviser_session(user_id))
            adviser = await self._live.adviser(org_id, user_id)
            if adviser is None:
                adviser = AdviserState(
                    user_id=user_id, display_name="", queues=None, languages=[], idle_since=self._clock()
                )
            elif adviser.presence == Presence.OFFLINE:
                adviser.presence = adviser.presence_before_drop or Presence.AWAY
            # What an admin changed since the last connection applies from this one on.
            adviser.display_name = user.display_name
            adviser.queues = [str(q) for q in served] or None
            adviser.languages = list(user.languages)
            await self._live.save_adviser(org_id, adviser)
            await self._ringing.dispatch(org_id, mail)
        await self._live.deliver(mail)

    async def adviser_disconnected(self, staff: StaffClaims) -> None:
        org_id, user_id = str(staff.org_id), str(staff.user_id)
        session = adviser_session(user_id)
        mail: Mail = []
        async with self._live.locked(org_id):
            if await self._detach(org_id, session):
                await self._adviser_offline(org_id, user_id, mail)
        await self._live.deliver(mail)

    async def set_presence(self, staff: StaffClaims, status: Presence) -> dict[str, Any]:
        org_id, user_id = str(staff.org_id), str(staff.user_id)
        mail: Mail = []
        async with self._live.locked(org_id):
            adviser = await self._live.adviser(org_id, user_id)
            if adviser is None:
                raise Conflict("not connected", code="not_connected")
            if status == Presence.AVAILABLE and adviser.presence != Presence.AVAILABLE:
                adviser.idle_since = self._clock()
            adviser.presence = status
            await self._live.save_adviser(org_id, adviser)
            await self._ringing.dispatch(org_id, mail)
            await self._queue.changed(org_id, mail)
        await self._live.deliver(mail)
        return {"status": str(status)}

    async def expire(self, now: float) -> None:
        """Handle the sessions whose resume window passed by ``now`` without them coming back."""
        for member in await self._store.zrangebyscore(keys.DETACHED, now):
            # Every node ticks; the one whose removal succeeds handles the entry.
            if not await self._store.zrem(keys.DETACHED, member):
                continue
            org_id, room = keys.split_org_member(member)
            mail: Mail = []
            try:
                async with self._live.locked(org_id):
                    if await self._connections(room) <= 0:
                        await self._session_gone(org_id, SessionId.parse(room), mail)
            except Exception:
                # Put the entry back so the next tick tries again: taken off and dropped,
                # the session would never be let go.
                logger.exception("could not let session go; trying again on the next tick")
                await self._store.zadd(keys.DETACHED, member, now)
            finally:
                await self._live.deliver(mail)

    # -- signalling nodes ------------------------------------------------------------------

    async def heartbeat(self, now: float) -> None:
        """This node is alive until ``now + node_ttl_seconds``."""
        await self._store.zadd(keys.SIGNAL_NODES, self._node, now + self._config.node_ttl_seconds)

    async def leave_cluster(self) -> None:
        """A node that stops: its heart stops at once, so another node lets its sessions go."""
        await self._store.zadd(keys.SIGNAL_NODES, self._node, 0.0)

    async def bury_dead_nodes(self, now: float) -> None:
        """Count the connections of nodes whose heart stopped by ``now`` as closed."""
        for node in await self._store.zrangebyscore(keys.SIGNAL_NODES, now):
            if node == self._node:
                continue  # we are evidently alive (a stalled loop); the next beat says so
            if not await self._store.zrem(keys.SIGNAL_NODES, node):
                continue  # another node buries it
            try:
                await self._bury(node, now)
            except Exception:
                logger.exception("could not let the sessions of dead node %s go; trying again", node)
                await self._store.zadd(keys.SIGNAL_NODES, node, 0.0)

    async def _bury(self, node: str, now: float) -> None:
        for member, _ in await self._store.zrange(keys.node_rooms(node)):
            org_id, room = keys.split_org_member(member)
            mail: Mail = []
            async with self._live.locked(org_id):
                await self._store.delete(keys.connections(room, node))
                if await self._connections(room) <= 0:
                    await self._detached(org_id, SessionId.parse(room), mail, now)
            await self._store.zrem(keys.node_rooms(node), member)
            await self._live.deliver(mail)
        await self._store.delete(keys.node_rooms(node))

    async def _detached(self, org_id: str, session: SessionId, mail: Mail, now: float) -> None:
        """The session's last connection went with a dead node: as if it had closed."""
        deadline = now + self._config.resume_window_seconds
        await self._store.zadd(keys.DETACHED, keys.org_member(org_id, session.room), deadline)
        if session.kind == "adviser":
            await self._adviser_offline(org_id, session.subject, mail)

    async def _adviser_offline(self, org_id: str, user_id: str, mail: Mail) -> None:
        """Nobody is there to answer: stop ringing them now; a call in progress gets the
        resume window to come back."""
        adviser = await self._live.adviser(org_id, user_id)
        if adviser is None or adviser.presence == Presence.OFFLINE:
            return
        adviser.presence_before_drop = adviser.presence
        adviser.presence = Presence.OFFLINE
        if adviser.activity == Activity.RINGING:
            call = await self._live.call(adviser.call_id)
            if call is not None:
                await self._ringing.unring(call, adviser, mail, reason="adviser_left")
        await self._live.save_adviser(org_id, adviser)
        await self._ringing.dispatch(org_id, mail)
        await self._queue.changed(org_id, mail)

    async def _live_nodes(self) -> list[str]:
        nodes = [node for node, _ in await self._store.zrange(keys.SIGNAL_NODES)]
        return nodes if self._node in nodes else [*nodes, self._node]

    async def _connections(self, room: str) -> int:
        """The session's open connections on the nodes that are alive."""
        total = 0
        for node in await self._live_nodes():
            total += max(0, int(await self._store.get(keys.connections(room, node)) or 0))
        return total

    # -- transitions -----------------------------------------------------------------------

    async def _attach(self, org_id: str, session: SessionId) -> None:
        await self._store.incr(keys.connections(session.room, self._node))
        member = keys.org_member(org_id, session.room)
        await self._store.zadd(keys.node_rooms(self._node), member, self._clock())
        await self._store.zrem(keys.DETACHED, member)

    async def _detach(self, org_id: str, session: SessionId) -> bool:
        """Count a connection gone; True when it was the session's last one."""
        member = keys.org_member(org_id, session.room)
        if await self._store.decr(keys.connections(session.room, self._node)) <= 0:
            await self._store.delete(keys.connections(session.room, self._node))
            await self._store.zrem(keys.node_rooms(self._node), member)
        if await self._connections(session.room) > 0:
            return False
        deadline = self._clock() + self._config.resume_window_seconds
        await self._store.zadd(keys.DETACHED, member, deadline)
        return True

    async def _session_gone(self, org_id: str, session: SessionId, mail: Mail) -> None:
        """The resume window passed without the session coming back."""
        for node in await self._live_nodes():
            await self._store.delete(keys.connections(session.room, node))
        if session.kind == "visitor":
            call_id = await self._live.visitor_call_id(session)
            call = await self._live.call(call_id) if call_id else None
            if call is not None:
                await self._ending.finish(call, mail, reason="visitor_disconnected")
                await self._ringing.dispatch(org_id, mail)
            return
        adviser = await self._live.adviser(org_id, session.subject)
        if adviser is None:
            return
        if adviser.activity == Activity.BUSY:
            call = await self._live.call(adviser.call_id)
            if call is not None:
                await self._ending.finish(call, mail, reason="adviser_disconnected")
        await self._live.remove_adviser(org_id, session.subject)
        await self._ringing.dispatch(org_id, mail)
        await self._queue.changed(org_id, mail)
