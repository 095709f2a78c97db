"""Recordings remember the object version their upload stored (``storage_version``) and whether
an upload may have left a version nobody recorded (``version_unknown``): the retention sweep
deletes known versions directly and lists only flagged rows (issue 15 item 5).

Rows stored before this revision have no version: the sweep lists them, as before.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07 00:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("recordings") as table:
        table.add_column(sa.Column("storage_version", sa.String(128), nullable=True))
        table.add_column(
            sa.Column("version_unknown", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("recordings") as table:
        table.drop_column("version_unknown")
        table.drop_column("storage_version")
