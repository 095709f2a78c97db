"""The media cluster's state in Redis: which nodes are alive, and which node each call is on.

*Nodes.* A node's heartbeat writes its ``NodeInfo`` with a lifetime of ``node_ttl_s`` and is
repeated every ``heartbeat_interval_s``, so a node that stops or dies (SIGKILL, a lost network)
is gone from :meth:`Registry.nodes` within ``node_ttl_s``; a node that stops cleanly withdraws
at once.

*Calls.* A call is placed with ``SET NX`` on ``media:call:{id}`` (in one script with the node's
call set), so when two signalling nodes place a call at once, both learn the same winner. The
mapping lives ``call_ttl_s``; the node's heartbeat renews it for every call it holds and
reports the calls it holds that are no longer mapped to it (closed, or placed elsewhere), which
the node then closes. Closing a call replaces the mapping by a tombstone, but only if the call
is still on the node that closed it (compare and set, in a script).

*Load.* The calls placed on a node are counted at the moment of placement (the set
``media:node:{id}:calls``), so calls placed in quick succession spread at once; the node's
recent CPU load (reported by its heartbeat, a second late) breaks ties, then chance.

Key layout: ``media.node.keys``.
"""

from __future__ import annotations

import json
import logging
import secrets
import time
from collections.abc import Callable, Collection
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from db.redis_pool import pooled_redis
from media.node import keys
from media.node.config import ClusterConfig, valid_id
from media.node.events import EndedEvents

if TYPE_CHECKING:
    from redis.asyncio import Redis

logger = logging.getLogger(__name__)
_RANDOM = secrets.SystemRandom()

# KEYS[1]: media:call:{id}; KEYS[2]: the node's call set. ARGV: node id, ttl (ms), call id.
_PLACE = """
local current = redis.call('GET', KEYS[1])
if current then return current end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('SADD', KEYS[2], ARGV[3])
redis.call('PEXPIRE', KEYS[2], ARGV[2])
return ARGV[1]
"""

# KEYS[1]: media:call:{id}; KEYS[2]: the node's call set.
# ARGV: node id, tombstone, tombstone ttl (ms), call id.
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
  redis.call('SREM', KEYS[2], ARGV[4])
  return 1
end
return 0
"""

# KEYS[1]: the node's call set; KEYS[2..]: media:call:{id} of the ids in ARGV[4..], the
# node's own calls first. ARGV: node id, call ttl (ms), how many of the ids are its own.
# Renews the mapping of each own call still mapped to the node, forgets the set's calls that
# are not, and returns the own calls that are not (the node must close them).
_RENEW = """
local lost = {}
local own = tonumber(ARGV[3])
for i = 2, #KEYS do
  local id = ARGV[i + 2]
  local is_own = (i - 1) <= own
  if redis.call('GET', KEYS[i]) == ARGV[1] then
    if is_own then redis.call('PEXPIRE', KEYS[i], ARGV[2]) end
  else
    redis.call('SREM', KEYS[1], id)
    if is_own then table.insert(lost, id) end
  end
