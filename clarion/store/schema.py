"""The store's tables (SQLAlchemy Core). Resources are wire-shaped JSON documents (`doc`)
plus the few indexed columns that queries need. Alembic migrations in `migrations/` create
them; a test checks that the migrations and these definitions agree.

Every table that belongs to an app has an `app_id` column: DeleteApp clears them all.
Timestamps are ISO-8601 strings (`2024-01-01T00:00:00.000Z`), which sort as time does.
"""

from sqlalchemy import JSON, BigInteger, Boolean, Column, Index, Integer, MetaData, String, Table, Text
from sqlalchemy.dialects.postgresql import JSONB

metadata = MetaData()

Json = JSON(none_as_null=True).with_variant(JSONB(none_as_null=True), "postgresql")

keys = Table(
    "keys", metadata,
    Column("access_key_id", String(64), primary_key=True),
    Column("secret", Text, nullable=False),  # encrypted, see store/secrets.py
    Column("apps", Json),  # null: every app; else the list of app ids the key may use
    Column("description", Text, nullable=False, default=""),
    Column("root", Boolean, nullable=False, default=False),
    Column("created", String(32), nullable=False),
    Column("revoked", String(32)),
)

apps = Table(
    "apps", metadata,
    Column("app_id", String(64), primary_key=True),
    Column("created", String(32), nullable=False),
    Column("doc", Json, nullable=False),  # ApplicationResponse without tags
    Column("settings", Json, nullable=False),  # ApplicationSettingsResource
)
Index("apps_by_created", apps.c.created, apps.c.app_id)

tags = Table(
    "tags", metadata,
    Column("arn", String(512), primary_key=True),
    Column("app_id", String(64), index=True),  # null for account-level resources (templates)
    Column("tags", Json, nullable=False),
)

channels = Table(
    "channels", metadata,
    Column("app_id", String(64), primary_key=True),
    Column("channel", String(32), primary_key=True),  # the URI name: email, sms, apns, ...
    Column("doc", Json, nullable=False),  # the channel response, without credentials
    Column("credentials", Text),  # encrypted JSON of the write-only members
)

endpoints = Table(
    "endpoints", metadata,
    Column("app_id", String(64), primary_key=True),
    Column("endpoint_key", String(256), primary_key=True),  # lower-cased id: ids are case-insensitive
    Column("doc", Json, nullable=False),  # EndpointResponse without User.UserAttributes
    Column("user_id", String(256)),
    Column("channel_type", String(32)),
    Column("address", String(512)),
    Column("effective_date", String(32), nullable=False),
    Column("cohort", Integer, nullable=False),
    Column("last_active", String(32)),  # refreshed by events; segment recency reads it
)
Index("endpoints_by_user", endpoints.c.app_id, endpoints.c.user_id)
Index("endpoints_by_address", endpoints.c.app_id, endpoints.c.address)

users = Table(
    "users", metadata,
    Column("app_id", String(64), primary_key=True),
    Column("user_id", String(256), primary_key=True),
    Column("attributes", Json, nullable=False),  # UserAttributes shared by the user's endpoints
)

attribute_names = Table(
    "attribute_names", metadata,
    Column("app_id", String(64), primary_key=True),
    Column("kind", String(16), primary_key=True),  # custom | metric | user
    Column("name", String(128), primary_key=True),
    Column("removed", Boolean, nullable=False, default=False),  # RemoveAttributes blocklist
)



def app_tables() -> list[Table]:
    """Every table with rows that belong to an app, children first."""
    return [t for t in reversed(metadata.sorted_tables) if "app_id" in t.c]


# -- segments -------------------------------------------------------------------------------

segments = Table(
    "segments", metadata,
    Column("app_id", String(64), primary_key=True),
    Column("segment_id", String(64), primary_key=True),
    Column("created", String(32), nullable=False),
    Column("version", Integer, nullable=False),
    Column("doc", Json, nullable=False),  # the latest SegmentResponse, without tags
)
Index("segments_by_created", segments.c.app_id, segments.c.created, segments.c.segment_id)

segment_versions = Table(
    "segment_versions", metadata,
    Column("app_id", String(64), primary_key=True),
    Column("segment_id", String(64), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("doc", Json, nullable=False),
)

segment_members = Table(
    "segment_members", metadata,  # endpoints of imported segments
    Column("app_id", String(64), primary_key=True),
    Column("segment_id", String(64), primary_key=True),
    Column("endpoint_key", String(256), primary_key=True),
)


# -- outbox (channels/sandbox.py): every message the sandbox transport "sent" -----------------

outbox = Table(
    "outbox", metadata,
    Column("seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("app_id", String(64)),
    Column("channel", String(16), nullable=False),  # email | sms | push | voice | custom
    Column("address", String(512), nullable=False),
    Column("message_id", String(128), nullable=False),
    Column("created", String(32), nullable=False),
    Column("content", Json, nullable=False),  # the rendered message: subject, bodies, headers, data...
)
Index("outbox_by_address", outbox.c.address, outbox.c.seq)
Index("outbox_by_app", outbox.c.app_id, outbox.c.seq)


# -- durable jobs (runtime/queue.py) ----------------------------------------------------------

jobs = Table(
    "jobs", metadata,
    Column("job_id", String(64), primary_key=True),
    Column("kind", String(64), nullable=False),
    Column("app_id", String(64)),  # null for service-wide work
    Column("unique_key", String(256), unique=True),  # at most one job per key, ever: idempotent enqueue
    Column("payload", Json, nullable=False),
    Column("checkpoint", Json),  # progress saved by the handler, handed back on resume
    Column("state", String(16), nullable=False),  # queued | running | done | dead
    Column("attempts", Integer, nullable=False, default=0),
    Column("max_attempts", Integer, nullable=False),
    Column("run_after", String(32), nullable=False),
    Column("lease_owner", String(128)),
    Column("lease_until", String(32)),
    Column("created", String(32), nullable=False),
    Column("updated", String(32), nullable=False),
    Column("last_error", Text),
)
Index("jobs_ready", jobs.c.state, jobs.c.run_after)
