"""Seeding for the privacy suites: an organisation to make calls, rules, recordings, transcripts
and chat in (the ``org`` fixture, wired in ``conftest.py``), and what the tests ask of receipts."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, insert, select, update

from accounts.models import Organisation, Queue
from db import SessionFactory, utcnow
from db.audit import AuditEvent
from privacy import RetentionKind, RetentionRule, create_rule, recording_deadline, retention_for_call
from recordings import Recording, RecordingStatus, Storage, create_recording, get_recording
from signaling.models import Call, ChatMessage
from tests.recordings.conftest import write
from transcription.models import Transcript, TranscriptStatus


@dataclass
class Org:
    """A fresh organisation with two queues; everything made through it hangs off it and goes
    with it (the ``org`` fixture deletes the organisation, and the rest cascades)."""

    sessions: SessionFactory
    id: uuid.UUID
    sales: uuid.UUID
    repairs: uuid.UUID
    scratch: Path

    @property
    def queues(self) -> tuple[uuid.UUID, uuid.UUID]:
        return self.sales, self.repairs

    async def call(self, queue_id: uuid.UUID | None = None, created_at: datetime | None = None) -> uuid.UUID:
        async with self.sessions() as session:
            call = Call(
                org_id=self.id,
                queue_id=queue_id,
                reference=secrets.token_hex(6),
                visitor_id=secrets.token_hex(8),
                created_at=created_at or utcnow(),
            )
            session.add(call)
            await session.commit()
            return call.id

    async def rule(self, kind: RetentionKind, days: int, queue_id: uuid.UUID | None = None) -> RetentionRule:
        async with self.sessions() as session:
            rule = await create_rule(
                session, org_id=self.id, queue_id=queue_id, kind=kind, days=days, actor="test"
            )
            await session.commit()
            return rule

    async def recording(
        self,
        call_id: uuid.UUID,
        storage: Storage | None = None,
        *,
        spool: Path | None = None,
        created_at: datetime | None = None,
    ) -> Recording:
        """A row as signalling creates it (deadline from the rules); stored in ``storage`` if
        given, else left spooled in ``spool``."""
        created_at = created_at or utcnow()
        path = spool or Path(f"/nonexistent/{uuid.uuid4()}.webm")
        async with self.sessions() as session:
            deadline = await recording_deadline(session, call_id=call_id, created_at=created_at)
            row = await create_recording(
                session,
                call_id=call_id,
                participant="visitor",
                spool_path=path,
                delete_after=deadline,
                now=created_at,
            )
            values: dict[str, Any] = {"wrapped_key": secrets.token_bytes(60), "key_id": "k"}
            if storage is not None:
                source = self.scratch / f"{uuid.uuid4()}.enc"
                write(source, secrets.token_bytes(100))
                await storage.put_file(row.storage_key, source)
                source.unlink()
                values.update(status=RecordingStatus.STORED.value, spool_path=None)
            else:
                values.update(status=RecordingStatus.SPOOLED.value)
            await session.execute(update(Recording).where(Recording.id == row.id).values(**values))
            await session.commit()
            return await get_recording(session, row.id)

    async def transcript(self, call_id: uuid.UUID, created_at: datetime) -> uuid.UUID:
        """A done transcript, its deadline from the rules as the job sets it."""
        return await self._with_deadline(
            RetentionKind.TRANSCRIPTS,
            Transcript,
            call_id,
            created_at,
            status=TranscriptStatus.DONE.value,
            segments=[],
            vtt="WEBVTT\n",
            redacted=True,
            attempts=1,
            legal_hold=False,
        )

    async def chat(self, call_id: uuid.UUID, created_at: datetime) -> uuid.UUID:
        """A chat line, its deadline from the rules as signalling sets it."""
        return await self._with_deadline(
            RetentionKind.CHAT,
            ChatMessage,
            call_id,
            created_at,
            party="visitor",
            text="my number is 0612345678",
        )

    async def _with_deadline(
        self,
        kind: RetentionKind,
        model: type[Transcript] | type[ChatMessage],
        call_id: uuid.UUID,
        created_at: datetime,
        **values: Any,
    ) -> uuid.UUID:
        async with self.sessions() as session:
            retention = await retention_for_call(session, call_id, kind)
            row_id = uuid.uuid4()
            await session.execute(
                insert(model).values(
                    id=row_id,
                    call_id=call_id,
                    created_at=created_at,
                    delete_after=retention.deadline(created_at),
                    **values,
                )
            )
            await session.commit()
            return row_id


@pytest.fixture
async def org(sessions: SessionFactory, tmp_path: Path) -> AsyncIterator[Org]:
    async with sessions() as session:
        organisation = Organisation(name="Privacy Test")
        session.add(organisation)
        await session.flush()
        queues = [Queue(org_id=organisation.id, name=name) for name in ("Sales", "Repairs")]
        session.add_all(queues)
        await session.commit()
        made = Org(sessions, organisation.id, queues[0].id, queues[1].id, tmp_path)
    yield made
    async with sessions() as session:
        await session.execute(delete(Organisation).where(Organisation.id == made.id))
        await session.commit()


async def receipts(sessions: SessionFactory, target: str) -> list[AuditEvent]:
    """The deletion receipts of ``target`` ("recording:<id>", "call:<id>", ...)."""
    async with sessions() as session:
        events = await session.scalars(
            select(AuditEvent).where(AuditEvent.target == target, AuditEvent.action.like("%.deleted"))
        )
        return list(events.all())


def close_to(actual: datetime | None, expected: datetime) -> bool:
    # SQLite recomputes deadlines in SQL with millisecond precision.
    return actual is not None and abs(actual - expected) < timedelta(milliseconds=2)