end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return lost
"""

# KEYS[1]: media:call:{id}; KEYS[2]: the dead node's call set; KEYS[3]: the new node's call set.
# ARGV: dead node id, new node id, call ttl (ms), call id. Moves the call only if it is still
# on the dead node (compare and set); whether it did.
_MOVE = """
redis.call('SREM', KEYS[2], ARGV[4])
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
redis.call('SADD', KEYS[3], ARGV[4])
redis.call('PEXPIRE', KEYS[3], ARGV[3])
return 1
"""

# The failover claim lives this long: a signalling node that dies while moving a dead node's
# calls leaves the rest to another after it.
FAILOVER_CLAIM_TTL_S = 30.0


@dataclass(frozen=True, slots=True)
class NodeInfo:
    """A live media node as its heartbeat describes it.

    ``calls``: calls with media on the node at its last heartbeat; ``load``: CPU seconds per
    second its process used lately (1.0 is one core); ``placed``: calls placed on it now
    (read from the registry, not sent by the node).
    """

    node_id: str
    url: str
    calls: int = 0
    load: float = 0.0
    heartbeat_at: float = 0.0
    placed: int = 0

    def __post_init__(self) -> None:
        if not valid_id(self.node_id):
            raise ValueError(f"not a node id: {self.node_id!r}")
        if self.calls < 0 or self.load < 0 or self.placed < 0:
            raise ValueError("calls, load and placed must not be negative")

    def to_json(self) -> str:
        fields = asdict(self)
        del fields["placed"]
        return json.dumps(fields)

    @classmethod
    def from_json(cls, raw: str, *, placed: int = 0) -> NodeInfo:
        fields: dict[str, Any] = json.loads(raw)
        return cls(
            node_id=str(fields["node_id"]),
            url=str(fields["url"]),
            calls=int(fields["calls"]),
            load=float(fields["load"]),
            heartbeat_at=float(fields["heartbeat_at"]),
            placed=placed,
        )


def least_loaded(nodes: Collection[NodeInfo], *, tiebreak: Callable[[], float] = _RANDOM.random) -> NodeInfo:
    """The node with the fewest placed calls; among those the lowest CPU load (in tenths of a
    core, so noise does not decide); among those a random one, so that signalling nodes placing
    calls at the same moment (all reading the same counts) do not all pick the same node."""
    return min(nodes, key=lambda node: (node.placed, round(node.load, 1), tiebreak()))


class Registry:
    """Nodes, call placement and the ended-event stream of one installation's media cluster."""

    def __init__(self, config: ClusterConfig, *, clock: Callable[[], float] = time.time) -> None:
        self._config = config
        self._clock = clock
        self._prefix = config.redis_prefix
        self._redis: Redis = pooled_redis(config.redis_url, decode_responses=True)
        self._place = self._redis.register_script(_PLACE)
        self._release = self._redis.register_script(_RELEASE)
        self._renew = self._redis.register_script(_RENEW)
        self._move = self._redis.register_script(_MOVE)
        self._stopped = False
        self.ended = EndedEvents(self._redis, config, key=self._k(keys.ENDED), clock=clock)

    def _k(self, key: str) -> str:
        return self._prefix + key

    async def start(self) -> None:
        await self._redis.ping()

    async def stop(self) -> None:
        if not self._stopped:
            self._stopped = True
            await self._redis.aclose()

    # -- nodes -------------------------------------------------------------------------------

    async def heartbeat(self, info: NodeInfo, own_calls: Collection[str]) -> list[str]:
        """Announce ``info`` for another ``node_ttl_s``; renew the mappings of ``own_calls``.

        Returns those of ``own_calls`` that are no longer mapped to this node."""
        node_id = info.node_id
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.set(self._k(keys.node(node_id)), info.to_json(), px=_ms(self._config.node_ttl_s))
            pipe.zadd(self._k(keys.NODES), {node_id: self._clock()})
            pipe.smembers(self._k(keys.node_calls(node_id)))
            *_, members = await pipe.execute()
        own = list(dict.fromkeys(own_calls))
        ids = own + sorted(set(members) - set(own))
        lost = await self._renew(
            keys=[self._k(keys.node_calls(node_id)), *(self._k(keys.call(call_id)) for call_id in ids)],
            args=[node_id, _ms(self._config.call_ttl_s), len(own), *ids],
        )
        return [str(call_id) for call_id in lost]

    async def withdraw(self, node_id: str) -> None:
        """Take the node out of the registry at once (it is stopping)."""
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.delete(self._k(keys.node(node_id)))
            pipe.zrem(self._k(keys.NODES), node_id)
            await pipe.execute()

    async def nodes(self) -> list[NodeInfo]:
        """The live nodes, with the calls placed on each."""
        # Forget nodes whose heartbeat stopped long ago; a live node re-adds itself anyway.
        await self._redis.zremrangebyscore(
            self._k(keys.NODES), "-inf", self._clock() - 10 * self._config.node_ttl_s
        )
        node_ids = [str(node_id) for node_id in await self._redis.zrange(self._k(keys.NODES), 0, -1)]
        if not node_ids:
            return []
        async with self._redis.pipeline(transaction=False) as pipe:
            for node_id in node_ids:
                pipe.get(self._k(keys.node(node_id)))
                pipe.scard(self._k(keys.node_calls(node_id)))
            replies = await pipe.execute()
        nodes = []
        for index, node_id in enumerate(node_ids):
            raw, placed = replies[2 * index], replies[2 * index + 1]
            if raw is None:
                continue  # its registration expired: the node is dead
            try:
                nodes.append(NodeInfo.from_json(raw, placed=int(placed)))
            except (ValueError, KeyError, TypeError):
                logger.warning("media node %s has an unreadable registration", node_id)
        return nodes

    async def node(self, node_id: str) -> NodeInfo | None:
        """The node if it is alive."""
        raw = await self._redis.get(self._k(keys.node(node_id)))
        return None if raw is None else NodeInfo.from_json(str(raw))

    # -- calls -------------------------------------------------------------------------------

    async def owner(self, call_id: str) -> str | None:
        """The id of the call's node, ``keys.CLOSED`` once closed, or ``None`` if never placed."""
        value = await self._redis.get(self._k(keys.call(call_id)))
        return None if value is None else str(value)

    async def place(self, call_id: str, node_id: str) -> str:
        """Place the call on ``node_id`` unless it already has a node (or is closed); the
        node (or ``keys.CLOSED``) it has now."""
        winner = await self._place(
            keys=[self._k(keys.call(call_id)), self._k(keys.node_calls(node_id))],
            args=[node_id, _ms(self._config.call_ttl_s), call_id],
        )
        return str(winner)

    async def release(self, call_id: str, node_id: str) -> bool:
        """Mark the call closed if it is still on ``node_id``; whether it was."""
        released = await self._release(
            keys=[self._k(keys.call(call_id)), self._k(keys.node_calls(node_id))],
            args=[node_id, keys.CLOSED, _ms(self._config.closed_ttl_s), call_id],
        )
        return bool(released)

    # -- failover ----------------------------------------------------------------------------

    async def dead_nodes_with_calls(self) -> list[str]:
        """Nodes still listed in ``media:nodes`` whose registration has expired and whose call
        set still holds calls: died without withdrawing (SIGKILL, a lost network)."""
        node_ids = [str(node_id) for node_id in await self._redis.zrange(self._k(keys.NODES), 0, -1)]
        if not node_ids:
            return []
        async with self._redis.pipeline(transaction=False) as pipe:
            for node_id in node_ids:
                pipe.exists(self._k(keys.node(node_id)))
                pipe.scard(self._k(keys.node_calls(node_id)))
            replies = await pipe.execute()
        return [
            node_id
            for index, node_id in enumerate(node_ids)
            if not replies[2 * index] and int(replies[2 * index + 1]) > 0
        ]

    async def claim_failover(self, node_id: str) -> bool:
        """Claim the failover of a dead node (``SET NX``): true for exactly one caller."""
        claimed = await self._redis.set(
            self._k(keys.failover(node_id)), "1", nx=True, px=_ms(FAILOVER_CLAIM_TTL_S)
        )
        return bool(claimed)

    async def release_failover(self, node_id: str) -> None:
        """The dead node's calls are all moved: a node that comes back under the same id and
        dies again can be failed over again."""
        await self._redis.delete(self._k(keys.failover(node_id)))

    async def calls_of(self, node_id: str) -> list[str]:
        members = await self._redis.smembers(self._k(keys.node_calls(node_id)))
        return sorted(str(call_id) for call_id in members)

    async def move(self, call_id: str, dead: str, to: str) -> bool:
        """Move the call from ``dead`` to ``to`` if it is still on ``dead`` (compare and set);
        whether it did. The call leaves ``dead``'s call set either way."""
        moved = await self._move(
            keys=[
                self._k(keys.call(call_id)),
                self._k(keys.node_calls(dead)),
                self._k(keys.node_calls(to)),
            ],
            args=[dead, to, _ms(self._config.call_ttl_s), call_id],
        )
        return bool(moved)

    async def drop(self, call_id: str, dead: str) -> bool:
        """No node is left for the call: take it out of ``dead``'s call set; whether it was
        still mapped to ``dead`` (the caller then ends it)."""
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.srem(self._k(keys.node_calls(dead)), call_id)
            pipe.get(self._k(keys.call(call_id)))
            _, owner = await pipe.execute()
        return bool(owner == dead)


def _ms(seconds: float) -> int:
    return max(1, int(seconds * 1000))
