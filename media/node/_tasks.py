"""What the media node's long-running loops share."""

from __future__ import annotations

import asyncio


def raise_if_cancelled() -> None:
    """Raise ``CancelledError`` if this task has been asked to stop.

    On Python 3.11, ``asyncio.wait_for`` loses a cancellation that arrives as its inner
    operation finishes (CPython gh-86296, fixed in 3.12); redis-py wraps every socket write in
    it. A loop that only waits on Redis would then never see its cancellation and run on for
    ever; checking ``Task.cancelling()`` once per turn ends it at the next turn.
    """
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError
