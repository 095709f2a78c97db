"""Redis clients whose operations wait for a connection: the realtime store, the socket.io
manager and the media registry each make one."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from redis.asyncio import Redis

# Connections one client keeps to Redis. More operations at once wait for a free one: redis-py's
# default pool raises "Too many connections" past 100, which a waiting room of a thousand
# sockets connecting at once reaches (a 500 for the visitors who came last).
POOL_CONNECTIONS = 64
# How long an operation waits for a connection before it fails like a lost Redis.
POOL_WAIT_SECONDS = 10.0


def pooled_redis(url: str, **options: Any) -> Redis:
    """A Redis client whose operations queue for one of ``POOL_CONNECTIONS`` connections."""
    from redis.asyncio import BlockingConnectionPool, Redis

    pool = BlockingConnectionPool.from_url(
        url, max_connections=POOL_CONNECTIONS, timeout=POOL_WAIT_SECONDS, **options
    )
    return Redis.from_pool(pool)
