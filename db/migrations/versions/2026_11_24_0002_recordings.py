"""Recordings catalogue: per-participant recordings, their encrypted copy, upload lease and retention.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24 03:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "recordings",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("call_id", sa.Uuid(), nullable=False),
        sa.Column("participant", sa.String(length=16), nullable=False),
        sa.Column("storage_key", sa.String(length=512), nullable=False),
        sa.Column("spool_path", sa.String(length=1024), nullable=True),
        sa.Column("bytes", sa.BigInteger(), nullable=True),
        sa.Column("duration_seconds", sa.Float(), nullable=True),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.Column("plaintext_sha256", sa.String(length=64), nullable=True),
        sa.Column("wrapped_key", sa.LargeBinary(), nullable=True),
        sa.Column("key_id", sa.String(length=32), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.String(length=1000), nullable=True),
        sa.Column("delete_after", sa.DateTime(timezone=True), nullable=True),
        sa.Column("legal_hold", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("stored_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("claimed_by", sa.String(length=100), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["call_id"], ["calls.id"], name=op.f("fk_recordings_call_id_calls"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recordings")),
        sa.UniqueConstraint("storage_key", name=op.f("uq_recordings_storage_key")),
    )
    with op.batch_alter_table("recordings", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_recordings_call_id"), ["call_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_recordings_delete_after"), ["delete_after"], unique=False)
        batch_op.create_index(
            "ix_recordings_status_next_attempt", ["status", "next_attempt_at"], unique=False
        )


def downgrade() -> None:

    with op.batch_alter_table("recordings", schema=None) as batch_op:
        batch_op.drop_index("ix_recordings_status_next_attempt")
        batch_op.drop_index(batch_op.f("ix_recordings_delete_after"))
        batch_op.drop_index(batch_op.f("ix_recordings_call_id"))

    op.drop_table("recordings")
