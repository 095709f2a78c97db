"""A shutdown step that hangs is logged by name and left behind; the steps after it still run."""

from __future__ import annotations

import asyncio
import logging

import pytest

from loket.lifecycle import _bounded


async def test_a_hanging_step_is_named_and_left_behind(caplog: pytest.LogCaptureFixture) -> None:
    done: list[str] = []

    async def hangs() -> None:
        await asyncio.Event().wait()

    async def stops() -> None:
        done.append("stopped")

    with caplog.at_level(logging.ERROR, logger="loket.lifecycle"):
        await _bounded("realtime store", hangs(), seconds=0.05)
        await _bounded("database", stops(), seconds=0.05)
    assert done == ["stopped"]
    assert [record.getMessage() for record in caplog.records] == [
        "shutdown: stopping the realtime store took over 0.05 s; going on without it"
    ]
