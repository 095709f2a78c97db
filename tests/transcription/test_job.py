"""The transcription job end to end, on SQLite and PostgreSQL, local storage and S3 (SeaweedFS over
HTTP): recordings stored by the real upload pipeline come back as redacted, speaker-labelled
transcripts, once, whatever happens to the workers; bad media fails only its own job."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import secrets
import shutil
import signal
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pytest
from numpy.typing import NDArray
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.models import Organisation, Queue
from db import SessionFactory, audit, create_engine, create_session_factory, utcnow
from db.audit import AuditEvent
from db.keys import InstallationKeys
from privacy import (
    DEFAULT_RETENTION_DAYS,
    RetentionKind,
    accept_for_fixture,
    call_data_key,
    create_rule,
    open_segments,
    open_vtt,
    sweep_expired_call_data,
)
from recordings import (
    LocalStorage,
    Recording,
    RecordingsConfig,
    RecordingStatus,
    Storage,
    create_recording,
    mark_spooled,
    store_recording,
)
from signaling.models import Call, CallStatus
from tests.recordings.conftest import make_s3_storage
from tests.transcription.hanging_worker import WORKER_ID as DOOMED
from tests.transcription.hanging_worker import HangingEngine
from tests.transcription.media_files import read_wav, speak, word_error_rate, words, write_webm
from transcription import (
    JobPolicy,
    ModelUnavailable,
    Segment,
    Transcript,
    TranscriptionConfig,
    TranscriptionJob,
    WhisperEngine,
)
from transcription.models import Transcript as TranscriptRow
from transcription.models import TranscriptStatus
from transcription.scratch import make_scratch, remove_orphaned_scratch, remove_scratch

PERSONAL = "Call me on zero six one two three four five six seven eight or mail jan at example dot com"
ADVISER_SAYS = "Could you tell me which model you are interested in?"
REPO = Path(__file__).resolve().parents[2]
T = TypeVar("T")


@pytest.fixture(scope="module")
def speech(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Per-participant recordings as the recorder writes them: Opus in WebM, a second of
    silence first."""
    directory = tmp_path_factory.mktemp("job-speech")
    visitor, rate = read_wav(speak(PERSONAL, directory / "visitor.wav", voice="en", rate=130))
    adviser, _ = read_wav(speak(ADVISER_SAYS, directory / "adviser.wav", voice="en-gb", rate=150))
    return {
        "visitor": write_webm(directory / "visitor.webm", [(1.0, visitor)], rate),
        "adviser": write_webm(directory / "adviser.webm", [(1.0, adviser)], rate),
    }


@pytest.fixture
def recordings_config(tmp_path: Path) -> RecordingsConfig:
    spool = tmp_path / "spool"
    spool.mkdir()
    return RecordingsConfig(master_key=secrets.token_bytes(32), spool_dir=spool, chunk_size=4096)


@pytest.fixture(params=["local", "s3"])
async def storage(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Storage]:
    backend: Storage
    if request.param == "local":
        backend = LocalStorage(tmp_path / "objects")
    else:
        backend = make_s3_storage(request.getfixturevalue("s3_endpoint"), request.getfixturevalue("bucket"))
    yield backend
    await backend.stop()


@pytest.fixture
async def local_storage(tmp_path: Path) -> AsyncIterator[Storage]:
    backend = LocalStorage(tmp_path / "objects")
    yield backend
    await backend.stop()


@dataclass
class Events:
    """The hook the shell fills with ``webhooks.enqueue_event``: what was owed, in order."""

    seen: list[tuple[uuid.UUID, str, dict[str, Any]]] = field(default_factory=list)

    async def __call__(
        self, session: AsyncSession, org_id: uuid.UUID, event: str, payload: dict[str, Any]
    ) -> None:
        assert session.in_transaction(), "owed inside the transaction that makes it true"
        self.seen.append((org_id, event, payload))

    def named(self, event: str) -> list[dict[str, Any]]:
        return [payload for _, name, payload in self.seen if name == event]


class CountingEngine(WhisperEngine):
    """The session's real engine, counting how many recordings it was asked to transcribe."""

    def __init__(
        self, inner: WhisperEngine, config: TranscriptionConfig, scratch: Path | None = None
    ) -> None:
        super().__init__(config)
        self._inner = inner
        self.runs = 0
        # Decrypted media files on disk while Whisper listened, when ``scratch`` is watched.
        self.media_while_listening: list[Path] = []
        self._scratch = scratch

    async def resolve_language(self, language: str | None) -> str | None:
        return await self._inner.resolve_language(language)

    async def transcribe(
        self, audio: NDArray[np.float32], *, language: str | None, candidates: Sequence[str] = ()
    ) -> Transcript:
        self.runs += 1
        if self._scratch is not None:
            self.media_while_listening += self._scratch.rglob("*.media")
        return await self._inner.transcribe(audio, language=language, candidates=candidates)


