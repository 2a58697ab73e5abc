"""message templates and their versions

Revision ID: 0003
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0003"
down_revision = "0001"
branch_labels = None
depends_on = None

JSON = sa.JSON(none_as_null=True).with_variant(postgresql.JSONB(none_as_null=True), "postgresql")


def upgrade() -> None:
    op.create_table(
        "templates",
        sa.Column("name", sa.String(128), primary_key=True),
        sa.Column("type", sa.String(8), primary_key=True),
        sa.Column("active_version", sa.Integer, nullable=False),
        sa.Column("version_counter", sa.Integer, nullable=False),
        sa.Column("created", sa.String(32), nullable=False),
        sa.Column("modified", sa.String(32), nullable=False),
        sa.Column("doc", JSON, nullable=False),
    )
    op.create_table(
        "template_versions",
        sa.Column("name", sa.String(128), primary_key=True),
        sa.Column("type", sa.String(8), primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("created", sa.String(32), nullable=False),
        sa.Column("doc", JSON, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("template_versions")
    op.drop_table("templates")
