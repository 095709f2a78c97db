"""Issue 13, items 7 and 8: queues in real life and the organisation's own consent texts.

- ``queues.closing_days`` (ISO dates) and ``queues.max_wait_seconds`` (null: no limit);
- ``consent_texts``: each organisation's recording-consent wording, one row per language and
  version (rows are never changed: a new wording is a new version);
- ``consents.text_version``: the version the visitor answered (null for the built-in text).

Plain ``op.add_column`` as in 0012: a batch would rebuild the tables on SQLite.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07 02:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("queues", sa.Column("closing_days", sa.JSON(), nullable=False, server_default="[]"))
    op.add_column("queues", sa.Column("max_wait_seconds", sa.Integer(), nullable=True))
    op.create_table(
        "consent_texts",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("org_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organisations.id"],
            name=op.f("fk_consent_texts_org_id_organisations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consent_texts")),
        sa.UniqueConstraint("org_id", "kind", "language", "version", name=op.f("uq_consent_texts_org_id")),
    )
    op.add_column("consents", sa.Column("text_version", sa.Integer(), nullable=True))


def downgrade() -> None:
    op.drop_column("consents", "text_version")
    op.drop_table("consent_texts")
    op.drop_column("queues", "max_wait_seconds")
    op.drop_column("queues", "closing_days")
