"""The Whisper engine with the real offline models: speech in, the same words out; a language is
served by the model configured for it, or detected among a queue's languages; wrong languages
and missing models are clear errors, and nothing reaches for the network."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path
from typing import Any

import numpy as np
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
    assert (transcript.language, transcript.model, transcript.redacted) == ("en", "base", False)
    samples, rate = read_wav(sentence_webm.with_suffix(".wav"))
    assert transcript.duration == pytest.approx(len(samples) / rate, abs=0.05)
    first, last = transcript.segments[0], transcript.segments[-1]
    assert 0.0 <= first.start < 1.0 and last.end <= transcript.duration


async def test_an_english_only_model_refuses_another_language_before_decoding(
    config: TranscriptionConfig, tiny_engine: WhisperEngine, tmp_path: Path
) -> None:
    # The file does not even exist: the language is checked first, so the error is the language.
    with pytest.raises(UnsupportedLanguage, match="English-only and cannot transcribe 'nl'") as refused:
        await transcribe_file(tmp_path / "absent.webm", config, tiny_engine, language="nl")
    assert refused.value.code == "unsupported_language"
    assert await tiny_engine.resolve_language("en-GB") == "en"
    assert await tiny_engine.resolve_language(None) == "en"


async def test_each_language_gets_its_configured_model_and_an_unconfigured_one_is_refused() -> None:
    # A model map without "*": Dutch and English only (the models are not loaded to tell).
    config = TranscriptionConfig(models={"nl": "base", "en": "tiny.en"})
    engine = WhisperEngine(config)
    assert (engine.model_label("nl"), engine.model_label("en"), engine.model_label(None)) == (
        "base",
        "tiny.en",
        "base",
    )
    with pytest.raises(UnsupportedLanguage, match=r"no Whisper model is configured for 'de-AT'") as refused:
        await engine.resolve_language("de-AT")
    assert refused.value.language == "de-AT"
    assert TranscriptionConfig().model_for("fr") == "base"
    with pytest.raises(ValueError, match="language codes"):
        TranscriptionConfig(models={"Dutch": "base"})


async def test_the_model_is_loaded_once(engine: WhisperEngine) -> None:
    await asyncio.gather(engine.load(), engine.load(), engine.load())
    model = engine._models["base"]
    await engine.load("nl")
    assert engine._models == {"base": model} and model is not None


def _no_network(*_args: Any, **_kwargs: Any) -> Any:
    raise AssertionError("the engine tried to reach the network")


async def test_a_model_not_on_disk_is_unavailable_without_any_network_attempt(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(socket.socket, "connect", _no_network)
    monkeypatch.setattr(socket, "create_connection", _no_network)
    monkeypatch.setattr(socket, "getaddrinfo", _no_network)
    absent = WhisperEngine(TranscriptionConfig(models={"*": "loket-tests/no-such-model"}))
    with pytest.raises(ModelUnavailable, match="never downloaded"):
        await absent.load()
    (tmp_path / "model.bin").write_bytes(b"")
    incomplete = WhisperEngine(TranscriptionConfig(models={"*": str(tmp_path)}))
    with pytest.raises(ModelUnavailable, match=r"lacks config\.json, tokenizer\.json"):
        await incomplete.load()


@pytest.fixture(scope="module")
def quiet_webm(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Ten seconds of digital silence, and ten of white noise (-26 dBFS), as recordings."""
    directory = tmp_path_factory.mktemp("quiet")
    rate = 48000
    noise = np.random.default_rng(14).normal(0, 0.05, 10 * rate).astype(np.float32)
    return {
        "silence": write_webm(directory / "silence.webm", [(0.0, np.zeros(10 * rate, np.float32))], rate),
        "noise": write_webm(directory / "noise.webm", [(0.0, noise)], rate),
    }


@pytest.mark.parametrize("kind", ["silence", "noise"])
@pytest.mark.parametrize("language", ["nl", "de", "fr", "en", None])
async def test_silence_and_noise_give_no_segments_in_any_language(
    quiet_webm: dict[str, Path],
    config: TranscriptionConfig,
    engine: WhisperEngine,
    kind: str,
    language: str | None,
) -> None:
    transcript = await transcribe_file(quiet_webm[kind], config, engine, language=language, redact=False)
    assert transcript.segments == (), transcript.text
    assert transcript.duration == pytest.approx(10.0, abs=0.1)


async def test_a_language_is_detected_only_among_the_queues_languages(
    tmp_path: Path, engine: WhisperEngine
) -> None:
    samples, rate = read_wav(
        speak(
            "Guten Tag, ich möchte einen Termin für die Inspektion vereinbaren.",
            tmp_path / "de.wav",
            voice="de",
        )
    )
    audio = np.interp(
        np.arange(0, len(samples) * 16000 // rate) * rate / 16000, np.arange(len(samples)), samples
    ).astype(np.float32)
    assert await engine.detect_language(audio) == "de"
    assert await engine.detect_language(audio, ["nl", "de-AT"]) == "de"
    # A French/Dutch queue: German is not among the answers, whatever was spoken.
    assert await engine.detect_language(audio, ["fr", "nl"]) in ("fr", "nl")
    # One language: nothing to detect.
    assert await engine.detect_language(audio, ["fr"]) == "fr"
