"""Database foundation: the declarative base, engine/session factory, migrations, audit chain."""

from db import audit
from db.access_log import AccessLogEntry, purge_older_than
from db.base import Base, UTCDateTime, new_id, utcnow
from db.engine import SessionFactory, create_engine, create_session_factory, is_postgres
from db.errors import LoketError

__all__ = [
    "AccessLogEntry",
    "Base",
    "LoketError",
    "SessionFactory",
    "UTCDateTime",
    "audit",
    "create_engine",
    "create_session_factory",
    "is_postgres",
    "new_id",
    "purge_older_than",
    "utcnow",
]
