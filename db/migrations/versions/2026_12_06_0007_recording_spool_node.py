"""Where a recording's spool file is: ``recordings.spool_node``, the media node whose disk holds
it (its own upload loop stores it), or NULL for the workers' spool (media in the signalling
process, the embedded default). Rows from before media nodes are all NULL, which is right.

``op.add_column`` on purpose, not a batch (see 0006): a nullable column without a default is
added in place on SQLite and PostgreSQL.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06 21:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("recordings", sa.Column("spool_node", sa.String(length=64), nullable=True))
    op.create_index(op.f("ix_recordings_spool_node"), "recordings", ["spool_node"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_recordings_spool_node"), table_name="recordings")
    op.drop_column("recordings", "spool_node")
