"""Every key of the realtime store, spelled here and nowhere else.

Layout (both backends; ``RedisStore`` puts ``LOKET_REDIS_PREFIX`` before every key). ``{room}``
is a session's room, ``visitor:{subject}`` or ``adviser:{user id}`` (``outbox.SessionId``).

Pairing (the switchboard):

- ``call:{id}``               hash     CallState of a call that is waiting, ringing or active
- ``queue:{id}:waiting``      zset     call id -> join time (queue position order)
- ``org:{id}:waiting``        zset     call id -> join time (dispatch order over all queues)
- ``org:{id}:advisers``       hash     user id -> AdviserState as JSON (connected advisers)
- ``rings``                   zset     ``{org}|{call}`` -> ring deadline
- ``detached``                zset     ``{org}|{room}`` -> end of the resume window
- ``session:{room}``          hash     a visitor session's call id and org (``ended`` once used)
- ``conns:{room}:{node}``     counter  the session's open connections on one signalling node
- ``signal-nodes``            zset     signalling node id -> heartbeat deadline (a node whose
                                       deadline passed is dead: its connections are counted gone)
- ``node:{id}:rooms``         zset     ``{org}|{room}`` -> attach time: the sessions a node has
                                       connections of (what to detach when it dies)
- ``org:{id}:queues``         hash     queue id -> ``1`` for every queue a call of the org waited in
- ``queue:{id}:sent``         hash     call id -> ``position|eta|language`` last sent in ``queue:position``
- ``queues:dirty``            zset     ``{org}|{queue}`` -> when its positions are next due
- ``snapshots:dirty``         zset     org id -> when its advisers' ``queue:snapshot`` is next due
- ``updates:sent``            hash     ``{org}|{queue}`` or org id -> when its updates were last sent
- ``aht:{queue}``             string   mean handle time of the queue's calls (seconds)

Resume log (the outbox):

- ``seq:{room}``              counter  the session's last event number
- ``log:{room}``              list     the session's newest events, capped, for ``session:resume``

Locks: ``org:{id}`` is the *name* of the lock every change of an organisation's calls and
advisers is made under; a backend that keeps locks as keys (Redis) keeps it at
``lock:org:{id}``.

Rate limits and replay guards (counters with a lifetime):

- ``rate:{name}:{window}``    counter  a fixed window of ``accounts.ratelimit``, with the names
  ``chat:{room}`` (chat lines per session), ``rating:{visitor}`` (ratings per visitor session),
  ``widget-ip:{ip}`` (widget sessions), ``privacy-ip:{ip}`` (privacy requests) and
  ``privacy-read-ip:{ip}`` (privacy-request reads) spelled here, where ``{ip}`` is an IPv4
  address or an IPv6 /64 (``accounts.addresses.counted_as``), and the installation-wide caps
  ``anonymous:{kind}`` (``widget-sessions``, ``privacy-requests``);
- ``playback:{sha256 of the link token}``  counter  the first request of a playback link;
- spelled in ``accounts`` itself, which sits below signaling and takes the store as
  ``accounts.types.Counters``: the window key ``rate:{name}:{window}`` (``accounts.ratelimit``)
  and the names ``login-ip:{ip}``, ``login-fail:{email}|{ip}`` (per account and address),
  ``login-fail:{email}`` (per account, everywhere but its location) and the key
  ``totp-used:{user}:{code}`` (``accounts.auth``);
- staff sessions, spelled in ``accounts.sessions``: ``revoked-session:{login}`` (a logged-out
  login's access tokens, until they expire), ``staff-cut:{user}`` (when the account was last
  cut) and the pub/sub channel ``staff-sessions``.
"""

from __future__ import annotations

import hashlib

from accounts.addresses import counted_as

RINGS = "rings"
# Waiting calls by the moment their queue's maximum wait runs out (signaling.wait_limit).
WAIT_DEADLINES = "wait-deadlines"
DETACHED = "detached"
SIGNAL_NODES = "signal-nodes"
DIRTY_QUEUES = "queues:dirty"
DIRTY_SNAPSHOTS = "snapshots:dirty"
UPDATES_SENT = "updates:sent"


# -- pairing ---------------------------------------------------------------------------------


def call(call_id: str) -> str:
    return f"call:{call_id}"


def queue_waiting(queue_id: str) -> str:
    return f"queue:{queue_id}:waiting"


def org_waiting(org_id: str) -> str:
    return f"org:{org_id}:waiting"


def advisers(org_id: str) -> str:
    return f"org:{org_id}:advisers"


def session(room: str) -> str:
    return f"session:{room}"


def connections(room: str, node: str) -> str:
    """The session's open connections on signalling node ``node``."""
    return f"conns:{room}:{node}"


def node_rooms(node: str) -> str:
    return f"node:{node}:rooms"


def position_sent(queue_id: str) -> str:
    return f"queue:{queue_id}:sent"


def org_queues(org_id: str) -> str:
    return f"org:{org_id}:queues"


def handle_time(queue_id: str) -> str:
    return f"aht:{queue_id}"


def org_member(org_id: str, item: str) -> str:
    """A member of ``RINGS`` or ``WAIT_DEADLINES`` (``item`` a call id) or ``DETACHED`` (``item`` a room)."""
    return f"{org_id}|{item}"


def split_org_member(member: str) -> tuple[str, str]:
    """``(org id, call id or room)`` of a ``RINGS``, ``WAIT_DEADLINES`` or ``DETACHED`` member."""
    org_id, _, item = member.partition("|")
    return org_id, item


# -- the outbox ------------------------------------------------------------------------------


def seq(room: str) -> str:
    return f"seq:{room}"


def log(room: str) -> str:
    return f"log:{room}"


# -- locks -----------------------------------------------------------------------------------


def org_lock(org_id: str) -> str:
    """The name of the lock over an organisation's calls and advisers."""
    return f"org:{org_id}"


def lock(name: str) -> str:
    """Where a backend that keeps locks as keys keeps lock ``name``."""
    return f"lock:{name}"


# -- rate-limit names (``accounts.ratelimit`` makes the window's key) and replay guards -----


def chat_rate(room: str) -> str:
    return f"chat:{room}"


def rating_rate(visitor_id: str) -> str:
    return f"rating:{visitor_id}"


def widget_sessions_rate(ip: str) -> str:
    return f"widget-ip:{counted_as(ip)}"


def privacy_requests_rate(ip: str) -> str:
    return f"privacy-ip:{counted_as(ip)}"


def privacy_reads_rate(ip: str) -> str:
    return f"privacy-read-ip:{counted_as(ip)}"


def anonymous_creations(kind: str) -> str:
    """The installation-wide cap on ``kind`` (``widget-sessions``, ``privacy-requests``)."""
    return f"anonymous:{kind}"


def playback(link_token: str) -> str:
    """Counts a playback link's requests; the token itself is never stored."""
    return "playback:" + hashlib.sha256(link_token.encode()).hexdigest()