class FixableEngine(CountingEngine):
    """The real engine behind a model setting that is wrong (``missing``) until an operator fixes it."""

    def __init__(self, inner: WhisperEngine, config: TranscriptionConfig) -> None:
        super().__init__(inner, config)
        self.missing = True
        self.tries = 0

    async def resolve_language(self, language: str | None) -> str | None:
        self.tries += 1
        if self.missing:
            raise ModelUnavailable(
                "model 'tiny.nl' is neither a model directory nor in the local Hugging Face cache"
            )
        return await super().resolve_language(language)


@dataclass
class Org:
    """A fresh organisation with a queue that transcribes; its calls go with it."""

    sessions: SessionFactory
    storage: Storage
    recordings: RecordingsConfig
    id: uuid.UUID
    queue_id: uuid.UUID
    events: Events = field(default_factory=Events)

    async def call(self, *, language: str | None = "en") -> uuid.UUID:
        """An answered call that ended a minute later."""
        started = utcnow() - timedelta(minutes=2)
        async with self.sessions() as session:
            call = Call(
                org_id=self.id,
                queue_id=self.queue_id,
                reference=secrets.token_hex(6),
                visitor_id=secrets.token_hex(8),
                language=language,
                status=CallStatus.ENDED,
                created_at=started - timedelta(seconds=20),
                accepted_at=started,
                ended_at=started + timedelta(minutes=1),
            )
            session.add(call)
            await session.commit()
            return call.id

    async def record(
        self, call_id: uuid.UUID, participant: str, media: Path | bytes, *, offset: float, store: bool = True
    ) -> uuid.UUID:
        """A recording that started ``offset`` seconds into the call, through the real pipeline:
        spooled, encrypted, uploaded, verified, stored (or only spooled, for the worker)."""
        spool = self.recordings.spool_dir / f"{uuid.uuid4()}.webm"
        if isinstance(media, Path):
            shutil.copyfile(media, spool)
        else:
            spool.write_bytes(media)
        async with self.sessions() as session:
            accepted_at = await session.scalar(select(Call.accepted_at).where(Call.id == call_id))
            assert accepted_at is not None
            row = await create_recording(
                session,
                call_id=call_id,
                participant=participant,
                spool_path=spool,
                now=accepted_at + timedelta(seconds=offset),
            )
            await mark_spooled(session, row.id, duration_seconds=None)
            await session.commit()
        if not store:
            return row.id
        assert await store_recording(
            self.sessions, self.storage, self.recordings, row.id, on_stored=self.events
        )
        return row.id

    def job(
        self, engine: WhisperEngine, *, sessions: SessionFactory | None = None, **options: Any
    ) -> TranscriptionJob:
        config = TranscriptionConfig()
        return TranscriptionJob(
            sessions=sessions or self.sessions,
            storage=self.storage,
            recordings=self.recordings,
            config=config,
            engine=CountingEngine(engine, config) if not isinstance(engine, CountingEngine) else engine,
            on_ready=self.events,
            **options,
        )

    async def transcript(self, call_id: uuid.UUID) -> TranscriptRow:
        async with self.sessions() as session:
            row = await session.scalar(
                select(TranscriptRow)
                .where(TranscriptRow.call_id == call_id)
                .execution_options(populate_existing=True)
            )
            assert row is not None, f"no transcript of call {call_id}"
            return row


async def make_org(
    sessions: SessionFactory,
    storage: Storage,
    recordings: RecordingsConfig,
    *,
    redact: bool = True,
    languages: tuple[str, ...] = ("en",),
) -> Org:
    async with sessions() as session:
        organisation = Organisation(name="Transcription Test", redact_transcripts=redact)
        session.add(organisation)
        await session.flush()
        queue = Queue(org_id=organisation.id, name="Claims", languages=list(languages), transcription=True)
        session.add(queue)
        # Transcription waits for the DPA (privacy.dpa): accepted, as a real organisation's dpo
        # would, whatever version an app started earlier in the suite published.
        await accept_for_fixture(session, organisation.id, actor="test")
        await session.commit()
        return Org(sessions, storage, recordings, organisation.id, queue.id)


async def drop_org(org: Org) -> None:
    async with org.sessions() as session:
        await session.execute(delete(Organisation).where(Organisation.id == org.id))
        await session.commit()


@pytest.fixture
async def org(
    sessions: SessionFactory, storage: Storage, recordings_config: RecordingsConfig
) -> AsyncIterator[Org]:
    made = await make_org(sessions, storage, recordings_config)
    yield made
    await drop_org(made)


