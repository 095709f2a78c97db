"""Database foundation: the declarative base, engine/session factory, migrations, audit chain,
and the job leases every worker job claims its rows with (``db.jobs``: claim, hold, renew,
back off)."""

from db import audit
from db.access_log import AccessLogEntry, purge_older_than
from db.base import Base, UTCDateTime, new_id, utcnow
from db.engine import SessionFactory, create_engine, create_session_factory, is_postgres
from db.errors import LoketError
from db.jobs import (
    Clock,
    LeaseKeeper,
    backoff,
    claim_rows,
    default_worker_id,
    lease_kept,
    update_if_held,
)

__all__ = [
    "AccessLogEntry",
    "Base",
    "Clock",
    "LeaseKeeper",
    "LoketError",
    "SessionFactory",
    "UTCDateTime",
    "audit",
    "backoff",
    "claim_rows",
    "create_engine",
    "create_session_factory",
    "default_worker_id",
    "is_postgres",
    "lease_kept",
    "new_id",
    "purge_older_than",
    "update_if_held",
    "utcnow",
]
