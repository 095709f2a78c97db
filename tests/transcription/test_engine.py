"""The Whisper engine with the real offline model: speech in, the same words out; wrong languages
and missing models are clear errors, and nothing reaches for the network."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path
from typing import Any

import pytest

from tests.transcription.media_files import read_wav, speak, word_error_rate, write_webm
from transcription import (
    ModelUnavailable,
    TranscriptionConfig,
    UnsupportedLanguage,
    WhisperEngine,
    transcribe_file,
)

SENTENCE = "I would like to change the date of my appointment."


@pytest.fixture(scope="module")
def sentence_webm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sentence spoken by espeak-ng, stored as the recorder stores a participant: Opus in WebM."""
    directory = tmp_path_factory.mktemp("engine")
    samples, rate = read_wav(speak(SENTENCE, directory / "sentence.wav", voice="en-us", rate=160))
    return write_webm(directory / "sentence.webm", [(0.0, samples)], rate)


async def test_a_spoken_english_sentence_comes_back_as_the_same_words(
    sentence_webm: Path, config: TranscriptionConfig, engine: WhisperEngine
) -> None:
    transcript = await transcribe_file(sentence_webm, config, engine, language="en", redact=False)
    assert word_error_rate(SENTENCE, transcript.text) <= 0.15, transcript.text
    assert (transcript.language, transcript.model, transcript.redacted) == ("en", "tiny.en", False)
    samples, rate = read_wav(sentence_webm.with_suffix(".wav"))
    assert transcript.duration == pytest.approx(len(samples) / rate, abs=0.05)
    first, last = transcript.segments[0], transcript.segments[-1]
    assert 0.0 <= first.start < 1.0 and last.end <= transcript.duration


async def test_an_english_only_model_refuses_another_language_before_decoding(
    config: TranscriptionConfig, engine: WhisperEngine, tmp_path: Path
) -> None:
    # The file does not even exist: the language is checked first, so the error is the language.
    with pytest.raises(UnsupportedLanguage, match="English-only and cannot transcribe 'nl'") as refused:
        await transcribe_file(tmp_path / "absent.webm", config, engine, language="nl")
    assert refused.value.code == "unsupported_language"
    assert await engine.resolve_language("en-GB") == "en"
    assert await engine.resolve_language(None) == "en"


async def test_the_model_is_loaded_once(engine: WhisperEngine) -> None:
    await asyncio.gather(engine.load(), engine.load(), engine.load())
    model = engine._model
    await engine.load()
    assert engine._model is model is not None


def _no_network(*_args: Any, **_kwargs: Any) -> Any:
    raise AssertionError("the engine tried to reach the network")


async def test_a_model_not_on_disk_is_unavailable_without_any_network_attempt(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(socket.socket, "connect", _no_network)
    monkeypatch.setattr(socket, "create_connection", _no_network)
    monkeypatch.setattr(socket, "getaddrinfo", _no_network)
    absent = WhisperEngine(TranscriptionConfig(model="loket-tests/no-such-model"))
    with pytest.raises(ModelUnavailable, match="never downloaded"):
        await absent.load()
    (tmp_path / "model.bin").write_bytes(b"")
    incomplete = WhisperEngine(TranscriptionConfig(model=str(tmp_path)))
    with pytest.raises(ModelUnavailable, match=r"lacks config\.json, tokenizer\.json"):
        await incomplete.load()
