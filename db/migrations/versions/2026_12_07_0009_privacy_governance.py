"""Privacy governance (issue 12): the visitor's privacy key, the DPA and its acceptances, and the
audit chain's anchors.

- ``privacy_keys``: the HMAC of the privacy key given to a call's visitor (``privacy.keys``),
  gone with the call;
- ``dpa_versions``, ``dpa_acceptances``: the published versions of the data processing agreement
  (text and SHA-256) and which dpo accepted which for an organisation, and when (``privacy.dpa``);
- ``call_data_keys``: each call's wrapped data key for its chat lines, which are stored sealed
  (``chat_messages.text`` becomes TEXT; ``privacy.call_keys``);
- ``webhook_endpoints.secret`` widened to 200: it holds the sealed secret (``webhooks.secrets``);
- ``audit_events.anchor``, ``audit_head.anchor``: the HMAC of each event's hash (and of the
  head) under a key derived from the master key (``db.audit``). Events written before this
  revision have none: keyed ``loket audit verify`` names the first of them until ``loket audit
  anchor`` anchors them, once, right after the upgrade.

``op.add_column`` on purpose, not a batch (see 0006): SQLite and PostgreSQL both add a nullable
column in place.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 00:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "privacy_keys",
        sa.Column("call_id", sa.Uuid(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["call_id"], ["calls.id"], name=op.f("fk_privacy_keys_call_id_calls"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("call_id", name=op.f("pk_privacy_keys")),
        sa.UniqueConstraint("digest", name=op.f("uq_privacy_keys_digest")),
    )
    op.create_table(
        "dpa_versions",
        sa.Column("version", sa.String(length=32), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("version", name=op.f("pk_dpa_versions")),
    )
    op.create_table(
        "dpa_acceptances",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("org_id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.String(length=32), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("accepted_by", sa.Uuid(), nullable=True),
        sa.Column("accepted_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organisations.id"],
            name=op.f("fk_dpa_acceptances_org_id_organisations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["accepted_by"],
            ["users.id"],
            name=op.f("fk_dpa_acceptances_accepted_by_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dpa_acceptances")),
    )
    op.create_index(op.f("ix_dpa_acceptances_org_id"), "dpa_acceptances", ["org_id"])
    op.create_table(
        "call_data_keys",
        sa.Column("call_id", sa.Uuid(), nullable=False),
        sa.Column("wrapped_key", sa.LargeBinary(), nullable=False),
        sa.Column("key_id", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["call_id"], ["calls.id"], name=op.f("fk_call_data_keys_call_id_calls"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("call_id", name=op.f("pk_call_data_keys")),
    )
    # A sealed chat line is longer than the 2,000 characters typed (privacy.call_keys).
    with op.batch_alter_table("chat_messages") as batch:
        batch.alter_column(
            "text", existing_type=sa.String(length=2000), type_=sa.Text(), existing_nullable=False
        )
    # Sealed webhook secrets are longer than the clear ones (webhooks.secrets). A batch on SQLite
    # rebuilds the table; env.py turns foreign keys off first, so deliveries stay.
    with op.batch_alter_table("webhook_endpoints") as batch:
        batch.alter_column(
            "secret",
            existing_type=sa.String(length=100),
            type_=sa.String(length=200),
            existing_nullable=False,
        )
    op.add_column("audit_events", sa.Column("anchor", sa.String(length=81), nullable=True))
    op.add_column("audit_head", sa.Column("anchor", sa.String(length=81), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("chat_messages") as batch:
        batch.alter_column(
            "text", existing_type=sa.Text(), type_=sa.String(length=2000), existing_nullable=False
        )
    op.drop_table("call_data_keys")
    with op.batch_alter_table("webhook_endpoints") as batch:
        batch.alter_column(
            "secret",
            existing_type=sa.String(length=200),
            type_=sa.String(length=100),
            existing_nullable=False,
        )
    op.drop_column("audit_head", "anchor")
    op.drop_column("audit_events", "anchor")
    op.drop_index(op.f("ix_dpa_acceptances_org_id"), table_name="dpa_acceptances")
    op.drop_table("dpa_acceptances")
    op.drop_table("dpa_versions")
    op.drop_table("privacy_keys")
