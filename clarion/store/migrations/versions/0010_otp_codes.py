"""one-time passwords: SendOTPMessage's codes, hashed, until verified or expired

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "otp_codes",
        sa.Column("app_id", sa.String(64), primary_key=True),
        sa.Column("destination", sa.String(32), primary_key=True),
        sa.Column("reference_id", sa.String(64), primary_key=True),
        sa.Column("code_hash", sa.String(64), nullable=False),
        sa.Column("created", sa.String(32), nullable=False),
        sa.Column("expires", sa.String(32), nullable=False),
        sa.Column("attempts_left", sa.Integer, nullable=False),
        sa.Column("verified", sa.Boolean, nullable=False),
    )
    op.create_index("otp_codes_by_expiry", "otp_codes", ["app_id", "expires"])


def downgrade() -> None:
    op.drop_index("otp_codes_by_expiry", table_name="otp_codes")
    op.drop_table("otp_codes")
