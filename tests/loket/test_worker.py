"""The worker's job table and the loop that runs it (docs/architecture.md, "Worker").

On real SQLite and PostgreSQL, with real uploads: a run that hangs past its timeout is given up,
its lease renewal stops, and once the lease runs out another worker stores the recording, once;
``stop()`` lets a step under way finish within the grace period, and cancels one that outlasts it.
"""

from __future__ import annotations

import asyncio
import secrets
import time
import uuid
from collections import Counter
from pathlib import Path

import pytest

from db import SessionFactory, create_engine, create_session_factory
from loket.settings import Schedule, Settings, WorkerConfig
from loket.worker import Job, JobContext, JobRunner, Worker
from recordings import LocalStorage, RecordingsConfig, RecordingStatus, StoredObject
from tests.recordings.conftest import load, spool_recording
from transcription import TranscriptionConfig

LEASE = 0.6  # seconds: renewed every 0.2 s while an upload runs


@pytest.fixture
def recordings(tmp_path: Path) -> RecordingsConfig:
    spool = tmp_path / "spool"
    spool.mkdir()
    return RecordingsConfig(
        master_key=secrets.token_bytes(32), spool_dir=spool, chunk_size=4096, upload_lease_seconds=LEASE
    )


class HangingStorage(LocalStorage):
    """Local storage whose uploads never answer (an S3 endpoint that accepts and goes silent)."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.entered = asyncio.Event()
        self.cancelled = asyncio.Event()
        self.puts = 0

    async def put_file(self, key: str, path: Path) -> StoredObject:
        self.puts += 1
        self.entered.set()
        try:
            await asyncio.Event().wait()
        finally:
            self.cancelled.set()
        raise AssertionError("unreachable")


class SlowStorage(LocalStorage):
    """Local storage whose uploads take ``seconds``; counts them per key."""

    def __init__(self, root: Path, seconds: float = 0.0) -> None:
        super().__init__(root)
        self.seconds = seconds
        self.entered = asyncio.Event()
        self.uploaded = asyncio.Event()
        self.uploads: Counter[str] = Counter()

    async def put_file(self, key: str, path: Path) -> StoredObject:
        self.entered.set()
        await asyncio.sleep(self.seconds)
        stored = await super().put_file(key, path)
        self.uploads[key] += 1
        self.uploaded.set()
        return stored


def worker(
    sessions: SessionFactory,
    storage: LocalStorage,
    recordings: RecordingsConfig,
    name: str,
    *,
    upload_timeout: float = 60.0,
    grace: float = 5.0,
) -> Worker:
    """A whole worker, its uploads due every 50 ms; a failed or given-up run waits a minute,
    so a worker whose run was given up does not come back within the test."""
    config = WorkerConfig(
        uploads=Schedule(every=0.05, timeout=upload_timeout),
        stop_grace_seconds=grace,
        retry_base_seconds=60.0,
        retry_max_seconds=60.0,
    )
    return Worker(
        sessions=sessions,
        access_log_days=7,
        storage=storage,
        recordings=recordings,
        config=config,
        context=JobContext(worker_id=name),
    )


async def wait_for(event: asyncio.Event, seconds: float = 10.0) -> None:
    async with asyncio.timeout(seconds):
        await event.wait()


async def test_an_upload_hanging_past_its_timeout_gives_its_row_back_and_another_worker_stores_it_once(
    sessions: SessionFactory, call_id: uuid.UUID, recordings: RecordingsConfig, tmp_path: Path
) -> None:
    recording_id, _ = await spool_recording(sessions, recordings, call_id)
    hanging = HangingStorage(tmp_path / "objects-a")
    first = worker(sessions, hanging, recordings, "worker-a", upload_timeout=0.5)
    await first.start()
    try:
        await wait_for(hanging.entered)
        await wait_for(hanging.cancelled)  # given up at its timeout
        given_up = await load(sessions, recording_id)
        assert (given_up.status, given_up.claimed_by) == (RecordingStatus.UPLOADING, "worker-a")
        # Renewal stopped with the run: the lease is never moved again, and runs out.
        await asyncio.sleep(LEASE + 0.2)
        assert (await load(sessions, recording_id)).lease_until == given_up.lease_until

        working = SlowStorage(tmp_path / "objects-b")
        second = worker(sessions, working, recordings, "worker-b")
        await second.start()
        try:
            await wait_for(working.uploaded)
        finally:
            await second.stop()  # lets the upload's step finish: marked stored, spool removed
    finally:
        await first.stop()
    stored = await load(sessions, recording_id)
    assert stored.status == RecordingStatus.STORED
    assert stored.claimed_by is None and stored.spool_path is None
    assert stored.stored_at > given_up.lease_until, "taken over only once the lease had run out"
    assert working.uploads == Counter({stored.storage_key: 1}), "stored exactly once"
    assert hanging.puts == 1
    assert list(recordings.spool_dir.iterdir()) == []


async def test_stop_during_an_upload_lets_it_finish_within_the_grace_period(
    sessions: SessionFactory, call_id: uuid.UUID, recordings: RecordingsConfig, tmp_path: Path
) -> None:
    recording_id, _ = await spool_recording(sessions, recordings, call_id)
    slow = SlowStorage(tmp_path / "objects", seconds=0.5)
    running = worker(sessions, slow, recordings, "worker-a", grace=5.0)
    await running.start()
    await wait_for(slow.entered)  # mid-upload
    started = time.monotonic()
    await running.stop()
    took = time.monotonic() - started
    row = await load(sessions, recording_id)
    assert row.status == RecordingStatus.STORED, "the step under way was cut off"
    assert row.spool_path is None and row.claimed_by is None
    assert slow.uploads == Counter({row.storage_key: 1})
    assert took < 5.0, "finished well within the grace period"


async def test_stop_cancels_an_upload_that_outlasts_the_grace_period_and_leaves_its_lease_to_run_out(
    sessions: SessionFactory, call_id: uuid.UUID, recordings: RecordingsConfig, tmp_path: Path
) -> None:
    recording_id, _ = await spool_recording(sessions, recordings, call_id)
    hanging = HangingStorage(tmp_path / "objects")
    running = worker(sessions, hanging, recordings, "worker-a", grace=0.3)
    await running.start()
    await wait_for(hanging.entered)
    started = time.monotonic()
    await running.stop()
    took = time.monotonic() - started
    assert hanging.cancelled.is_set()
    assert 0.3 <= took < 3.0, took
    row = await load(sessions, recording_id)
    assert (row.status, row.claimed_by) == (RecordingStatus.UPLOADING, "worker-a")
    assert row.spool_path is not None, "no half-done work: the spool is kept for the next worker"


# -- the runner on its own, with small jobs ----------------------------------------------------


async def test_a_run_past_its_timeout_is_cancelled_and_retried_after_a_backoff() -> None:
    starts: list[float] = []
    retried = asyncio.Event()
    cancelled = 0

    async def hangs(ctx: JobContext) -> None:
        nonlocal cancelled
        starts.append(time.monotonic())
        if len(starts) == 2:
            retried.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled += 1
            raise

    runner = JobRunner(
        [Job("hangs", every=0.01, timeout=0.1, run=hangs)],
        context=JobContext("w"),
        retry_base_seconds=0.2,
        retry_max_seconds=0.2,
    )
    await runner.start()
    await wait_for(retried)
    await runner.stop()
    assert cancelled == len(starts)
    # timeout 0.1 s, then the 0.2 s backoff (not the 0.01 s interval).
    assert starts[1] - starts[0] >= 0.29


async def test_a_run_cancelled_by_stop_sees_stopping_and_one_cancelled_by_its_timeout_does_not() -> None:
    """Jobs hand their rows back as untouched only when stopped: an overstaying run counts."""
    seen: dict[str, bool] = {}
    timed_out = asyncio.Event()

    def hanging(name: str, timeout: float) -> Job:
        async def run(ctx: JobContext) -> None:
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                seen.setdefault(name, ctx.stopping.is_set())
                if name == "overstays":
                    timed_out.set()
                raise

        return Job(name, every=60.0, timeout=timeout, run=run)

    context = JobContext("w")
    runner = JobRunner(
        [hanging("overstays", 0.1), hanging("stopped", 60.0)], context=context, stop_grace_seconds=0.1
    )
    await runner.start()
    await wait_for(timed_out)
    assert not context.stopping.is_set()
    await runner.stop()
    assert seen == {"overstays": False, "stopped": True}
    await runner.start()  # a restarted runner is not stopping any more
    assert not context.stopping.is_set()
    await runner.stop()


async def test_a_step_longer_than_the_grace_period_is_cancelled_and_one_within_it_finishes() -> None:
    finished: list[str] = []
    started = {"quick": asyncio.Event(), "slow": asyncio.Event()}
    contexts: list[JobContext] = []

    def step(name: str, seconds: float) -> Job:
        async def run(ctx: JobContext) -> None:
            contexts.append(ctx)
            started[name].set()
            await asyncio.sleep(seconds)
            finished.append(name)

        return Job(name, every=60.0, timeout=60.0, run=run)

    context = JobContext("w")
    runner = JobRunner([step("quick", 0.2), step("slow", 30.0)], context=context, stop_grace_seconds=0.5)
    await runner.start()
    for event in started.values():
        await wait_for(event)
    began = time.monotonic()
    await runner.stop()
    assert finished == ["quick"]
    assert 0.5 <= time.monotonic() - began < 3.0
    assert contexts == [context, context], "one context, handed to every run"
    await runner.stop()  # idempotent


# -- the table ---------------------------------------------------------------------------------


def test_every_interval_and_timeout_of_the_table_is_a_setting(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    names = {
        "access-log purge": "access_log_purge",
        "recording uploads": "uploads",
        "retention sweep": "retention",
        "transcript and chat retention": "call_data_retention",
        "privacy requests": "privacy_requests",
        "export expiry": "export_expiry",
        "transcription": "transcription",
        "webhook delivery": "webhook_delivery",
    }
    assert Settings(_env_file=None).worker() == WorkerConfig(), "the settings' defaults are the config's"
    for index, setting in enumerate(names.values()):
        monkeypatch.setenv(f"LOKET_{setting.upper()}_EVERY_SECONDS", str(index + 1))
        monkeypatch.setenv(f"LOKET_{setting.upper()}_TIMEOUT_SECONDS", str(100 + index))
    monkeypatch.setenv("LOKET_WORKER_STOP_GRACE_SECONDS", "7")
    settings = Settings(_env_file=None, spool_dir=tmp_path / "spool")
    config = settings.worker()
    assert config.stop_grace_seconds == 7
    table = Worker(
        sessions=create_session_factory(create_engine("sqlite+aiosqlite://")),
        access_log_days=7,
        storage=LocalStorage(tmp_path / "objects"),
        recordings=settings.recordings(),
        transcription=TranscriptionConfig(),
        config=config,
    ).jobs
    assert {job.name for job in table} == set(names)
    for job in table:
        index = list(names).index(job.name)
        assert (job.every, job.timeout) == (index + 1, 100 + index), job.name


def test_privacy_requests_are_looked_at_within_the_hour() -> None:
    with pytest.raises(ValueError, match="hour"):
        WorkerConfig(privacy_requests=Schedule(every=3601, timeout=60))
    with pytest.raises(ValueError):
        Settings(_env_file=None, privacy_requests_every_seconds=3601)
