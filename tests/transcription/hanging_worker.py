"""Run by ``test_a_worker_killed_mid_transcription_...`` as a real process: a transcription
worker that claims the pending job and then hangs inside the engine until it is SIGKILLed.

Usage: python -m tests.transcription.hanging_worker DATABASE_URL OBJECTS SPOOL MASTER_KEY_HEX MARKER
       LEASE SCRATCH
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from db import create_engine, create_session_factory
from recordings import LocalStorage, RecordingsConfig
from transcription import JobPolicy, Transcript, TranscriptionConfig, TranscriptionJob, WhisperEngine

WORKER_ID = "doomed-worker"


class HangingEngine(WhisperEngine):
    """Claims to know English, then never finishes a transcription."""

    def __init__(self, config: TranscriptionConfig, marker: Path) -> None:
        super().__init__(config)
        self._marker = marker

    async def resolve_language(self, language: str | None) -> str | None:
        return "en"

    async def transcribe(
        self, audio: NDArray[np.float32], *, language: str | None, candidates: Sequence[str] = ()
    ) -> Transcript:
        # This package and its job must run without signaling or the shell loaded.
        loaded = sorted(name for name in sys.modules if name.split(".")[0] in ("loket", "signaling"))
        self._marker.write_text(json.dumps({"samples": len(audio), "loaded": loaded}))
        await asyncio.sleep(3600)
        raise AssertionError("not reached: the test kills this process")


async def main(
    database_url: str,
    objects: Path,
    spool: Path,
    master_key: bytes,
    marker: Path,
    lease: float,
    scratch: Path,
) -> None:
    engine = create_engine(database_url)
    config = TranscriptionConfig()
    job = TranscriptionJob(
        sessions=create_session_factory(engine),
        storage=LocalStorage(objects),
        recordings=RecordingsConfig(master_key=master_key, spool_dir=spool),
        config=config,
        engine=HangingEngine(config, marker),
        policy=JobPolicy(lease_seconds=lease, scratch_dir=scratch),
        worker_id=WORKER_ID,
    )
    await job.run()


if __name__ == "__main__":
    database_url, objects, spool, key, marker, lease, scratch = sys.argv[1:8]
    asyncio.run(
        main(
            database_url,
            Path(objects),
            Path(spool),
            bytes.fromhex(key),
            Path(marker),
            float(lease),
            Path(scratch),
        )
    )
