"""Where a call's media runs, behind one interface, so signalling does not change when media
moves out of process: ``InProcessPlacement`` now, a remote media node later."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Protocol

from media.call import MediaCall
from media.config import MediaConfig
from media.errors import LegClosedError
from media.recorder import Recorder, RecordingError, RecordingResult
from media.types import Party

logger = logging.getLogger(__name__)


class MediaPlacement(Protocol):
    """What signalling asks of media. Calls are named by their call id."""

    async def start(self) -> None: ...

    async def stop(self) -> None:
        """Close every call (idempotent)."""
        ...

    async def answer(self, call_id: str, party: Party, sdp: str, sdp_type: str) -> tuple[str, str]:
        """Apply ``party``'s offer to its leg of the call (created on first use); the answer."""
        ...

    async def add_candidate(
        self,
        call_id: str,
        party: Party,
        candidate: str | None,
        sdp_mid: str | None,
        sdp_mline_index: int | None,
    ) -> bool:
        """Add a trickled remote candidate; False when it was ignored (address not allowed)."""
        ...

    async def close_call(self, call_id: str) -> None:
        """Close the call's media (idempotent; unknown ids are fine)."""
        ...

    def ended(self) -> AsyncIterator[tuple[str, str]]:
        """``(call_id, reason)`` for every call whose media ended by itself (a leg failed or
        a party closed its connection), not for calls closed through :meth:`close_call`."""
        ...

    async def start_recording(self, call_id: str, paths: Mapping[Party, Path]) -> None:
        """Record each party in ``paths`` into its file (remuxed, from the next keyframe)."""
        ...

    async def stop_recording(self, call_id: str) -> dict[Party, RecordingResult]:
        """Stop the call's recorders (within a second) and say what each wrote."""
        ...


class InProcessPlacement:
    """Media in this process: one ``MediaCall`` per call, created at the first offer."""

    def __init__(self, config: MediaConfig) -> None:
        self._config = config
        self._calls: dict[str, MediaCall] = {}
        self._closing: set[str] = set()
        self._ended: asyncio.Queue[tuple[str, str]] = asyncio.Queue()
        # Kept apart from the calls: a call whose media ended still has files to finish.
        self._recorders: dict[str, dict[Party, Recorder]] = {}

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        for call_id in {*self._calls, *self._recorders}:
            await self.close_call(call_id)

    def _call(self, call_id: str) -> MediaCall:
        call = self._calls.get(call_id)
        if call is None:
            if call_id in self._closing:
                raise LegClosedError("this call's media is closed")
            call = MediaCall(config=self._config, call_id=call_id, on_ended=self._on_ended)
            self._calls[call_id] = call
        return call

    async def answer(self, call_id: str, party: Party, sdp: str, sdp_type: str) -> tuple[str, str]:
        return await self._call(call_id).leg(party).answer(sdp, sdp_type)

    async def add_candidate(
        self,
        call_id: str,
        party: Party,
        candidate: str | None,
        sdp_mid: str | None,
        sdp_mline_index: int | None,
    ) -> bool:
        return await self._call(call_id).leg(party).add_ice_candidate(candidate, sdp_mid, sdp_mline_index)

    async def start_recording(self, call_id: str, paths: Mapping[Party, Path]) -> None:
        if call_id in self._recorders:
            raise RecordingError("this call is already being recorded")
        call = self._call(call_id)
        recorders = {party: Recorder.for_leg(call.leg(party), path) for party, path in paths.items()}
        self._recorders[call_id] = recorders
        for recorder in recorders.values():
            await recorder.start()

    async def stop_recording(self, call_id: str) -> dict[Party, RecordingResult]:
        recorders = self._recorders.pop(call_id, {})
        return {party: await recorder.stop() for party, recorder in recorders.items()}

    async def close_call(self, call_id: str) -> None:
        if call_id in self._recorders:
            # Signalling stops recording first; this only keeps files from staying open.
            logger.warning("call %s closed while recording; finishing its files", call_id)
            await self.stop_recording(call_id)
        call = self._calls.get(call_id)
        self._closing.add(call_id)
        if call is not None:
            await call.close("call_ended")
            self._calls.pop(call_id, None)

    def _on_ended(self, call: MediaCall, reason: str) -> None:
        self._calls.pop(call.call_id, None)
        if call.call_id not in self._closing:
            self._closing.add(call.call_id)
            self._ended.put_nowait((call.call_id, reason))

    async def ended(self) -> AsyncIterator[tuple[str, str]]:
        while True:
            yield await self._ended.get()

    def active_calls(self) -> int:
        return len(self._calls)
