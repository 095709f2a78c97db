"""Issue 13: call transfers (``call:transfer``): one ``call_transfers`` row per attempt, and
``calls.transfers``, the count of completed ones that statistics sum.

``calls.transfers`` uses ``op.add_column``/``op.drop_column``, not a batch (see 0012): on SQLite
a batch rebuilds ``calls`` and loses ``calls.rating``'s column CHECK.

Revision ID: 0014
Revises: 0012
Create Date: 2026-12-07 00:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "call_transfers",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("call_id", sa.Uuid(), nullable=False),
        sa.Column("from_adviser_id", sa.Uuid(), nullable=True),
        sa.Column("to_queue_id", sa.Uuid(), nullable=True),
        sa.Column("to_adviser_id", sa.Uuid(), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["call_id"], ["calls.id"], name=op.f("fk_call_transfers_call_id_calls"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["from_adviser_id"],
            ["users.id"],
            name=op.f("fk_call_transfers_from_adviser_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["to_queue_id"],
            ["queues.id"],
            name=op.f("fk_call_transfers_to_queue_id_queues"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["to_adviser_id"],
            ["users.id"],
            name=op.f("fk_call_transfers_to_adviser_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_call_transfers")),
    )
    with op.batch_alter_table("call_transfers", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_call_transfers_call_id"), ["call_id"], unique=False)
    op.add_column("calls", sa.Column("transfers", sa.SmallInteger(), nullable=False, server_default="0"))


def downgrade() -> None:
    op.drop_column("calls", "transfers")
    op.drop_table("call_transfers")
