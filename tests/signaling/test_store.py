"""One behaviour suite for every realtime backend (memory and Redis)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest

from signaling.store import LockTimeout, MemoryStore, RealtimeStore, RedisStore


@pytest.fixture(params=["memory", "redis"])
def make_store(request: pytest.FixtureRequest) -> Callable[[], RealtimeStore]:
    if request.param == "memory":
        return MemoryStore
    url, prefix = request.getfixturevalue("redis_url"), request.getfixturevalue("redis_prefix")
    return lambda: RedisStore(url, prefix=prefix)


@pytest.fixture
async def store(make_store: Callable[[], RealtimeStore]) -> AsyncIterator[RealtimeStore]:
    backend = make_store()
    await backend.start()
    yield backend
    await backend.stop()


async def test_strings_expire_after_their_lifetime(store: RealtimeStore) -> None:
    await store.set("a", "1", ttl=0.2)
    await store.set("b", "2")
    assert await store.get("a") == "1"
    await asyncio.sleep(0.3)
    assert await store.get("a") is None
    assert await store.get("b") == "2"
    await store.delete("b")
    assert await store.get("b") is None


async def test_counter_window_is_not_extended_by_later_hits(store: RealtimeStore) -> None:
    assert await store.incr("n", ttl=0.3) == 1
    await asyncio.sleep(0.15)
    assert await store.incr("n", ttl=0.3) == 2
    await asyncio.sleep(0.2)
    # The window began at the first hit, so it is over even though the second was recent.
    assert await store.incr("n", ttl=0.3) == 1


async def test_decrement_goes_below_zero_from_nothing(store: RealtimeStore) -> None:
    assert await store.decr("conns") == -1
    assert await store.incr("conns") == 0


async def test_hash_fields_set_read_and_delete(store: RealtimeStore) -> None:
    await store.hset("h", {"a": "1", "b": "2"})
    await store.hset("h", {"b": "3"})
    assert await store.hget("h", "b") == "3"
    assert await store.hgetall("h") == {"a": "1", "b": "3"}
    await store.hdel("h", "a", "b")
    assert await store.hgetall("h") == {}
    assert await store.hget("h", "a") is None


async def test_sorted_set_orders_by_score_then_member(store: RealtimeStore) -> None:
    await store.zadd("z", "late", 3.0)
    await store.zadd("z", "b", 1.0)
    await store.zadd("z", "a", 1.0)
    assert await store.zrange("z") == [("a", 1.0), ("b", 1.0), ("late", 3.0)]
    assert await store.zrangebyscore("z", 1.5) == ["a", "b"]
    assert await store.zrem("z", "a") is True
    assert await store.zrem("z", "a") is False
    await store.zadd("z", "b", 5.0)
    assert await store.zrange("z") == [("late", 3.0), ("b", 5.0)]


async def test_capped_list_keeps_the_newest_items(store: RealtimeStore) -> None:
    for index in range(5):
        await store.rpush_capped("log", str(index), maxlen=3, ttl=10)
    assert await store.lrange("log") == ["2", "3", "4"]
    await store.rpush_capped("short", "x", maxlen=3, ttl=0.2)
    await asyncio.sleep(0.3)
    assert await store.lrange("short") == []


async def test_lock_admits_one_holder_at_a_time(store: RealtimeStore) -> None:
    inside = 0
    most = 0

    async def critical() -> None:
        nonlocal inside, most
        async with store.lock("org:1"):
            inside += 1
            most = max(most, inside)
            await asyncio.sleep(0.02)
            inside -= 1

    await asyncio.gather(*(critical() for _ in range(8)))
    assert most == 1


async def test_locks_with_different_names_do_not_block_each_other(store: RealtimeStore) -> None:
    async with store.lock("org:a"):
        await asyncio.wait_for(_take(store, "org:b"), timeout=1)


async def _take(store: RealtimeStore, name: str, timeout: float = 10.0) -> None:
    # Bounded from outside too, so a lock that never gives up fails the test instead of hanging it.
    async with asyncio.timeout(timeout + 2):
        async with store.lock(name, timeout=timeout):
            pass


async def test_taking_a_held_lock_gives_up_after_the_timeout(store: RealtimeStore) -> None:
    loop = asyncio.get_running_loop()
    async with store.lock("org:1", timeout=5):
        started = loop.time()
        with pytest.raises(LockTimeout):
            await _take(store, "org:1", timeout=0.3)
        assert loop.time() - started < 1.5


async def test_a_holder_past_the_timeout_loses_the_lock_to_the_next_taker(store: RealtimeStore) -> None:
    loop = asyncio.get_running_loop()
    entered = asyncio.Event()

    async def overstay() -> None:
        async with store.lock("org:1", timeout=0.2):
            entered.set()
            await asyncio.sleep(1.0)

    first = asyncio.create_task(overstay())
    await entered.wait()
    started = loop.time()
    async with store.lock("org:1", timeout=5):
        # In once the first hold's 0.2 s ran out, long before its holder left.
        assert loop.time() - started < 0.7
        # The overstaying holder learns on leaving that it lost the lock ...
        with pytest.raises(LockTimeout):
            await first
        # ... and its leaving did not free the lock the next taker holds now.
        with pytest.raises(LockTimeout):
            await _take(store, "org:1", timeout=0.2)


async def test_ping_reports_a_reachable_backend(store: RealtimeStore) -> None:
    assert await store.ping() is True


async def test_redis_store_reports_an_unreachable_server() -> None:
    unreachable = RedisStore("redis://127.0.0.1:1/0")
    try:
        assert await unreachable.ping() is False
    finally:
        await unreachable.stop()


async def test_published_messages_reach_every_subscriber_in_order(
    make_store: Callable[[], RealtimeStore],
) -> None:
    publisher = make_store()
    # Redis: another connection, as another node has; memory: the one process's own store.
    listener = publisher if isinstance(publisher, MemoryStore) else make_store()
    await publisher.start()
    await listener.start()
    try:
        await publisher.publish("news", "before anyone listened")
        async with listener.subscribe("news") as first, publisher.subscribe("news") as second:
            await publisher.publish("news", "one")
            await publisher.publish("other", "elsewhere")
            await publisher.publish("news", "two")
            for messages in (first, second):
                async with asyncio.timeout(2):
                    assert [await anext(messages), await anext(messages)] == ["one", "two"]
    finally:
        await listener.stop()
        await publisher.stop()


async def test_memory_store_sweeps_keys_nobody_reads_again() -> None:
    store = MemoryStore(sweep_seconds=0.1)
    await store.start()
    try:
        for address in range(100):
            await store.incr(f"rate:widget-ip:198.51.100.{address}:1", ttl=0.1)
        await store.set("kept", "1")
        assert store.key_count() == 101
        await asyncio.sleep(0.35)
        assert store.key_count() == 1
        assert await store.get("kept") == "1"
    finally:
        await store.stop()


async def test_many_operations_at_once_all_succeed(store: RealtimeStore) -> None:
    # A waiting room of a thousand sockets connecting at once asks for far more operations at
    # the same moment than any connection pool holds; each must wait its turn, not fail.
    async def touch(i: int) -> None:
        await store.hset(f"crowd:{i}", {"n": str(i)})
        assert await store.hget(f"crowd:{i}", "n") == str(i)

    await asyncio.gather(*(touch(i) for i in range(600)))
    await store.delete(*(f"crowd:{i}" for i in range(600)))


async def test_takers_of_a_held_lock_are_served_in_the_order_they_came(store: RealtimeStore) -> None:
    # Unfair waking (every waiter races, or polls on its own clock) lets a late joiner of the
    # queue overtake one who has waited long: the tail of join latency under load.
    order: list[int] = []

    async def take(n: int) -> None:
        async with store.lock("org:fifo", timeout=10):
            order.append(n)
            await asyncio.sleep(0.01)

    async with store.lock("org:fifo", timeout=10):
        takers = []
        for n in range(12):
            takers.append(asyncio.create_task(take(n)))
            await asyncio.sleep(0.02)  # each is waiting before the next comes
    await asyncio.wait_for(asyncio.gather(*takers), timeout=10)
    assert order == list(range(12))
