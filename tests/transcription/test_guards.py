"""The last guards against hallucination: loops are kept once, caption credits dropped, and real
speech (repeated digits, emphasis, a phrase said twice) left alone."""

from __future__ import annotations

import pytest

from transcription import Segment
from transcription.guards import clean, collapse_loops, drop_repeated_segments, is_caption_hallucination


@pytest.mark.parametrize(
    ("looping", "kept"),
    [
        # As Whisper base wrote espeak-ng Dutch and French: four words, four times.
        (
            "Mijn nummer is voor de deur voor de deur voor de deur voor de deur.",
            "Mijn nummer is voor de deur",
        ),
        ("C'est la fin de la c'est la fin de la c'est la fin de la", "C'est la fin de la"),
        ("rijd, rijd, rijd, rijd, rijd, rijd, rijd, rijd.", "rijd,"),
        ("Danke. Danke. Danke. Danke. Tschüss.", "Danke. Tschüss."),
    ],
)
def test_a_looping_phrase_is_kept_once(looping: str, kept: str) -> None:
    assert collapse_loops(looping) == kept


@pytest.mark.parametrize(
    "speech",
    [
        "nee nee nee, dat klopt niet",
        "Mein Auto, mein Auto ist kaputt.",
        "Die Nummer ist 0 0 0 0 0 1.",
        "zero zero seven, zero zero seven, zero zero seven",
        "Bonjour, je vous appelle au sujet de ma voiture, de ma voiture de location.",
    ],
)
def test_real_speech_is_left_alone(speech: str) -> None:
    assert collapse_loops(speech) == speech
    assert clean(speech) == speech


@pytest.mark.parametrize(
    "caption",
    [
        "Ondertiteld door de Amara.org gemeenschap",
        "Ondertiteling TV Gelderland 2021",
        "Untertitel im Auftrag des ZDF, 2017",
        "Untertitelung aufgrund der Amara.org-Community",
        "Sous-titres réalisés par la communauté d'Amara.org",
        "Merci d'avoir regardé cette vidéo !",
        "Thanks for watching!",
        "Vielen Dank fürs Zuschauen.",
        "Bedankt voor het kijken.",
    ],
)
def test_caption_credits_whisper_learned_from_subtitles_are_dropped(caption: str) -> None:
    assert is_caption_hallucination(caption) and clean(caption) == ""


def test_a_segment_said_three_times_in_a_row_is_kept_once_and_twice_is_kept() -> None:
    loop = [Segment(float(i), float(i) + 1, "Ik bel over mijn auto.") for i in range(4)]
    twice = [Segment(10.0, 11.0, "Ja."), Segment(11.0, 12.0, "ja")]
    kept = drop_repeated_segments([*loop, Segment(5.0, 6.0, "Dank u."), *twice])
    assert [(s.start, s.text) for s in kept] == [
        (0.0, "Ik bel over mijn auto."),
        (5.0, "Dank u."),
        (10.0, "Ja."),
        (11.0, "ja"),
    ]
