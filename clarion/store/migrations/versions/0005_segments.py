"""segments, their versions, imported segment members

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

JSON = sa.JSON(none_as_null=True).with_variant(postgresql.JSONB(none_as_null=True), "postgresql")


def upgrade() -> None:
    op.create_table(
        "segments",
        sa.Column("app_id", sa.String(64), primary_key=True),
        sa.Column("segment_id", sa.String(64), primary_key=True),
        sa.Column("created", sa.String(32), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("doc", JSON, nullable=False),
    )
    op.create_index("segments_by_created", "segments", ["app_id", "created", "segment_id"])
    op.create_table(
        "segment_versions",
        sa.Column("app_id", sa.String(64), primary_key=True),
        sa.Column("segment_id", sa.String(64), primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("doc", JSON, nullable=False),
    )
    op.create_table(
        "segment_members",
        sa.Column("app_id", sa.String(64), primary_key=True),
        sa.Column("segment_id", sa.String(64), primary_key=True),
        sa.Column("endpoint_key", sa.String(256), primary_key=True),
    )


def downgrade() -> None:
    op.drop_table("segment_members")
    op.drop_table("segment_versions")
    op.drop_index("segments_by_created", "segments")
    op.drop_table("segments")