@pytest.fixture
async def local_org(
    sessions: SessionFactory, local_storage: Storage, recordings_config: RecordingsConfig
) -> AsyncIterator[Org]:
    made = await make_org(sessions, local_storage, recordings_config)
    yield made
    await drop_org(made)


async def audit_actions(sessions: SessionFactory, target: str) -> list[str]:
    async with sessions() as session:
        rows = await session.scalars(
            select(AuditEvent.action).where(AuditEvent.target == target).order_by(AuditEvent.seq)
        )
        return list(rows.all())


async def with_loop_lag(work: Awaitable[T], *, tick: float = 0.02) -> tuple[T, float]:
    """``work``'s result, and the longest the event loop left a ``tick``-second sleep waiting
    past its time meanwhile."""
    loop = asyncio.get_running_loop()
    worst, finished = 0.0, asyncio.Event()

    async def watch() -> None:
        nonlocal worst
        while not finished.is_set():
            before = loop.time()
            await asyncio.sleep(tick)
            worst = max(worst, loop.time() - before - tick)

    watcher = asyncio.create_task(watch())
    try:
        result = await work
    finally:
        finished.set()
        await watcher
    return result, worst


def close_to(actual: datetime | None, expected: datetime) -> bool:
    return actual is not None and abs(actual - expected) < timedelta(seconds=1)


async def test_a_spoken_sentence_comes_back_as_its_words_with_the_phone_number_and_email_redacted(
    org: Org, speech: dict[str, Path], engine: WhisperEngine, tmp_path: Path
) -> None:
    call_id = await org.call()
    recordings = [
        await org.record(call_id, "adviser", speech["adviser"], offset=0.0),
        await org.record(call_id, "visitor", speech["visitor"], offset=6.0),
    ]
    stored = org.events.named("recording.stored")
    assert sorted(payload["recording_id"] for payload in stored) == sorted(map(str, recordings))
    assert all(set(payload) == {"recording_id", "call_id", "participant", "stored_at"} for payload in stored)

    scratch = tmp_path / "scratch"
    counting = CountingEngine(engine, TranscriptionConfig(), scratch=scratch)
    job = org.job(counting, policy=JobPolicy(scratch_dir=scratch))
    ran, lag = await with_loop_lag(job.run())
    assert ran == 1
    # The decrypted recordings were gone from disk before Whisper started on them.
    assert counting.runs == 2 and counting.media_while_listening == []
    # Decoding runs in a subprocess, Whisper in a thread: the event loop (lease renewals,
    # sockets in `loket serve`) kept turning.
    assert lag < 1.0, f"the event loop stalled for {lag:.2f} s"
    row = await org.transcript(call_id)
    assert row.status == TranscriptStatus.DONE and row.error is None, row.error
    assert row.redacted and row.language == "en" and row.model == "base"
    segments = row.segments or []
    speakers = [segment["speaker"] for segment in segments]
    assert speakers == ["Adviser"] * speakers.count("Adviser") + ["Visitor"] * speakers.count("Visitor"), (
        speakers
    )
    adviser = " ".join(segment["text"] for segment in segments if segment["speaker"] == "Adviser")
    visitor = " ".join(segment["text"] for segment in segments if segment["speaker"] == "Visitor")
    assert word_error_rate(ADVISER_SAYS, adviser) <= 0.15, adviser
    # The visitor's words are there, their phone number and e-mail address are not.
    assert words(visitor)[:3] == ["call", "me", "on"], visitor
    assert "[PHONE]" in visitor and "[EMAIL]" in visitor, visitor
    assert row.vtt is not None and row.vtt.startswith("WEBVTT\n") and "<v Visitor>" in row.vtt
    for document in (json.dumps(segments), row.vtt):
        assert "12345678" not in re.sub(r"[\s.,()+-]", "", document), document
        assert "example" not in document.lower(), document
    # Call time, one timeline: the adviser's recording started with the call, the visitor's 6 s
    # in, each with a second of silence first.
    assert [segment["start"] for segment in segments] == sorted(segment["start"] for segment in segments)
    assert 0.5 <= segments[0]["start"] <= 1.5, segments[0]
    first_visitor = next(segment for segment in segments if segment["speaker"] == "Visitor")
    assert 6.5 <= first_visitor["start"] <= 7.6, first_visitor
    # Retention: the default for transcripts, from when the job row was made.
    days = DEFAULT_RETENTION_DAYS[RetentionKind.TRANSCRIPTS]
    assert close_to(row.delete_after, row.created_at + timedelta(days=days))
    assert row.completed_at is not None and row.claimed_by is None and row.lease_until is None
    assert await audit_actions(org.sessions, f"transcript:{row.id}") == ["transcript.created"]
    [ready] = org.events.named("transcript.ready")
    assert ready == {
        "transcript_id": str(row.id),
        "call_id": str(call_id),
        "completed_at": ready["completed_at"],
    }
    # Done is done: the next pass has nothing to do.
    assert await job.run() == 0
    assert await job.enqueue() == 0


