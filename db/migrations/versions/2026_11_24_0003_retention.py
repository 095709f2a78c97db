"""Retention rules per organisation, queue and kind of data; deadlines for older recordings.

Recordings stored before this revision have no deadline and would be kept for ever; they get
the built-in default (created_at + 30 days), as if they had been created under it.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24 05:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "retention_rules",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("org_id", sa.Uuid(), nullable=False),
        sa.Column("queue_id", sa.Uuid(), nullable=True),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("days", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("days >= 1 AND days <= 3650", name=op.f("ck_retention_rules_days_in_range")),
        sa.CheckConstraint(
            "kind IN ('recordings', 'transcripts', 'call_metadata', 'chat', 'access_log')",
            name=op.f("ck_retention_rules_known_kind"),
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organisations.id"],
            name=op.f("fk_retention_rules_org_id_organisations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["queue_id"], ["queues.id"], name=op.f("fk_retention_rules_queue_id_queues"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_retention_rules")),
    )
    with op.batch_alter_table("retention_rules", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_retention_rules_queue_id"), ["queue_id"], unique=False)
        batch_op.create_index(
            "uq_retention_rules_org_kind",
            ["org_id", "kind"],
            unique=True,
            postgresql_where=sa.text("queue_id IS NULL"),
            sqlite_where=sa.text("queue_id IS NULL"),
        )
        batch_op.create_index(
            "uq_retention_rules_queue_kind",
            ["org_id", "queue_id", "kind"],
            unique=True,
            postgresql_where=sa.text("queue_id IS NOT NULL"),
            sqlite_where=sa.text("queue_id IS NOT NULL"),
        )

    # 30 days: recordings.DEFAULT_RETENTION_DAYS["recordings"] when this revision was written.
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "UPDATE recordings SET delete_after = created_at + make_interval(days => 30) "
            "WHERE delete_after IS NULL"
        )
    else:
        # SQLAlchemy keeps SQLite timestamps as 'YYYY-MM-DD HH:MM:SS.ffffff' text in UTC;
        # strftime's %f is seconds with milliseconds, padded back to six digits.
        op.execute(
            "UPDATE recordings SET delete_after = strftime('%Y-%m-%d %H:%M:%f000', created_at, "
            "'+30 days') WHERE delete_after IS NULL"
        )


def downgrade() -> None:
    # The deadlines given to older recordings stay: they are what the default would have set.
    with op.batch_alter_table("retention_rules", schema=None) as batch_op:
        batch_op.drop_index("uq_retention_rules_queue_kind")
        batch_op.drop_index("uq_retention_rules_org_kind")
        batch_op.drop_index(batch_op.f("ix_retention_rules_queue_id"))

    op.drop_table("retention_rules")
