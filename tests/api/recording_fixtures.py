"""Recordings made the way the pipeline makes them (spooled, encrypted, uploaded, verified) for the
admin API and admin-console tests, with the running server's own storage and master key."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

import privacy
import recordings
from db import create_engine, create_session_factory, utcnow
from signaling.models import Call, CallStatus
from signaling.reference import new_reference
from tests.conftest import Backend, World


@dataclass(frozen=True)
class StoredRecording:
    id: uuid.UUID
    call_id: uuid.UUID
    reference: str
    media: bytes


def write_test_webm(path: Path, *, seconds: float = 1.0, fps: int = 10) -> Path:
    """A small VP8 WebM a browser can play: a moving colour bar, 160x120."""
    with av.open(str(path), "w", format="webm") as container:
        stream = container.add_stream("libvpx", rate=fps)
        stream.width, stream.height, stream.pix_fmt = 160, 120, "yuv420p"
        stream.codec_context.time_base = Fraction(1, fps)
        for index in range(int(seconds * fps)):
            image = np.zeros((120, 160, 3), dtype=np.uint8)
            image[:, :, 1] = 90
            image[:, (index * 12) % 160 : (index * 12) % 160 + 20, 0] = 230
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts = index
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path


async def stored_recording(
    backend: Backend,
    world: World,
    media: Path,
    *,
    created_at: datetime | None = None,
    waited_seconds: float = 0.0,
    duration_seconds: float = 1.0,
) -> StoredRecording:
    """An answered call in the world's queue (the visitor waited ``waited_seconds``) with one
    stored visitor recording of ``media``."""
    settings = backend.settings()
    config = settings.recordings()
    storage = recordings.storage_from_config(config)
    engine = create_engine(backend.database_url)
    sessions = create_session_factory(engine)
    spool = config.spool_dir / f"{uuid.uuid4()}.webm"
    spool.parent.mkdir(parents=True, exist_ok=True)
    data = media.read_bytes()
    spool.write_bytes(data)
    when = created_at or utcnow()
    try:
        async with sessions() as db:
            call = Call(
                org_id=world.org_id,
                queue_id=world.queue_id,
                reference=new_reference(),
                visitor_id=uuid.uuid4().hex,
                status=CallStatus.ENDED,
                created_at=when,
                accepted_at=when + timedelta(seconds=waited_seconds),
                ended_at=when + timedelta(seconds=waited_seconds + duration_seconds),
            )
            db.add(call)
            await db.flush()
            deadline = await privacy.recording_deadline(db, call_id=call.id, created_at=when)
            row = await recordings.create_recording(
                db, call_id=call.id, participant="visitor", spool_path=spool, delete_after=deadline, now=when
            )
            await recordings.mark_spooled(db, row.id, duration_seconds=duration_seconds)
            await db.commit()
            call_id, reference = call.id, call.reference
        assert await recordings.store_recording(sessions, storage, config, row.id)
    finally:
        await storage.stop()
        await engine.dispose()
    return StoredRecording(row.id, call_id, reference, data)