async def test_a_call_is_not_transcribed_before_its_recordings_are_all_stored_nor_when_off(
    local_org: Org, speech: dict[str, Path], engine: WhisperEngine
) -> None:
    org = local_org
    call_id = await org.call(language=None)
    await org.record(call_id, "adviser", speech["adviser"], offset=0.0)
    async with org.sessions() as session:
        # The visitor's recording is still being written.
        await create_recording(
            session, call_id=call_id, participant="visitor", spool_path=org.recordings.spool_dir / "v.webm"
        )
        await session.commit()
    job = org.job(engine)
    assert await job.enqueue() == 0
    async with org.sessions() as session:
        other = Queue(org_id=org.id, name="No transcripts", languages=["en"], transcription=False)
        session.add(other)
        await session.flush()
        off = Call(
            org_id=org.id,
            queue_id=other.id,
            reference=secrets.token_hex(6),
            visitor_id="v",
            status=CallStatus.ENDED,
            accepted_at=utcnow(),
            ended_at=utcnow(),
        )
        session.add(off)
        await session.commit()
        off_id = off.id
    await org.record(off_id, "adviser", speech["adviser"], offset=0.0)
    assert await job.enqueue() == 0
    # Once everything is stored, one row, in the queue's first language (the call has none).
    async with org.sessions() as session:
        # The unfinished recording is abandoned (its row removed): the rest is all stored.
        await session.execute(
            delete(Recording).where(
                Recording.call_id == call_id, Recording.status == RecordingStatus.RECORDING
            )
        )
        await session.commit()
    assert sorted(await asyncio.gather(job.enqueue(), job.enqueue())) == [0, 1]
    row = await org.transcript(call_id)
    assert row.status == TranscriptStatus.PENDING and row.language == "en"


async def test_two_workers_side_by_side_never_transcribe_a_call_twice(
    local_org: Org, speech: dict[str, Path], engine: WhisperEngine, database_url: str
) -> None:
    org = local_org
    calls = [await org.call() for _ in range(4)]
    for call_id in calls:
        await org.record(call_id, "adviser", speech["adviser"], offset=0.0)
    counting = CountingEngine(engine, TranscriptionConfig())
    other = create_engine(database_url)  # the second worker has its own connections
    try:
        results = await asyncio.gather(
            org.job(counting, worker_id="worker-a").run(),
            org.job(counting, sessions=create_session_factory(other), worker_id="worker-b").run(),
        )
    finally:
        await other.dispose()
    assert sum(results) == 4, results
    assert counting.runs == 4, "each call's one recording was transcribed exactly once"
    for call_id in calls:
        row = await org.transcript(call_id)
        assert row.status == TranscriptStatus.DONE
        assert await audit_actions(org.sessions, f"transcript:{row.id}") == ["transcript.created"]
    assert len(org.events.named("transcript.ready")) == 4


