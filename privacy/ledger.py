"""The erasure ledger: every erasure's receipt, also kept outside the database, so that erasure
survives a restore of a database backup.

A backup made before an erasure still holds the erased call's rows and the wrapped keys of its
recordings; restoring it would bring them back. So every erasure of a call (a visitor's or a
staff member's request, done by ``privacy.request_worker``) also appends its receipt to an
append-only ledger in the recordings storage: one small JSON object per erasure, under
``ledger/erasures/<YYYY-MM-DD>/<time>-<call id>.json``, written once and never rewritten (a new
key each time). It holds only ids and counts, no personal data.

After a restore, ``replay_erasures(since=...)`` (``loket privacy replay --since TIME``) reads the
receipts written since the backup was made and erases those calls again (``erase_call_data``: the
recordings shredded, every stored copy deleted, the rows gone). Replaying is idempotent: a call
that is already gone counts as done. Backups are kept one week (README, "Backups"), so a replay
``--since`` the backup's time is always enough.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import tempfile
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from db import SessionFactory, audit
from privacy.erasure import erase_call_data
from recordings.errors import LegalHold
from recordings.storage import Storage

logger = logging.getLogger(__name__)

PREFIX = "ledger/erasures"
ACTOR = "privacy-replay"
REPLAY_REASON = "erasure replayed after a restore"
FORMAT = 1


@dataclass(frozen=True, slots=True)
class ErasureReceipt:
    """One erasure as the ledger keeps it: which call of which organisation, when, why."""

    call_id: uuid.UUID
    org_id: uuid.UUID | None
    erased_at: datetime
    reason: str
    request_id: uuid.UUID | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "call_id": str(self.call_id),
            "org_id": str(self.org_id) if self.org_id else None,
            "erased_at": self.erased_at.astimezone(UTC).isoformat(),
            "reason": self.reason,
            "request_id": str(self.request_id) if self.request_id else None,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ErasureReceipt:
        return cls(
            call_id=uuid.UUID(data["call_id"]),
            org_id=uuid.UUID(data["org_id"]) if data.get("org_id") else None,
            erased_at=datetime.fromisoformat(data["erased_at"]),
            reason=str(data.get("reason", "")),
            request_id=uuid.UUID(data["request_id"]) if data.get("request_id") else None,
        )


def _key(receipt: ErasureReceipt) -> str:
    at = receipt.erased_at.astimezone(UTC)
    # Sortable by time within a day; the random tail keeps two writers from ever sharing a key.
    return f"{PREFIX}/{at:%Y-%m-%d}/{at:%H%M%S%f}-{receipt.call_id}-{secrets.token_hex(4)}.json"


def _write(path: Path, receipt: ErasureReceipt) -> None:
    path.write_text(json.dumps(receipt.to_json(), sort_keys=True))


async def append_receipt(storage: Storage, receipt: ErasureReceipt) -> str:
    """Append ``receipt`` to the ledger (a new object, never overwritten); returns its key."""
    key = _key(receipt)
    with tempfile.TemporaryDirectory(prefix="loket-ledger-") as folder:
        path = Path(folder) / "receipt.json"
        await asyncio.to_thread(_write, path, receipt)
        await storage.put_file(key, path)
    return key


async def read_receipts(storage: Storage, *, since: datetime) -> list[ErasureReceipt]:
    """Every receipt of an erasure at or after ``since``, oldest first."""
    since = since.astimezone(UTC)
    keys = [
        key
        for key in await storage.list_keys(PREFIX + "/")
        if key.endswith(".json") and key.split("/")[-2] >= f"{since:%Y-%m-%d}"
    ]
    receipts = []
    with tempfile.TemporaryDirectory(prefix="loket-ledger-") as folder:
        for n, key in enumerate(keys):
            path = Path(folder) / f"{n}.json"
            await storage.get_to_file(key, path)
            data = json.loads(await asyncio.to_thread(path.read_text))
            receipt = ErasureReceipt.from_json(data)
            if receipt.erased_at >= since:
                receipts.append(receipt)
    return sorted(receipts, key=lambda receipt: receipt.erased_at)


@dataclass(frozen=True, slots=True)
class Replay:
    """What a replay did: receipts read, calls erased again, calls already gone."""

    receipts: int
    erased_again: int
    already_gone: int


async def replay_erasures(
    sessions: SessionFactory, storage: Storage, *, since: datetime, spool_dir: Path | None = None
) -> Replay:
    """Erase again every call the ledger says was erased at or after ``since`` (after a restore)."""
    receipts = await read_receipts(storage, since=since)
    erased_again = already_gone = 0
    for call_id in dict.fromkeys(receipt.call_id for receipt in receipts):
        try:
            erased = await erase_call_data(
                sessions,
                storage,
                call_id,
                "erasure replayed after a restore",
                actor=ACTOR,
                spool_dir=spool_dir,
            )
        except LegalHold:
            # Put on hold in the restored data: the hold decides, as for any erasure.
            logger.warning("privacy: call %s is under legal hold; not erased again", call_id)
            continue
        if erased.call_deleted or erased.recordings:
            erased_again += 1
        else:
            already_gone += 1
    async with sessions() as session:
        await audit.record(
            session,
            actor=ACTOR,
            action="privacy.erasures_replayed",
            target="ledger",
            details={
                "since": since.isoformat(),
                "receipts": len(receipts),
                "erased_again": erased_again,
                "already_gone": already_gone,
            },
        )
        await session.commit()
    logger.info(
        "privacy: replayed %d erasure receipts since %s: %d erased again", len(receipts), since, erased_again
    )
    return Replay(len(receipts), erased_again, already_gone)
