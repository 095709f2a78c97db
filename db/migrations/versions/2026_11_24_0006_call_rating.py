"""The visitor's optional 1-5 rating of an answered call, given on the widget's ended screen.

``op.add_column`` on purpose, not a batch: on SQLite a batch rebuilds ``calls`` (copy, drop,
rename), and dropping ``calls`` with foreign keys on would cascade into every table that
references it. SQLite (3.35+) and PostgreSQL both add and drop a column with its own CHECK in
place.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-24 07:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "calls",
        sa.Column(
            "rating",
            sa.SmallInteger(),
            # A column-level CHECK: ALTER TABLE ... ADD COLUMN takes it on both backends.
            sa.CheckConstraint("rating >= 1 AND rating <= 5", name=op.f("ck_calls_rating_in_range")),
            nullable=True,
        ),
    )


def downgrade() -> None:
    op.drop_column("calls", "rating")