async def test_a_worker_killed_mid_transcription_leaves_a_lease_and_another_finishes_the_job_once(
    local_org: Org, speech: dict[str, Path], engine: WhisperEngine, database_url: str, tmp_path: Path
) -> None:
    org = local_org
    assert isinstance(org.storage, LocalStorage)
    call_id = await org.call()
    await org.record(call_id, "adviser", speech["adviser"], offset=0.0)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    rescuer = org.job(engine, worker_id="rescuer", policy=JobPolicy(scratch_dir=scratch))
    assert await rescuer.enqueue() == 1
    marker = tmp_path / "transcribing"
    lease = 2.0
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.transcription.hanging_worker",
        database_url,
        str(org.storage.root),
        str(org.recordings.spool_dir),
        org.recordings.master_key.hex(),
        str(marker),
        str(lease),
        str(scratch),
        cwd=REPO,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    try:
        async with asyncio.timeout(60):
            while not marker.exists():
                assert process.returncode is None, "the worker died before transcribing"
                await asyncio.sleep(0.1)
        assert json.loads(marker.read_text())["loaded"] == [], "the job ran without signaling or loket"
        held = await org.transcript(call_id)
        assert held.status == TranscriptStatus.PENDING and held.claimed_by == DOOMED
        # While the lease is renewed, another worker leaves the job alone.
        await asyncio.sleep(lease)
        assert await rescuer.run() == 0
        assert (await org.transcript(call_id)).claimed_by == DOOMED
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGKILL)
        await process.wait()
    assert process.returncode == -signal.SIGKILL
    orphan = await org.transcript(call_id)
    assert orphan.claimed_by == DOOMED and orphan.lease_until is not None
    # The killed worker could not clean up: its scratch folder is still there. The decrypted
    # recording in it was already deleted, once decoded, before Whisper began.
    assert list(scratch.iterdir()), "the doomed worker's scratch folder stays behind"
    assert not list(scratch.glob("*/*.media")), "decrypted media waited on disk while Whisper listened"
    # Not before the lease has run out (checked only with a clear second left: under load the
    # rescuer's claim can come later than this line by more than a few tenths)...
    if orphan.lease_until > utcnow() + timedelta(seconds=1.0):
        assert await rescuer.run() == 0
    await asyncio.sleep(max(0.0, (orphan.lease_until - utcnow()).total_seconds()) + 0.1)
    # ...and then exactly once.
    assert await rescuer.run() == 1
    assert await rescuer.run() == 0
    assert list(scratch.iterdir()) == [], "no decrypted media outlives the job, even a killed one"
    done = await org.transcript(call_id)
    # Two claims, two attempts: the killed worker's counts (a crash is not a clean stop).
    assert done.status == TranscriptStatus.DONE and done.claimed_by is None and done.attempts == 2
    assert word_error_rate(ADVISER_SAYS, " ".join(s["text"] for s in done.segments or [])) <= 0.15
    assert await audit_actions(org.sessions, f"transcript:{done.id}") == ["transcript.created"]
    assert len(org.events.named("transcript.ready")) == 1


async def test_a_stopped_worker_hands_its_job_back_at_once(
    local_org: Org, speech: dict[str, Path], tmp_path: Path
) -> None:
    org = local_org
    call_id = await org.call()
    await org.record(call_id, "adviser", speech["adviser"], offset=0.0)
    marker = tmp_path / "transcribing"
    job = org.job(HangingEngine(TranscriptionConfig(), marker), worker_id="stopping")
    running = asyncio.create_task(job.run())
    async with asyncio.timeout(30):
        while not marker.exists():
            assert not running.done(), "the job ended before transcribing"
            await asyncio.sleep(0.05)
    assert (await org.transcript(call_id)).claimed_by == "stopping"
    running.cancel()  # what Worker.stop does on SIGTERM
    with contextlib.suppress(asyncio.CancelledError):
        await running
    row = await org.transcript(call_id)
    assert row.status == TranscriptStatus.PENDING and row.claimed_by is None and row.lease_until is None
    assert row.attempts == 0, "a stop is not a failed attempt"


async def test_a_job_that_overstays_the_run_timeout_uses_up_its_attempts_and_fails(
    local_org: Org, speech: dict[str, Path], tmp_path: Path
) -> None:
    """A call too long for the worker's run timeout: each cancelled run is a failed attempt,
    retried after the backoff as other failures are, and the last one fails the job (with its
    receipt) instead of it being claimed (and cancelled) forever."""
    org = local_org
    call_id = await org.call()
    await org.record(call_id, "adviser", speech["adviser"], offset=0.0)
    policy = JobPolicy(max_attempts=2, retry_base_seconds=0.5, retry_max_seconds=0.5)
    for attempt in (1, 2):
        marker = tmp_path / f"transcribing-{attempt}"
        job = org.job(HangingEngine(TranscriptionConfig(), marker), worker_id="slow", policy=policy)
        running = asyncio.create_task(job.run(stopping=lambda: False))
        async with asyncio.timeout(30):
            while not marker.exists():
                assert not running.done(), "the job ended before transcribing"
                await asyncio.sleep(0.05)
        cancelled_at = utcnow()
        running.cancel()  # what the worker's asyncio.timeout does to an overstaying run
        with contextlib.suppress(asyncio.CancelledError):
            await running
        row = await org.transcript(call_id)
        assert (row.attempts, row.claimed_by) == (attempt, None)
        assert row.error is not None and row.error.startswith("timed_out: ")
        if attempt == 1:
            assert row.status == TranscriptStatus.PENDING
            assert row.next_attempt_at is not None and row.next_attempt_at >= cancelled_at
            await asyncio.sleep(0.6)  # past the backoff
    assert row.status == TranscriptStatus.FAILED, "failed by its last attempt, not the next claim"
    assert await audit_actions(org.sessions, f"transcript:{row.id}") == ["transcript.failed"]
    assert await org.job(HangingEngine(TranscriptionConfig(), tmp_path / "never"), policy=policy).run() == 0
    assert not (tmp_path / "never").exists(), "not claimed a third time"


