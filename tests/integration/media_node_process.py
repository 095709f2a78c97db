"""A media node in a process of its own, for the tests that kill one: ``python -m
tests.integration.media_node_process`` with its settings in ``LOKET_TEST_NODE_*`` variables.

Until ``loket media`` wires the node from the shell's settings, this is the smallest program that
runs a ``MediaNode``; it prints ``ready {internal url}`` once the node is registered, and stops
cleanly on SIGTERM or SIGINT."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

from media import MediaConfig
from media.node import ClusterConfig, MediaNode, NodeConfig


async def main() -> None:
    env = os.environ
    node = MediaNode(
        config=NodeConfig(node_id=env["LOKET_TEST_NODE_ID"], spool_dir=Path(env["LOKET_TEST_NODE_SPOOL"])),
        cluster=ClusterConfig(
            redis_url=env["LOKET_TEST_NODE_REDIS_URL"],
            redis_prefix=env["LOKET_TEST_NODE_REDIS_PREFIX"],
            secret=env["LOKET_TEST_NODE_SECRET"],
        ),
        media=MediaConfig(allow_private_candidates=True),
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await node.start()
    print(f"ready {node.url}", flush=True)
    try:
        await stop.wait()
    finally:
        await node.stop()


if __name__ == "__main__":
    asyncio.run(main())
