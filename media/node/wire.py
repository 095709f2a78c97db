"""The bodies of the internal channel, validated at the edge (pydantic) and converted once.

Routes (every request signed, ``media.node.auth``; errors are ``{"error": {code, message}}``):

- ``GET    /internal/v1/node``                                   -> ``NodeStatus``
- ``POST   /internal/v1/calls/{call_id}/legs/{party}/answer``    ``Offer`` -> ``Answer``
- ``POST   /internal/v1/calls/{call_id}/legs/{party}/candidates`` ``Candidate`` -> ``CandidateUsed``
- ``PUT    /internal/v1/calls/{call_id}/recording``              ``RecordingStart`` -> ``RecordingStarted``
- ``DELETE /internal/v1/calls/{call_id}/recording``              -> ``RecordingStopped``
- ``DELETE /internal/v1/calls/{call_id}/legs/{party}``           -> 204 (a fresh leg: a transfer)
- ``DELETE /internal/v1/calls/{call_id}``                        -> 204
"""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ConfigDict, Field

from media.recorder import RecordingResult
from media.types import Party

PREFIX = "/internal/v1"
ReplyT = TypeVar("ReplyT", bound=BaseModel)
# An SDP offer of a browser is a few kilobytes; a candidate line a few hundred bytes.
_MAX_SDP = 64 * 1024


def call_path(call_id: str) -> str:
    return f"{PREFIX}/calls/{call_id}"


def party_path(call_id: str, party: str) -> str:
    """The party's leg itself (``DELETE``: retire it for a fresh one, a transfer)."""
    return f"{PREFIX}/calls/{call_id}/legs/{party}"


def leg_path(call_id: str, party: str, action: str) -> str:
    return f"{PREFIX}/calls/{call_id}/legs/{party}/{action}"


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Offer(_Body):
    sdp: str = Field(max_length=_MAX_SDP)
    type: str = Field(max_length=16)


class Answer(_Body):
    sdp: str
    type: str


class Candidate(_Body):
    candidate: str | None = Field(default=None, max_length=1024)
    sdp_mid: str | None = Field(default=None, max_length=64)
    sdp_mline_index: int | None = Field(default=None, ge=0, le=1024)


class CandidateUsed(_Body):
    used: bool


class RecordingStart(_Body):
    """Spool keys (``media.spool``) of the files to write, per party."""

    files: dict[Party, str] = Field(min_length=1)


class RecordingStarted(_Body):
    recording: bool = True


class Recorded(_Body):
    """A ``RecordingResult`` on the wire; ``path`` is the spool key."""

    path: str | None
    bytes: int = Field(ge=0)
    duration_seconds: float = Field(ge=0)
    video_frames: int
    audio_frames: int
    dropped: int
    skipped: int
    writer_cpu_seconds: float

    @classmethod
    def of(cls, result: RecordingResult) -> Recorded:
        return cls(
            path=None if result.path is None else Path(result.path).as_posix(),
            bytes=result.bytes,
            duration_seconds=result.duration_seconds,
            video_frames=result.video_frames,
            audio_frames=result.audio_frames,
            dropped=result.dropped,
            skipped=result.skipped,
            writer_cpu_seconds=result.writer_cpu_seconds,
        )

    def result(self) -> RecordingResult:
        return RecordingResult(
            path=None if self.path is None else Path(self.path),
            bytes=self.bytes,
            duration_seconds=self.duration_seconds,
            video_frames=self.video_frames,
            audio_frames=self.audio_frames,
            dropped=self.dropped,
            skipped=self.skipped,
            writer_cpu_seconds=self.writer_cpu_seconds,
        )


class RecordingStopped(_Body):
    results: dict[Party, Recorded]


class NodeStatus(_Body):
    node_id: str
    calls: int
    load: float


class ErrorDetail(_Body):
    code: str
    message: str


class ErrorBody(_Body):
    error: ErrorDetail
