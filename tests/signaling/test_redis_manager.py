"""The socket.io Redis manager leaves no Redis connection open when the node stops, even when
python-socketio replaced its client on the way (a publish racing the listener's first connect,
or a reconnect after a Redis error)."""

from __future__ import annotations

import secrets

import socketio
from redis.asyncio import Redis

from loket.app import stop_socketio_redis
from signaling.redis_manager import RedisManager


async def clients_named(redis_url: str, name: str) -> int:
    admin = Redis.from_url(redis_url)
    try:
        return sum(1 for client in await admin.client_list() if client.get("name") == name)
    finally:
        await admin.aclose()


async def test_a_replaced_client_is_closed_when_the_node_stops(redis_url: str, redis_prefix: str) -> None:
    name = f"loket-test-{secrets.token_hex(4)}"
    manager = RedisManager(redis_url, channel=f"{redis_prefix}socketio", redis_options={"client_name": name})
    sio = socketio.AsyncServer(async_mode="aiohttp", client_manager=manager)
    # An emit before the listener task has connected: python-socketio connects a client for it ...
    await manager._publish({"method": "emit", "event": "nothing", "data": None})
    replaced = manager.redis  # held, so only closing it (not the garbage collector) ends its connection
    # ... and the listener's first connect replaces that client (as does a reconnect after an error).
    manager._redis_connect()
    assert manager.redis is not replaced
    await manager.redis.ping()
    assert await clients_named(redis_url, name) == 2

    await stop_socketio_redis(sio)

    assert await clients_named(redis_url, name) == 0
