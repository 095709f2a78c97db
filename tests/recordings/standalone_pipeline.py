"""Run by ``test_the_pipeline_runs_without_signaling_or_the_shell_loaded`` in a fresh interpreter:
store one recording with nothing but ``db`` and ``recordings`` imported.

Usage: python standalone_pipeline.py DATABASE_URL WORK_DIR
"""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from pathlib import Path

from sqlalchemy import text

import recordings
from db import create_engine, create_session_factory

INSERT_ORG = "INSERT INTO organisations (id, name, created_at) VALUES (:id, 'o', '2026-01-01')"
INSERT_CALL = (
    "INSERT INTO calls (id, org_id, reference, visitor_id, status, created_at) "
    "VALUES (:id, :org, :ref, 'v', 'ended', '2026-01-01')"
)


async def main(database_url: str, work: Path) -> None:
    engine = create_engine(database_url)
    sessions = create_session_factory(engine)
    spool = work / "spool"
    spool.mkdir()
    config = recordings.RecordingsConfig(master_key=os.urandom(32), spool_dir=spool)
    storage = recordings.LocalStorage(work / "objects")
    org, call = uuid.uuid4(), uuid.uuid4()
    (spool / "a.webm").write_bytes(b"media" * 1000)
    async with sessions() as session:
        # Plain SQL: signaling's models are exactly what must not be loaded here.
        await session.execute(text(INSERT_ORG), {"id": org.hex})
        await session.execute(
            text(INSERT_CALL), {"id": call.hex, "org": org.hex, "ref": uuid.uuid4().hex[:12]}
        )
        row = await recordings.create_recording(
            session, call_id=call, participant="visitor", spool_path=spool / "a.webm"
        )
        await recordings.mark_spooled(session, row.id, duration_seconds=1.0)
        await session.commit()
    assert await recordings.store_recording(sessions, storage, config, row.id)
    async with sessions() as session:
        await session.execute(text("DELETE FROM organisations WHERE id = :id"), {"id": org.hex})
        await session.commit()
    await engine.dispose()
    loaded = sorted(name for name in sys.modules if name.split(".")[0] in ("loket", "signaling", "media"))
    assert not loaded, loaded
    print("ok")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], Path(sys.argv[2])))
