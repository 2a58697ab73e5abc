"""import and export jobs

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

JSON = sa.JSON(none_as_null=True).with_variant(postgresql.JSONB(none_as_null=True), "postgresql")


def upgrade() -> None:
    op.create_table(
        "import_export_jobs",
        sa.Column("app_id", sa.String(64), primary_key=True),
        sa.Column("job_id", sa.String(64), primary_key=True),
        sa.Column("type", sa.String(8), nullable=False),
        sa.Column("segment_id", sa.String(64)),
        sa.Column("created", sa.String(32), nullable=False),
        sa.Column("doc", JSON, nullable=False),
        sa.Column("position", JSON),
    )
    op.create_index("import_export_jobs_by_created", "import_export_jobs", ["app_id", "type", "created"])


def downgrade() -> None:
    op.drop_index("import_export_jobs_by_created", "import_export_jobs")
    op.drop_table("import_export_jobs")
