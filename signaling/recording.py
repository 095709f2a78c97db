"""Starting and stopping a call's recording: catalogue rows, spool files, media recorders.

The switchboard decides *whether* (queue policy, the visitor's consent) under the
organisation's lock; this module does the *how*: a ``recordings`` row per participant in
status ``recording``, the media placement remuxing into the spool, and when it stops the
rows marked spooled so the worker encrypts and uploads them. Nothing is written before
``start`` is called, and ``start`` is only called once consent is stored. Each row gets its
deletion deadline at once, from the retention rule of the call's queue or organisation.

Files are named by spool key (``media.spool``: ``{call_id}/{party}-{hex}.webm``), never by a
path of this machine: the process that records (this one, or the call's media node) writes
them under its own spool directory. A row of a call placed on a media node keeps the key and
``spool_node``, that node's id, so the node's upload loop, and only it, stores the file. With
media in this process (``place`` returns ``None``) the row keeps the file's absolute path under
``spool_dir`` and no node, as before media nodes: the workers' spool, which retention and
erasure clean by path.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import cast

from sqlalchemy import delete

from db import SessionFactory, utcnow
from media.placement import MediaPlacement
from media.types import Party
from privacy import recording_deadline
from recordings import Recording, create_recording, mark_spooled

logger = logging.getLogger(__name__)

PARTIES: tuple[Party, Party] = ("visitor", "adviser")


class RecordingControl:
    def __init__(self, *, sessions: SessionFactory, media: MediaPlacement, spool_dir: Path) -> None:
        self._sessions = sessions
        self._media = media
        self._spool_dir = spool_dir

    async def start(self, call_id: str) -> dict[str, str]:
        """Start recording both parties; returns the recording id of each."""
        ids: dict[str, str] = {}
        paths: dict[Party, Path] = {}
        # Placed at accept already; this returns the same node (or None: media in process).
        spool_node = await self._media.place(call_id)
        async with self._sessions() as db:
            now = utcnow()
            delete_after = await recording_deadline(db, call_id=uuid.UUID(call_id), created_at=now)
            for party in PARTIES:
                path = Path(call_id, f"{party}-{uuid.uuid4().hex}.webm")
                row = await create_recording(
                    db,
                    call_id=uuid.UUID(call_id),
                    participant=party,
                    spool_path=path if spool_node else self._spool_dir.resolve() / path,
                    spool_node=spool_node,
                    delete_after=delete_after,
                    now=now,
                )
                ids[party], paths[party] = str(row.id), path
            await db.commit()
        try:
            await self._media.start_recording(call_id, paths)
        except Exception:
            await self._forget(ids.values())
            raise
        return ids

    async def stop(self, call_id: str, ids: dict[str, str]) -> None:
        """Stop recording; complete files go to the upload queue, empty ones leave no row."""
        results = await self._media.stop_recording(call_id)
        empty = []
        async with self._sessions() as db:
            for party, recording_id in ids.items():
                result = results.get(cast(Party, party))
                if result is None or result.path is None:
                    empty.append(recording_id)
                    continue
                await mark_spooled(db, uuid.UUID(recording_id), duration_seconds=result.duration_seconds)
            await db.commit()
        if empty:
            # No keyframe arrived between start and stop: there is no file to keep.
            await self._forget(empty)

    async def lost(self, ids: dict[str, str]) -> None:
        """The call's media node died while recording: its files stay in that node's spool,
        cut off where it died. Their rows are marked spooled (the duration unknown), so that
        node uploads them (with checksums) when it starts again under the same id; until then
        they stay spooled."""
        async with self._sessions() as db:
            for recording_id in ids.values():
                await mark_spooled(db, uuid.UUID(recording_id), duration_seconds=None)
            await db.commit()

    async def _forget(self, recording_ids: Iterable[str]) -> None:
        ids = [uuid.UUID(recording_id) for recording_id in recording_ids]
        async with self._sessions() as db:
            await db.execute(delete(Recording).where(Recording.id.in_(ids)))
            await db.commit()
