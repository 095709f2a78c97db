"""Realtime state in Redis, shared by every signalling node (the same behaviour as
``MemoryStore``, proven by the shared suite in ``tests/signaling/test_store.py``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import TYPE_CHECKING

from db.redis_pool import pooled_redis
from signaling.store import keys
from signaling.store.protocol import LockNotTaken, LockTimeout
from signaling.store.waiting_line import WaitingLines

if TYPE_CHECKING:
    from redis.asyncio import Redis


# How often the head of a lock's line asks Redis again for a lock another node holds (redis-py
# asks every 0.1 s, which leaves the lock idle for most of a handover).
LOCK_POLL_SECONDS = 0.005


class RedisStore:
    """Realtime state in Redis; every key is prefixed so installations and tests can share a server."""

    def __init__(self, url: str, *, prefix: str = "loket:") -> None:
        self._redis: Redis = pooled_redis(url, decode_responses=True)
        self._prefix = prefix
        self._lines = WaitingLines()

    def _k(self, key: str) -> str:
        return self._prefix + key

    async def start(self) -> None:
        await self._redis.ping()

    async def stop(self) -> None:
        await self._redis.aclose()

    async def ping(self) -> bool:
        try:
            return bool(await self._redis.ping())
        except OSError:
            return False
        except Exception:  # redis raises its own ConnectionError, not an OSError
            return False

    async def get(self, key: str) -> str | None:
        value = await self._redis.get(self._k(key))
        return None if value is None else str(value)

    async def set(self, key: str, value: str, ttl: float | None = None) -> None:
        await self._redis.set(self._k(key), value, px=None if ttl is None else int(ttl * 1000))

    async def delete(self, *keys: str) -> None:
        if keys:
            await self._redis.delete(*(self._k(key) for key in keys))

    async def expire(self, key: str, ttl: float) -> None:
        await self._redis.pexpire(self._k(key), int(ttl * 1000))

    async def incr(self, key: str, ttl: float | None = None) -> int:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.incr(self._k(key))
            if ttl is not None:
                # NX: only when the key has no lifetime yet, so a fixed window is not extended.
                pipe.pexpire(self._k(key), int(ttl * 1000), nx=True)
            result = await pipe.execute()
        return int(result[0])

    async def decr(self, key: str) -> int:
        return int(await self._redis.decr(self._k(key)))

    async def hset(self, key: str, mapping: dict[str, str]) -> None:
        await self._redis.hset(self._k(key), mapping=mapping)  # type: ignore[arg-type]

    async def hget(self, key: str, field: str) -> str | None:
        value = await self._redis.hget(self._k(key), field)
        return None if value is None else str(value)

    async def hgetall(self, key: str) -> dict[str, str]:
        raw = await self._redis.hgetall(self._k(key))
        return {str(name): str(value) for name, value in raw.items()}

    async def hdel(self, key: str, *fields: str) -> None:
        if fields:
            await self._redis.hdel(self._k(key), *fields)

    async def zadd(self, key: str, member: str, score: float) -> None:
        await self._redis.zadd(self._k(key), {member: score})

    async def zrem(self, key: str, member: str) -> bool:
        return bool(await self._redis.zrem(self._k(key), member))

    async def zrange(self, key: str) -> list[tuple[str, float]]:
        rows = await self._redis.zrange(self._k(key), 0, -1, withscores=True)
        return [(str(member), float(score)) for member, score in rows]  # type: ignore[str-unpack]

    async def zrangebyscore(self, key: str, max_score: float) -> list[str]:
        return [str(m) for m in await self._redis.zrangebyscore(self._k(key), "-inf", max_score)]

    async def zrank(self, key: str, member: str) -> int | None:
        rank = await self._redis.zrank(self._k(key), member)
        return None if rank is None else int(rank)  # type: ignore[arg-type]

    async def rpush_capped(self, key: str, value: str, maxlen: int, ttl: float) -> None:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.rpush(self._k(key), value)
            pipe.ltrim(self._k(key), -maxlen, -1)
            pipe.pexpire(self._k(key), int(ttl * 1000))
            await pipe.execute()

    async def lrange(self, key: str) -> list[str]:
        return [str(item) for item in await self._redis.lrange(self._k(key), 0, -1)]

    @asynccontextmanager
    async def _locked(self, name: str, timeout: float) -> AsyncIterator[None]:
        from redis.exceptions import LockError

        # redis-py's Lock is a token in a key with a lifetime, released by a Lua script that
        # checks the token, so a stalled holder cannot release someone else's lock. It raises
        # LockError when not taken in time and LockNotOwnedError (a LockError) on leaving
        # a lock that expired meanwhile: both are our LockTimeout. Only the head of this
        # process's line polls for it (waiting_line).
        lock = self._redis.lock(self._k(keys.lock(name)), timeout=timeout, sleep=LOCK_POLL_SECONDS)
        try:
            async with self._lines.head_of_line(name, timeout) as left:
                taken = await lock.acquire(blocking_timeout=left)
        except TimeoutError:
            taken = False
        if not taken:
            raise LockNotTaken(f"lock {name!r} not taken within {timeout} s")
        try:
            yield
        finally:
            try:
                await lock.release()
            except LockError as exc:
                raise LockTimeout(f"lock {name!r} was held past its timeout and lost") from exc

    def lock(self, name: str, timeout: float = 10.0) -> AbstractAsyncContextManager[None]:
        return self._locked(name, timeout)

    async def publish(self, channel: str, message: str) -> None:
        await self._redis.publish(self._k(channel), message)

    @asynccontextmanager
    async def _subscribed(self, channel: str) -> AsyncIterator[AsyncIterator[str]]:
        pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
        try:
            # Awaited here, so a message published once this returns is delivered.
            await pubsub.subscribe(self._k(channel))

            async def messages() -> AsyncIterator[str]:
                async for message in pubsub.listen():
                    if message.get("type") == "message":
                        yield str(message["data"])

            yield messages()
        finally:
            await pubsub.aclose()

    def subscribe(self, channel: str) -> AbstractAsyncContextManager[AsyncIterator[str]]:
        return self._subscribed(channel)