async def test_a_job_that_kills_every_worker_claiming_it_is_given_up_after_max_attempts(
    local_org: Org, speech: dict[str, Path], engine: WhisperEngine
) -> None:
    """Out of memory or a crash in Whisper: the process dies, nothing after the claim is
    written. Each such claim uses an attempt; then the job fails instead of killing more workers."""
    org = local_org
    call_id = await org.call()
    await org.record(call_id, "adviser", speech["adviser"], offset=0.0)
    policy = JobPolicy(lease_seconds=60.0, max_attempts=3)
    at = utcnow()
    assert await org.job(engine).enqueue(at) == 1
    for attempt in (1, 2, 3):
        # What a worker that dies mid-job leaves behind: its claim, and nothing else.
        doomed = org.job(engine, worker_id=f"doomed-{attempt}", policy=policy)
        assert await doomed._claim(at) is not None
        row = await org.transcript(call_id)
        assert (row.status, row.attempts, row.claimed_by) == ("pending", attempt, f"doomed-{attempt}")
        # Not taken, nor given up, while the lease may still be renewed.
        assert await org.job(engine, worker_id="other", policy=policy)._claim(at) is None
        at += timedelta(seconds=61)  # the lease runs out
    rescuer = org.job(engine, worker_id="rescuer", policy=policy)
    assert await rescuer.run(at) == 0
    row = await org.transcript(call_id)
    assert row.status == TranscriptStatus.FAILED and row.attempts == 3
    assert row.error == "gave_up: the worker stopped 3 times while transcribing"
    assert row.claimed_by is None and row.lease_until is None and close_to(row.completed_at, at)
    engine_used = rescuer._engine
    assert isinstance(engine_used, CountingEngine) and engine_used.runs == 0, "not claimed a fourth time"
    assert await rescuer.run(at + timedelta(hours=1)) == 0
    assert await audit_actions(org.sessions, f"transcript:{row.id}") == ["transcript.failed"]
    async with org.sessions() as session:
        [receipt] = (
            await session.scalars(select(AuditEvent).where(AuditEvent.target == f"transcript:{row.id}"))
        ).all()
    assert receipt.org_id == org.id and receipt.details["attempts"] == 3
    assert receipt.details["call_id"] == str(call_id) and receipt.details["error"] == row.error


async def test_a_missing_model_pauses_transcription_without_using_up_attempts_until_it_is_fixed(
    local_org: Org, speech: dict[str, Path], engine: WhisperEngine, caplog: pytest.LogCaptureFixture
) -> None:
    org = local_org
    call_id = await org.call()
    await org.record(call_id, "adviser", speech["adviser"], offset=0.0)
    misconfigured = FixableEngine(engine, TranscriptionConfig())
    job = org.job(
        misconfigured,
        policy=JobPolicy(max_attempts=2, retry_base_seconds=30.0, retry_max_seconds=120.0),
    )
    at = utcnow()
    caplog.set_level(logging.DEBUG, logger="transcription.job")
    # Far more tries than max_attempts; the job is handed back each time, its attempts intact.
    for tries in range(1, 6):
        assert await job.run(at) == 0
        assert misconfigured.tries == tries and misconfigured.runs == 0
        row = await org.transcript(call_id)
        assert (row.status, row.attempts, row.claimed_by, row.lease_until) == ("pending", 0, None, None)
        assert row.error is not None and row.error.startswith("model_unavailable: "), row.error
        # The worker waits (30, 60, then at most 120 s) before it tries the model again.
        delay = min(30 * 2 ** (tries - 1), 120)
        assert await job.run(at + timedelta(seconds=delay - 1)) == 0
        assert misconfigured.tries == tries, "tried again before its backoff"
        # The backoff counts from when the model failed: the pass's start plus however long the
        # pass took, seconds on a loaded machine (a margin of 1 s failed in CI).
        at += timedelta(seconds=delay + 10)
    paused = [r for r in caplog.records if r.levelno >= logging.ERROR and "LOKET_WHISPER_MODEL" in r.message]
    assert len(paused) == 1, "said once, not once per try"
    assert "tiny.nl" in paused[0].message
    # The operator fixes the setting: the job completes, with the one attempt that did it.
    misconfigured.missing = False
    assert await job.run(at) == 1
    done = await org.transcript(call_id)
    assert done.status == TranscriptStatus.DONE and done.attempts == 1 and done.error is None
    assert await audit_actions(org.sessions, f"transcript:{done.id}") == ["transcript.created"]


