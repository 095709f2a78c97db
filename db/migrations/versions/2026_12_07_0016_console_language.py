"""Issue 13: the staff consoles' language, a setting of each user (``users.ui_language``; null
follows the browser's). A plain ``op.add_column`` (see 0012 for why not a batch).

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07 00:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("users", sa.Column("ui_language", sa.String(2), nullable=True))


def downgrade() -> None:
    op.drop_column("users", "ui_language")
