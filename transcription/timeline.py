"""One speaker-labelled timeline from the separately transcribed recordings of a call.

Each participant is recorded (and so transcribed) on their own; a recording starts when consent
allowed it, so each carries its offset from the call's start. Merging shifts every segment by its
recording's offset, labels it with the speaker, and orders all segments by start time.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import TypeVar

from recordings import Participant
from transcription.transcript import Segment

# A participant as the enum or its value ("visitor"); Mapping keys are invariant, hence TypeVars.
TrackKey = TypeVar("TrackKey", Participant, str)
OffsetKey = TypeVar("OffsetKey", Participant, str)

SPEAKER_LABELS: Mapping[Participant, str] = {Participant.VISITOR: "Visitor", Participant.ADVISER: "Adviser"}


def speaker_label(participant: Participant | str) -> str:
    """ "Visitor" or "Adviser"; ``ValueError`` for anything else."""
    return SPEAKER_LABELS[Participant(participant)]


def merge_timeline(
    tracks: Mapping[TrackKey, Sequence[Segment]],
    offsets: Mapping[OffsetKey, float] | None = None,
) -> tuple[Segment, ...]:
    """Merge each participant's segments into one timeline sorted by start time.

    ``offsets`` holds, per participant, when their recording started in seconds after the call's
    start (missing: 0). The sort is stable: segments starting at the same moment keep the order of
    ``tracks`` and, within a track, their own order.
    """
    shifts = {Participant(key): float(value) for key, value in (offsets or {}).items()}
    for participant, shift in shifts.items():
        if not math.isfinite(shift) or shift < 0:
            raise ValueError(f"the offset of the {participant} recording must be >= 0 seconds, not {shift}")
    merged: list[Segment] = []
    for key, segments in tracks.items():
        participant = Participant(key)
        shift = shifts.get(participant, 0.0)
        label = SPEAKER_LABELS[participant]
        merged.extend(
            dataclasses.replace(segment, start=segment.start + shift, end=segment.end + shift, speaker=label)
            for segment in segments
        )
    merged.sort(key=lambda segment: segment.start)
    return tuple(merged)
