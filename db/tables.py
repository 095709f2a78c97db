"""Lightweight declarations of tables that one package owns and others read or delete from.

A package below another in the import arrows (docs/architecture.md, "Packages") cannot import the
owner's models: privacy cannot import signaling's ``Call``. It names the table here instead, with
the columns any reader needs. These are SQLAlchemy ``table()`` constructs, not mapped classes, so
they add nothing to ``Base.metadata``; the owners' models and the migrations stay the truth, and
tests/db/test_tables.py checks every column here exists there.
"""

from __future__ import annotations

from sqlalchemy import JSON, Boolean, Integer, String, Text, Uuid, column, table

from db.base import UTCDateTime

# Owned by signaling (signaling/models.py).
CALLS = table(
    "calls",
    column("id", Uuid),
    column("org_id", Uuid),
    column("queue_id", Uuid),
    column("reference", String),
    column("visitor_id", String),
    column("language", String),
    column("status", String),
    column("end_reason", String),
    column("created_at", UTCDateTime()),
    column("accepted_at", UTCDateTime()),
    column("ended_at", UTCDateTime()),
    column("rating", Integer),
    column("context", JSON),
)
CONSENTS = table(
    "consents",
    column("id", Uuid),
    column("call_id", Uuid),
    column("party", String),
    column("kind", String),
    column("granted", Boolean),
    column("text_id", String),
    column("text_hash", String),
    column("text_version", Integer),
    column("language", String),
    column("granted_at", UTCDateTime()),
    column("withdrawn_at", UTCDateTime()),
)
CHAT_MESSAGES = table(
    "chat_messages",
    column("id", Uuid),
    column("call_id", Uuid),
    column("party", String),
    column("text", String),
    column("created_at", UTCDateTime()),
    column("delete_after", UTCDateTime()),
)

# Owned by accounts (accounts/models.py).
ORGANISATIONS = table("organisations", column("id", Uuid), column("redact_transcripts", Boolean))
QUEUES = table(
    "queues",
    column("id", Uuid),
    column("org_id", Uuid),
    column("name", String),
    column("languages", JSON),
    column("transcription", Boolean),
)

# Owned by transcription (transcription/models.py).
TRANSCRIPTS = table(
    "transcripts",
    column("id", Uuid),
    column("call_id", Uuid),
    column("status", String),
    column("language", String),
    column("model", String),
    column("segments", JSON),
    column("vtt", Text),
    column("redacted", Boolean),
    column("error", String),
    column("legal_hold", Boolean),
    column("created_at", UTCDateTime()),
    column("completed_at", UTCDateTime()),
    column("delete_after", UTCDateTime()),
)
