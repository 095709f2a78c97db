"""Merging the participants' separately transcribed recordings into one labelled timeline."""

from __future__ import annotations

import pytest

from recordings import Participant
from transcription import Segment, merge_timeline, speaker_label


def test_segments_are_shifted_by_their_recording_offset_labelled_and_sorted() -> None:
    visitor = [Segment(0.0, 1.0, "Hello?"), Segment(4.0, 5.0, "My brakes squeak.")]
    adviser = [Segment(0.0, 2.0, "Good morning, how can I help?"), Segment(5.0, 6.0, "Since when?")]
    merged = merge_timeline({"visitor": visitor, "adviser": adviser}, {"adviser": 1.5})
    assert [(s.start, s.end, s.speaker, s.text) for s in merged] == [
        (0.0, 1.0, "Visitor", "Hello?"),
        (1.5, 3.5, "Adviser", "Good morning, how can I help?"),
        (4.0, 5.0, "Visitor", "My brakes squeak."),
        (6.5, 7.5, "Adviser", "Since when?"),
    ]


def test_equal_start_times_keep_track_order_then_segment_order() -> None:
    merged = merge_timeline(
        {
            Participant.ADVISER: [Segment(1.0, 2.0, "a1"), Segment(1.0, 1.5, "a2")],
            Participant.VISITOR: [Segment(0.0, 1.0, "v0"), Segment(1.0, 3.0, "v1")],
        },
        {},
    )
    assert [s.text for s in merged] == ["v0", "a1", "a2", "v1"]
    merged = merge_timeline(
        {"visitor": [Segment(1.0, 3.0, "v1")], "adviser": [Segment(1.0, 2.0, "a1")]},
    )
    assert [s.text for s in merged] == ["v1", "a1"]


def test_unknown_participants_and_negative_offsets_are_refused() -> None:
    with pytest.raises(ValueError):
        merge_timeline({"supervisor": [Segment(0.0, 1.0, "hi")]})
    with pytest.raises(ValueError, match="offset"):
        merge_timeline({"visitor": [Segment(0.0, 1.0, "hi")]}, {"visitor": -1.0})
    assert speaker_label("adviser") == "Adviser"
