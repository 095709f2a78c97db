"""The realtime store: the state every signalling node shares (queues, presence, rings, the
resume log, rate limits, locks).

``RealtimeStore`` is the protocol; ``MemoryStore`` keeps the state in this process (one node),
``RedisStore`` in Redis (several nodes). ``keys`` is the only place that spells a key.
"""

from signaling.store import keys
from signaling.store.memory import MemoryStore
from signaling.store.protocol import LockNotTaken, LockTimeout, RealtimeStore
from signaling.store.redis import RedisStore

__all__ = ["LockNotTaken", "LockTimeout", "MemoryStore", "RealtimeStore", "RedisStore", "keys"]
