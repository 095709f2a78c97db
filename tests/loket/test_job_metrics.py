"""The worker's job rows as metrics (``loket.observability.JobState``), read from a real database
(SQLite and PostgreSQL): pending, leased and failed uploads, the oldest one's age, and the spool
backlog of one media node with the uploads retrying after a failure."""

from __future__ import annotations

import secrets
import uuid
from datetime import timedelta
from pathlib import Path

from sqlalchemy import update

from db import SessionFactory, utcnow
from loket.observability import JobState
from recordings import Recording, RecordingStatus, create_recording


async def read(sessions: SessionFactory) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    state = JobState(sessions=sessions)
    await state.refresh()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in state.collect()
        for sample in family.samples
    }


def sample(readings: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float:
    return readings.get((name, tuple(sorted(labels.items()))), 0.0)


async def test_upload_rows_show_as_pending_leased_failed_and_a_nodes_backlog(
    sessions: SessionFactory, call_id: uuid.UUID
) -> None:
    node = f"metrics-{secrets.token_hex(3)}"
    before = await read(sessions)
    now = utcnow()
    rows = {
        # (status, attempts, lease held, age)
        "waiting": (RecordingStatus.SPOOLED, 0, False, timedelta(minutes=10)),
        "retrying": (RecordingStatus.SPOOLED, 2, False, timedelta(minutes=1)),
        "uploading": (RecordingStatus.UPLOADING, 1, True, timedelta(seconds=5)),
        "failed": (RecordingStatus.FAILED, 5, False, timedelta(hours=1)),
    }
    async with sessions() as db:
        for name, (status, attempts, leased, age) in rows.items():
            recording = await create_recording(
                db,
                call_id=call_id,
                participant="visitor",
                spool_path=Path(f"{call_id}/{name}.webm"),
                spool_node=node,
                now=now - age,
            )
            await db.execute(
                update(Recording)
                .where(Recording.id == recording.id)
                .values(
                    status=status.value,
                    attempts=attempts,
                    claimed_by="worker-x" if leased else None,
                    lease_until=now + timedelta(minutes=5) if leased else None,
                )
            )
        await db.commit()
    after = await read(sessions)

    def grew(name: str, **labels: str) -> float:
        return sample(after, name, **labels) - sample(before, name, **labels)

    assert grew("loket_jobs", job="recording_upload", state="pending") == 2
    assert grew("loket_jobs", job="recording_upload", state="leased") == 1
    assert grew("loket_jobs", job="recording_upload", state="failed") == 1
    assert sample(after, "loket_jobs_oldest_pending_seconds", job="recording_upload") >= 600
    # This node's spool only: the spooled and uploading rows; one waits after a failed attempt.
    assert sample(after, "loket_recordings_spool_backlog", node=node) == 3
    assert sample(after, "loket_recording_uploads_retrying", node=node) == 1
    assert 600 <= sample(after, "loket_recordings_spool_oldest_seconds", node=node) < 700
    for job in ("transcription", "privacy_request", "webhook_delivery"):
        assert ("loket_jobs", (("job", job), ("state", "pending"))) in after