async def test_malformed_media_fails_its_own_job_with_the_reason_and_others_are_transcribed(
    local_org: Org, speech: dict[str, Path], engine: WhisperEngine
) -> None:
    org = local_org
    broken = await org.call()
    await org.record(broken, "visitor", os.urandom(20_000), offset=0.0)
    good = await org.call()
    await org.record(good, "adviser", speech["adviser"], offset=0.0)
    job = org.job(engine)
    assert await job.run() == 1
    failed = await org.transcript(broken)
    assert failed.status == TranscriptStatus.FAILED and failed.attempts == 1
    assert failed.error is not None and failed.error.startswith("decode_failed: "), failed.error
    assert failed.segments is None and failed.vtt is None and failed.claimed_by is None
    assert (await org.transcript(good)).status == TranscriptStatus.DONE
    assert await audit_actions(org.sessions, f"transcript:{failed.id}") == ["transcript.failed"]
    # Final: retrying the same bytes would give the same answer.
    assert await job.run() == 0
    assert (await org.transcript(broken)).attempts == 1
    assert [payload["call_id"] for payload in org.events.named("transcript.ready")] == [str(good)]
    async with org.sessions() as session:
        assert (await audit.verify(session)).ok


async def test_a_passing_failure_is_retried_with_backoff(
    local_org: Org, speech: dict[str, Path], engine: WhisperEngine
) -> None:
    org = local_org
    call_id = await org.call()
    await org.record(call_id, "adviser", speech["adviser"], offset=0.0)

    class Unreachable(LocalStorage):
        async def get_to_file(self, key: str, dst: Path) -> Any:
            raise OSError("storage is away")

    assert isinstance(org.storage, LocalStorage)
    job = TranscriptionJob(
        sessions=org.sessions,
        storage=Unreachable(org.storage.root),
        recordings=org.recordings,
        config=TranscriptionConfig(),
        engine=engine,
        policy=JobPolicy(retry_base_seconds=30.0),
    )
    assert await job.run() == 0
    row = await org.transcript(call_id)
    assert row.status == TranscriptStatus.PENDING and row.attempts == 1 and row.claimed_by is None
    assert row.error is not None and "storage is away" in row.error
    assert row.next_attempt_at is not None and row.next_attempt_at > utcnow() + timedelta(seconds=20)
    assert await org.job(engine).run() == 0, "not due before its backoff"
    assert await org.job(engine).run(now=utcnow() + timedelta(seconds=31)) == 1
    assert (await org.transcript(call_id)).status == TranscriptStatus.DONE


async def test_the_worker_runs_transcription_only_when_settings_enable_it(
    sessions: SessionFactory, recordings_config: RecordingsConfig, local_storage: Storage, tmp_path: Path
) -> None:
    from loket.settings import Settings
    from loket.worker import Worker

    enabled = Settings(_env_file=None)
    assert enabled.transcription() == TranscriptionConfig(), "on, with the bundled base model"
    disabled = Settings(_env_file=None, transcription_enabled=False)
    assert disabled.transcription() is None

    def names(transcription: TranscriptionConfig | None) -> set[str]:
        worker = Worker(
            sessions=sessions,
            access_log_days=7,
            storage=local_storage,
            recordings=recordings_config,
            transcription=transcription,
        )
        return {job.name for job in worker.jobs}

    assert {"transcription", "transcript and chat retention"} <= names(enabled.transcription())
    assert "transcription" not in names(None)
    assert "transcript and chat retention" in names(None)


async def test_the_worker_owes_the_recording_stored_and_transcript_ready_webhooks(
    local_org: Org, speech: dict[str, Path]
) -> None:
    import webhooks
    from loket.worker import Worker

    org = local_org
    async with org.sessions() as db:
        endpoint = await webhooks.create_endpoint(
            db,
            org_id=org.id,
            url="http://127.0.0.1:9/hooks",
            events=["recording.stored", "transcript.ready"],
            actor="test",
            allow_insecure=True,
        )
        await db.commit()
    call_id = await org.call()
    recording_id = await org.record(call_id, "adviser", speech["adviser"], offset=0.0, store=False)
    worker = Worker(
        sessions=org.sessions,
        access_log_days=7,
        storage=org.storage,
        recordings=org.recordings,
        transcription=TranscriptionConfig(),
    )
    jobs = {job.name: job for job in worker.jobs}
    uploaded = await jobs["recording uploads"].run(worker.context)
    assert isinstance(uploaded, int) and uploaded >= 1
    assert await jobs["transcription"].run(worker.context) == 1
    transcript = await org.transcript(call_id)
    async with org.sessions() as db:
        deliveries = (
            await db.scalars(
                select(webhooks.WebhookDelivery)
                .where(webhooks.WebhookDelivery.endpoint_id == endpoint.id)
                .order_by(webhooks.WebhookDelivery.created_at)
            )
        ).all()
    assert [delivery.event for delivery in deliveries] == ["recording.stored", "transcript.ready"]
    stored, ready = (delivery.payload for delivery in deliveries)
    assert stored["recording_id"] == str(recording_id) and stored["call_id"] == str(call_id)
    assert ready["transcript_id"] == str(transcript.id) and ready["call_id"] == str(call_id)
    # Ids and times only: nothing a visitor said or is.
    assert set(stored) == {"recording_id", "call_id", "participant", "stored_at"}
    assert set(ready) == {"transcript_id", "call_id", "completed_at"}


