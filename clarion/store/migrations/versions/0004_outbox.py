"""outbox: messages recorded by the sandbox transport

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

JSON = sa.JSON(none_as_null=True).with_variant(postgresql.JSONB(none_as_null=True), "postgresql")


def upgrade() -> None:
    op.create_table(
        "outbox",
        sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True,
                  autoincrement=True),
        sa.Column("app_id", sa.String(64)),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("address", sa.String(512), nullable=False),
        sa.Column("message_id", sa.String(128), nullable=False),
        sa.Column("created", sa.String(32), nullable=False),
        sa.Column("content", JSON, nullable=False),
    )
    op.create_index("outbox_by_address", "outbox", ["address", "seq"])
    op.create_index("outbox_by_app", "outbox", ["app_id", "seq"])


def downgrade() -> None:
    op.drop_index("outbox_by_app", table_name="outbox")
    op.drop_index("outbox_by_address", table_name="outbox")
    op.drop_table("outbox")
