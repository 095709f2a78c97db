"""A dead media node's spool, adopted by a live one when the nodes share it.

A media node spools recordings under its own directory and stores them itself
(``loket.media_node``). If it dies, what its spool holds waits: the file of a recording it was
making (its row marked spooled by signalling), a file not yet uploaded, the file of a recording
shredded meanwhile (``privacy.purge`` leaves those for the node). With a spool on the node's own
disk nothing else can reach them, and they wait until the node starts again under the same id.

With ``LOKET_MEDIA_SHARED_SPOOL`` every node spools under ``{shared}/{node id}`` on a volume
they all mount (NFS, a shared Docker volume). Then each pass of a live node's adoption job:

1. lists the nodes that have rows with spool files (``recordings.spool_node``) and are not alive
   in the registry (their registration lapsed: SIGKILLed, or stopped and not back);
2. for each, runs that node's upload pass (``retry_pending_uploads`` with its id and its
   directory under the shared spool): leftover files of stored or shredded rows deleted, the
   others encrypted, uploaded and verified by checksum, then deleted.

Every row is taken under the uploads' lease, so two adopters, or the node coming back meanwhile,
never handle one row twice; a node that is alive is never adopted. A node id read from the
database is checked before it names a directory, and ``retry_pending_uploads`` refuses any
file outside that directory.
"""

from __future__ import annotations

import dataclasses
import logging
from datetime import datetime
from pathlib import Path

from sqlalchemy import select

from db import SessionFactory
from media.node import Registry, valid_id
from recordings import Recording, RecordingsConfig, Storage, retry_pending_uploads
from webhooks import enqueue_event

logger = logging.getLogger(__name__)


async def nodes_with_spool_files(sessions: SessionFactory) -> set[str]:
    """The media nodes whose spool holds a file some row still names."""
    async with sessions() as session:
        rows = await session.scalars(
            select(Recording.spool_node)
            .where(Recording.spool_node.is_not(None), Recording.spool_path.is_not(None))
            .distinct()
        )
        return {node for node in rows if node is not None}


async def adopt_dead_nodes_spools(
    sessions: SessionFactory,
    storage: Storage,
    recordings: RecordingsConfig,
    registry: Registry,
    *,
    shared_spool: Path,
    own_id: str,
    now: datetime,
    worker_id: str,
) -> int:
    """One adoption pass (see the module docstring); how many recordings it stored."""
    waiting = await nodes_with_spool_files(sessions) - {own_id}
    if not waiting:
        return 0
    alive = {node.node_id for node in await registry.nodes()}
    stored = 0
    for node_id in sorted(waiting - alive):
        if not valid_id(node_id):
            logger.warning("a recording names spool node %r, which is no node id; left", node_id)
            continue
        config = dataclasses.replace(recordings, spool_dir=shared_spool / node_id)
        done = await retry_pending_uploads(
            sessions,
            storage,
            config,
            now,
            worker_id=worker_id,
            on_stored=enqueue_event,
            spool_node=node_id,
        )
        if done:
            logger.info("media node %s stored %d recordings of dead node %s", own_id, done, node_id)
        stored += done
    return stored
