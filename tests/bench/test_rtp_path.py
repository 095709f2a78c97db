"""``bench.rtp_path`` measures what it says: every captured packet is forwarded, sent and
counted, on this checkout's ``media`` (the timing itself is not a test)."""

from __future__ import annotations

from bench import rtp_path


async def test_the_micro_path_forwards_sends_and_counts_every_packet() -> None:
    captured = rtp_path._captured(10)
    result = await rtp_path._child_async(10)

    relay, send, receive = result["relay"], result["client_send"], result["client_receive"]
    assert relay["packets"] == relay["datagrams"] == len(captured)  # each one forwarded, once
    assert send["packets"] == send["datagrams"] == len(captured)
    assert receive["packets"] == len(captured)
    assert all(part["cpu_ns"] > 0 for part in (relay, send, receive))
