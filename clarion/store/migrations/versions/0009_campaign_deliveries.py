"""campaign deliveries (one row per endpoint a campaign run targeted) and the activities' run state

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


JSON = sa.JSON(none_as_null=True).with_variant(postgresql.JSONB(none_as_null=True), "postgresql")


def upgrade() -> None:
    op.add_column("campaign_activities", sa.Column("run_state", JSON))
    op.create_table(
        "campaign_deliveries",
        sa.Column("activity_id", sa.String(64), primary_key=True),
        sa.Column("endpoint_key", sa.String(256), primary_key=True),
        sa.Column("trigger_id", sa.String(32), primary_key=True),
        sa.Column("app_id", sa.String(64), nullable=False),
        sa.Column("campaign_id", sa.String(64), nullable=False),
        sa.Column("address", sa.String(512)),
        sa.Column("status", sa.String(24), nullable=False),
        sa.Column("created", sa.String(32), nullable=False),
    )
    op.create_index("campaign_deliveries_by_endpoint", "campaign_deliveries", ["app_id", "endpoint_key", "created"])
    op.create_index("campaign_deliveries_by_address", "campaign_deliveries", ["activity_id", "address"])


def downgrade() -> None:
    op.drop_table("campaign_deliveries")
    with op.batch_alter_table("campaign_activities") as batch:
        batch.drop_column("run_state")
