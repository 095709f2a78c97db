"""Issue 13: photos in a call (``call_attachments``, retention kind ``attachments``) and context
from the host page (``widget_keys.context_keys``, the allowlist; ``calls.context``).

The two new columns use ``op.add_column``/``op.drop_column``, not a batch (see 0006): on SQLite
a batch rebuilds the table (copy, drop, rename), which loses ``calls.rating``'s column CHECK and,
with foreign keys on, would cascade the drop of ``calls`` into every table that references it.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07 00:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_KINDS_BEFORE = ("recordings", "transcripts", "call_metadata", "chat", "access_log")
_KINDS_AFTER = ("recordings", "transcripts", "call_metadata", "chat", "attachments", "access_log")


def _known_kind(kinds: tuple[str, ...]) -> str:
    return "kind IN (" + ", ".join(f"'{kind}'" for kind in kinds) + ")"


def upgrade() -> None:
    op.create_table(
        "call_attachments",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("call_id", sa.Uuid(), nullable=False),
        sa.Column("party", sa.String(length=16), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("content_type", sa.String(length=32), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("bytes", sa.Integer(), nullable=False),
        sa.Column("ciphertext", sa.LargeBinary(), nullable=False),
        sa.Column("wrapped_key", sa.LargeBinary(), nullable=True),
        sa.Column("key_id", sa.String(length=32), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("delete_after", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["call_id"], ["calls.id"], name=op.f("fk_call_attachments_call_id_calls"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_call_attachments")),
    )
    with op.batch_alter_table("call_attachments", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_call_attachments_call_id"), ["call_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_call_attachments_delete_after"), ["delete_after"], unique=False)
    with op.batch_alter_table("retention_rules", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_retention_rules_known_kind"), type_="check")
        batch_op.create_check_constraint(op.f("ck_retention_rules_known_kind"), _known_kind(_KINDS_AFTER))
    op.add_column("widget_keys", sa.Column("context_keys", sa.JSON(), nullable=False, server_default="[]"))
    op.add_column("calls", sa.Column("context", sa.JSON(), nullable=True))


def downgrade() -> None:
    op.drop_column("calls", "context")
    op.drop_column("widget_keys", "context_keys")
    op.execute("DELETE FROM retention_rules WHERE kind = 'attachments'")
    with op.batch_alter_table("retention_rules", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_retention_rules_known_kind"), type_="check")
        batch_op.create_check_constraint(op.f("ck_retention_rules_known_kind"), _known_kind(_KINDS_BEFORE))
    op.drop_table("call_attachments")
