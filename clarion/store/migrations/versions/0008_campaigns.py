"""campaigns, their versions and activities

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

JSON = sa.JSON(none_as_null=True).with_variant(postgresql.JSONB(none_as_null=True), "postgresql")


def upgrade() -> None:
    op.create_table(
        "campaigns",
        sa.Column("app_id", sa.String(64), primary_key=True),
        sa.Column("campaign_id", sa.String(64), primary_key=True),
        sa.Column("created", sa.String(32), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("segment_id", sa.String(64), nullable=False),
        sa.Column("next_due", sa.String(32)),
        sa.Column("last_run", sa.String(32)),
        sa.Column("doc", JSON, nullable=False),
    )
    op.create_index("campaigns_due", "campaigns", ["next_due"])
    op.create_index("campaigns_by_created", "campaigns", ["app_id", "created", "campaign_id"])
    op.create_table(
        "campaign_versions",
        sa.Column("app_id", sa.String(64), primary_key=True),
        sa.Column("campaign_id", sa.String(64), primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("doc", JSON, nullable=False),
    )
    op.create_table(
        "campaign_activities",
        sa.Column("app_id", sa.String(64), nullable=False),
        sa.Column("activity_id", sa.String(64), primary_key=True),
        sa.Column("campaign_id", sa.String(64), nullable=False),
        sa.Column("treatment_id", sa.String(8), nullable=False),
        sa.Column("scheduled_start", sa.String(32), nullable=False),
        sa.Column("doc", JSON, nullable=False),
        sa.UniqueConstraint("campaign_id", "treatment_id", "scheduled_start", name="campaign_activities_once"),
    )
    op.create_index("campaign_activities_by_campaign", "campaign_activities",
                    ["app_id", "campaign_id", "scheduled_start"])


def downgrade() -> None:
    op.drop_table("campaign_activities")
    op.drop_table("campaign_versions")
    op.drop_table("campaigns")
