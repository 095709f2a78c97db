"""Every Redis key of the media cluster, spelled here and nowhere else.

Every key gets the installation's prefix (``ClusterConfig.redis_prefix``, the same
``LOKET_REDIS_PREFIX`` as the realtime store; the names do not collide with its keys).

- ``media:nodes``              zset    node id -> time of its last heartbeat (to list nodes
  without a SCAN; an entry whose ``media:node:{id}`` is gone is a dead node, pruned by readers)
- ``media:node:{id}``          string  the node's ``NodeInfo`` as JSON; lives ``node_ttl_s``,
  renewed by every heartbeat, deleted when the node stops
- ``media:node:{id}:calls``    set     call ids placed on the node (the load placement counts);
  pruned by the node's heartbeat of calls no longer mapped to it
- ``media:call:{id}``          string  the id of the node the call is placed on (``SET NX``, so
  every signalling node agrees), or ``CLOSED`` once the call's media is closed; lives
  ``call_ttl_s`` and is renewed by its node's heartbeat while the node holds the call; the
  tombstone lives ``closed_ttl_s``
- ``media:failover:{id}``      string  the claim of a dead node's failover (``SET NX``), so one
  signalling node moves its calls; lives ``failover_claim_ttl_s``
- ``media:ended``              stream  ``{node, call, reason}`` for every call whose media ended
  by itself; read by the consumer group ``ENDED_GROUP`` so one signalling node acts on each
"""

from __future__ import annotations

NODES = "media:nodes"
ENDED = "media:ended"
ENDED_GROUP = "signaling"
# Not a node id (those start with a letter or digit): the call's media is closed.
CLOSED = "!closed"


def node(node_id: str) -> str:
    return f"media:node:{node_id}"


def node_calls(node_id: str) -> str:
    return f"media:node:{node_id}:calls"


def call(call_id: str) -> str:
    return f"media:call:{call_id}"


def failover(node_id: str) -> str:
    return f"media:failover:{node_id}"
