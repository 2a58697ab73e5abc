"""segment counts on SQLite: an index of the endpoint fields segments filter on

Revision ID: 0011
Revises: 0010
"""

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

# `endpoints_for_segments` in schema.py, SQLite only. It is made of expressions, which Alembic
# cannot compare: tests/test_segment_index.py checks that this SQL is what schema.py describes.
CREATE = """CREATE INDEX endpoints_for_segments ON endpoints (app_id, json_extract(doc, '$."Location"."Country"'), \
json_extract(doc, '$."Demographic"."Platform"'), effective_date, channel_type, \
CASE WHEN (coalesce(json_extract(doc, '$."EndpointStatus"'), 'ACTIVE') = 'ACTIVE' \
AND coalesce(json_extract(doc, '$."OptOut"'), 'NONE') != 'ALL') THEN 1 ELSE 0 END, \
json_extract(doc, '$."Attributes"'), json_extract(doc, '$."Metrics"')) WHERE app_id > ''"""


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute(CREATE)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP INDEX endpoints_for_segments")
