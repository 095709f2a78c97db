"""Where a call's media runs, behind one interface, so signalling does not change when media
moves out of process: ``InProcessPlacement`` here, ``media.remote.RemotePlacement`` on media nodes."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import AsyncIterator, Iterable, Mapping
from pathlib import Path
from typing import Protocol

from media.call import MediaCall
from media.config import MediaConfig
from media.errors import LegClosedError, SpoolPathError
from media.recorder import Recorder, RecordingError, RecordingResult
from media.spool import spool_file
from media.types import Party

logger = logging.getLogger(__name__)

# The reason ``ended()`` gives for a call whose media node died and that was placed on another
# live node: the call goes on, and both parties must negotiate afresh (``media:renegotiate``).
MEDIA_NODE_LOST = "media_node_lost"
# The reason for a call whose media node died with no live node left to take it: it ends.
MEDIA_UNAVAILABLE = "media_unavailable"


class MediaPlacement(Protocol):
    """What signalling asks of media. Calls are named by their call id."""

    async def start(self) -> None: ...

    async def stop(self) -> None:
        """Close every call (idempotent)."""
        ...

    async def place(self, call_id: str) -> str | None:
        """Choose where the call's media runs, before its first offer (when it is accepted).

        The id of the media node it is placed on, or ``None`` where media is in this process.
        ``MediaUnavailable`` when no media node is alive to take it."""
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

    async def release_leg(self, call_id: str, party: Party) -> None:
        """Retire ``party``'s leg and leave a fresh one for the next offer as ``party`` (a call
        transferred to another adviser); the other party's leg goes on. Unknown ids are fine."""
        ...

    async def close_call(self, call_id: str) -> None:
        """Close the call's media (idempotent; unknown ids are fine)."""
        ...

    def ended(self) -> AsyncIterator[tuple[str, str]]:
        """``(call_id, reason)`` for every call whose media ended by itself (a leg failed or
        a party closed its connection), not for calls closed through :meth:`close_call`.

        ``MEDIA_NODE_LOST`` is not an end: the call's node died and the call was placed on
        another one (media nodes only); its parties must offer again."""
        ...

    async def start_recording(self, call_id: str, paths: Mapping[Party, Path]) -> None:
        """Record each party in ``paths`` into its file (remuxed, from the next keyframe).

        A path is a spool key (``media.spool``): relative, resolved under the spool directory
        of the process that records, which for a media node is on its own disk."""
        ...

    async def stop_recording(self, call_id: str) -> dict[Party, RecordingResult]:
        """Stop the call's recorders (within a second) and say what each wrote; a result's
        ``path`` is the key it was started with (``None``: no file was written)."""
        ...


class InProcessPlacement:
    """Media in this process: one ``MediaCall`` per call, created at the first offer.

    Recordings go under ``spool_dir`` by key; an absolute path is still taken as it is, from
    a caller in this process (the embedded default spools where its worker uploads from).
    """

    def __init__(self, config: MediaConfig, *, spool_dir: Path | None = None) -> None:
        self._config = config
        self._spool_dir = spool_dir
        self._calls: dict[str, MediaCall] = {}
        self._closing: set[str] = set()
        self._ended: asyncio.Queue[tuple[str, str]] = asyncio.Queue()
        # Kept apart from the calls: a call whose media ended still has files to finish.
        self._recorders: dict[str, dict[Party, Recorder]] = {}
        # What each recorder's caller named its file (a key or an absolute path).
        self._names: dict[str, dict[Party, Path]] = {}

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        for call_id in {*self._calls, *self._recorders}:
            await self.close_call(call_id)

    async def place(self, call_id: str) -> str | None:
        # The media is here, created at the first offer: nothing to choose.
        return None

    def _call(self, call_id: str) -> MediaCall:
        call = self._calls.get(call_id)
        if call is None:
            if call_id in self._closing:
                raise LegClosedError("this call's media is closed")
            call = MediaCall(config=self._config, call_id=call_id, on_ended=self._on_ended)
            self._calls[call_id] = call
        return call

    async def answer(self, call_id: str, party: Party, sdp: str, sdp_type: str) -> tuple[str, str]:
        # An offer from a new transport replaces the party's leg (media/call.py).
        return await self._call(call_id).answer(party, sdp, sdp_type)

    async def add_candidate(
        self,
        call_id: str,
        party: Party,
        candidate: str | None,
        sdp_mid: str | None,
        sdp_mline_index: int | None,
    ) -> bool:
        return await self._call(call_id).add_candidate(party, candidate, sdp_mid, sdp_mline_index)

    async def start_recording(self, call_id: str, paths: Mapping[Party, Path]) -> None:
        files = {party: self._spool_file(path) for party, path in paths.items()}
        await asyncio.to_thread(_make_folders, files.values())
        if call_id in self._recorders:
            raise RecordingError("this call is already being recorded")
        call = self._call(call_id)
        # The party's sources, not its leg's streams: a recording goes on in the same file
        # when the party's leg is replaced (from the new leg's first keyframe).
        recorders = {
            party: Recorder(call.source(party, "video"), call.source(party, "audio"), file)
            for party, file in files.items()
        }
        self._recorders[call_id] = recorders
        self._names[call_id] = dict(paths)
        for recorder in recorders.values():
            await recorder.start()

    async def stop_recording(self, call_id: str) -> dict[Party, RecordingResult]:
        recorders = self._recorders.pop(call_id, {})
        names = self._names.pop(call_id, {})
        results = {}
        for party, recorder in recorders.items():
            result = await recorder.stop()
            if result.path is not None:
                result = dataclasses.replace(result, path=names[party])
            results[party] = result
        return results

    def _spool_file(self, path: Path) -> Path:
        if path.is_absolute():
            return path
        if self._spool_dir is None:
            raise SpoolPathError("this media process has no spool directory for keys")
        return spool_file(self._spool_dir, path)

    async def release_leg(self, call_id: str, party: Party) -> None:
        call = self._calls.get(call_id)
        if call is not None:
            await call.release(party)

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

    def call_ids(self) -> list[str]:
        """The calls with media here now (a media node renews their placement)."""
        return list(self._calls)


def _make_folders(files: Iterable[Path]) -> None:
    for file in files:
        file.parent.mkdir(parents=True, exist_ok=True)