def test_only_the_scratch_folders_of_dead_jobs_are_removed(tmp_path: Path) -> None:
    live, live_lock = make_scratch(tmp_path)
    dead, dead_lock = make_scratch(tmp_path)
    for folder in (live, dead):
        (folder / "recording.media").write_bytes(b"decrypted")
    os.close(dead_lock)  # what the kernel does when the worker holding it is killed
    # Without a lock: one being made now stays; an old one (a removal raced by a thread) goes.
    making, raced = tmp_path / "loket-transcribe-making", tmp_path / "loket-transcribe-raced"
    for folder in (making, raced):
        folder.mkdir()
    (raced / "recording.media.partial").write_bytes(b"decrypted")
    an_hour_ago = time.time() - 3600
    os.utime(raced, (an_hour_ago, an_hour_ago))
    try:
        assert remove_orphaned_scratch(tmp_path) == 2
        assert not dead.exists() and not raced.exists() and making.exists()
        making.rmdir()
        assert (live / "recording.media").exists(), "a running job's folder (even in this process) stays"
    finally:
        remove_scratch(live, live_lock)
    assert list(tmp_path.iterdir()) == []


async def test_a_transcript_deleted_by_retention_is_not_made_again_from_the_recordings(
    local_org: Org, speech: dict[str, Path], engine: WhisperEngine
) -> None:
    """Transcripts kept shorter than recordings: once the sweep took the transcript, the next
    pass must not transcribe the still stored recordings again (nor after a legal hold ends)."""
    org = local_org
    async with org.sessions() as session:
        await create_rule(
            session, org_id=org.id, queue_id=None, kind=RetentionKind.TRANSCRIPTS, days=1, actor="test"
        )
        await session.commit()
    call_id = await org.call()
    await org.record(call_id, "adviser", speech["adviser"], offset=0.0)
    job = org.job(engine)
    assert await job.run() == 1
    later = utcnow() + timedelta(days=2)
    swept = await sweep_expired_call_data(org.sessions, later)
    assert swept[RetentionKind.TRANSCRIPTS] >= 1
    async with org.sessions() as session:
        assert await session.scalar(select(TranscriptRow.id).where(TranscriptRow.call_id == call_id)) is None
    assert await job.enqueue(later) == 0, "the expired transcript was queued to be made again"
    assert await job.run(later) == 0


class ScriptedEngine(WhisperEngine):
    """Hears one fixed sentence in any audio: the job's storing is under test here, not Whisper."""

    async def resolve_language(self, language: str | None) -> str | None:
        return language or "en"

    async def transcribe(
        self, audio: NDArray[np.float32], *, language: str | None, candidates: Sequence[str] = ()
    ) -> Transcript:
        said = Segment(start=0.0, end=1.0, text="Is the blue Polo still for sale")
        return Transcript(language="en", model="scripted", duration=1.0, segments=(said,))


async def test_the_job_stores_the_transcript_sealed_with_the_calls_data_key(
    local_org: Org, speech: dict[str, Path], database_url: str
) -> None:
    """Issue 12 item 8: with the installation keys, what was said is never in the row in clear,
    and it opens with the call's key (the one the chat of the call is sealed with)."""
    org = local_org
    call_id = await org.call()
    await org.record(call_id, "adviser", speech["adviser"], offset=0.0)
    engine = create_engine(database_url)
    keyed = create_session_factory(engine, keys=InstallationKeys(secrets.token_bytes(32)))
    try:
        job = org.job(ScriptedEngine(TranscriptionConfig()), sessions=keyed)
        assert await job.run() == 1
        row = await org.transcript(call_id)
        assert row.status == TranscriptStatus.DONE and isinstance(row.segments, str) and row.vtt is not None
        assert row.segments.startswith("sealed:v1:") and row.vtt.startswith("sealed:v1:")
        assert "Polo" not in row.segments + row.vtt
        async with keyed() as session:
            key = await call_data_key(session, call_id, create=False)
        segments = open_segments(key, call_id, row.id, row.segments)
        assert segments is not None and [s["text"] for s in segments] == ["Is the blue Polo still for sale"]
        assert "<v Adviser>Is the blue Polo still for sale" in (open_vtt(key, call_id, row.id, row.vtt) or "")
    finally:
        await engine.dispose()
