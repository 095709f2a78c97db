"""The Whisper settings: accuracy-first defaults, a model per language from LOKET_WHISPER_MODELS,
and clear errors for settings that cannot work."""

from __future__ import annotations

from pathlib import Path

import pytest

from transcription import TranscriptionConfig


def settings(monkeypatch: pytest.MonkeyPatch, **env: str) -> object:
    from loket.settings import Settings

    for name in ("MODEL", "MODELS", "MODEL_DIR", "DEVICE", "COMPUTE_TYPE", "BEAM_SIZE"):
        monkeypatch.delenv(f"LOKET_WHISPER_{name}", raising=False)
    for name, value in env.items():
        monkeypatch.setenv(f"LOKET_WHISPER_{name}", value)
    return Settings(_env_file=None)


def test_the_defaults_are_chosen_for_accuracy() -> None:
    config = TranscriptionConfig()
    assert dict(config.models) == {"*": "base"}
    assert (config.beam_size, config.device, config.compute_type, config.cpu_threads) == (
        5,
        "cpu",
        "float32",
        1,
    )
    assert config.vad_filter and config.vad_min_silence_seconds == 10.0 and config.condition_on_previous_text
    assert (config.compression_ratio_threshold, config.log_prob_threshold, config.no_speech_threshold) == (
        2.4,
        -1.0,
        0.6,
    )
    with pytest.raises(TypeError):
        config.models["nl"] = "tiny.en"  # type: ignore[index]


def test_whisper_settings_become_the_transcription_config(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from loket.settings import Settings

    default = settings(monkeypatch)
    assert isinstance(default, Settings) and default.whisper() == TranscriptionConfig()
    per_language = settings(
        monkeypatch,
        MODELS='{"en": "tiny.en", "*": "base"}',
        MODEL_DIR=str(tmp_path),
        DEVICE="cuda",
        COMPUTE_TYPE="float16",
        BEAM_SIZE="1",
    )
    assert isinstance(per_language, Settings)
    config = per_language.whisper()
    assert dict(config.models) == {"en": "tiny.en", "*": "base"}
    assert (config.model_dir, config.device, config.compute_type, config.beam_size) == (
        tmp_path,
        "cuda",
        "float16",
        1,
    )
    gpu = settings(monkeypatch, DEVICE="cuda")
    assert isinstance(gpu, Settings) and gpu.whisper().compute_type == "float16"
    one = settings(monkeypatch, MODEL="/srv/models/whisper-large-v3", MODELS='{"en": "tiny.en"}')
    assert isinstance(one, Settings)
    assert dict(one.whisper().models) == {"en": "tiny.en", "*": "/srv/models/whisper-large-v3"}


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"MODEL": "base", "MODELS": '{"*": "tiny.en"}'}, "not both"),
        ({"DEVICE": "gpu"}, "device must be one of cpu, cuda, auto"),
        ({"MODELS": '{"Dutch": "base"}'}, "language codes"),
        ({"BEAM_SIZE": "0"}, "beam_size must be at least 1"),
    ],
)
def test_whisper_settings_that_cannot_work_are_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], message: str
) -> None:
    from loket.settings import Settings, SettingsError

    loaded = settings(monkeypatch, **env)
    assert isinstance(loaded, Settings)
    with pytest.raises(SettingsError, match=message):
        loaded.whisper()
