"""The socket.io Redis manager leaves no Redis connection open when the node stops, even when
python-socketio replaced its client on the way (a publish racing the listener's first connect,
or a reconnect after a Redis error)."""

from __future__ import annotations

import asyncio
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


async def test_a_burst_of_emits_reaches_redis_whole(redis_url: str, redis_prefix: str) -> None:
    # More emits at once than a connection pool holds (a thousand sockets connecting): each waits
    # for a connection. None fails with "Too many connections", which python-socketio answers by
    # making a new client, and with it a new pubsub: the listener's old one is closed a few
    # seconds later, and events from other nodes are missed until it subscribes again.
    channel = f"{redis_prefix}socketio"
    listener = Redis.from_url(redis_url)
    pubsub = listener.pubsub(ignore_subscribe_messages=True)
    await pubsub.subscribe(channel)
    manager = RedisManager(redis_url, channel=channel)
    sio = socketio.AsyncServer(async_mode="aiohttp", client_manager=manager)
    try:
        await manager._publish({"method": "emit", "n": -1})
        client = manager.redis
        await asyncio.gather(*(manager._publish({"method": "emit", "n": n}) for n in range(300)))
        received = 0
        deadline = asyncio.get_running_loop().time() + 5.0
        while received < 301 and asyncio.get_running_loop().time() < deadline:
            # None also for the subscription's own confirmation, which is ignored
            if await pubsub.get_message(timeout=0.5) is not None:
                received += 1
        assert received == 301
        assert manager.redis is client
    finally:
        await stop_socketio_redis(sio)
        await pubsub.aclose()
        await listener.aclose()
