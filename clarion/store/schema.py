"""The store's tables (SQLAlchemy Core). Resources are wire-shaped JSON documents (`doc`)
plus the few indexed columns that queries need. Alembic migrations in `migrations/` create
them; a test checks that the migrations and these definitions agree.

Every table that belongs to an app has an `app_id` column: DeleteApp clears them all.
Timestamps are ISO-8601 strings (`2024-01-01T00:00:00.000Z`), which sort as time does.
"""

from sqlalchemy import (JSON, BigInteger, Boolean, Column, Index, Integer, MetaData, String, Table, Text,
                        UniqueConstraint, and_, case, func, literal)
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


def sqlite_json_path(*keys: str) -> str:
    """A SQLite JSON path to nested object members: `$."k1"."k2"`."""
    return "$" + "".join('."' + k.replace('"', '\\"') + '"' for k in keys)


def _inline(value):
    """A constant written into the SQL text: SQLite uses an index on an expression only for a
    query that spells the same expression."""
    return literal(value, literal_execute=True)


def sqlite_json(column, *keys: str):
    """`json_extract(column, '$."k1"."k2"')`, the path inline (see `_inline`)."""
    return func.json_extract(column, _inline(sqlite_json_path(*keys)))


# Segment counts on SQLite (store/segment_sql.py). SQLite keeps JSON as text and parses a
# whole document to read a field of it, so filtering 1 M documents takes seconds. This index
# holds the fields most segments test (scalars, and the small JSON texts of Attributes and
# Metrics) and whether the endpoint can be sent to: a count whose filter reads nothing else
# never reads a row. It leads with channel and eligibility, which a count reports members by:
# counting each (channel, eligibility) group in turn, it seeks to the countries and platforms
# the segment names within the group and needs no sort to group (store/segments.py). Next
# comes `effective_date` (the time of the endpoint's last write), so that writes add entries
# at the end of their group, not all over the index. (PostgreSQL filters jsonb fast enough,
# and cannot answer a query from expressions: SQLite only.)
# The index is partial on a condition true of every row (app ids are not empty) that only
# segment counts state: SQLite would otherwise pick it for other per-app queries, count(*) too.
SEGMENT_INDEX_OPT_IN = endpoints.c.app_id > _inline("")
SEGMENT_FIELDS = {("Location", "Country"): sqlite_json(endpoints.c.doc, "Location", "Country"),
                  ("Demographic", "Platform"): sqlite_json(endpoints.c.doc, "Demographic", "Platform"),
                  ("Attributes",): sqlite_json(endpoints.c.doc, "Attributes"),
                  ("Metrics",): sqlite_json(endpoints.c.doc, "Metrics")}
SQLITE_ELIGIBLE = case(  # 1 when active and not opted out (Pinpoint's "eligible"), else 0
    (and_(func.coalesce(sqlite_json(endpoints.c.doc, "EndpointStatus"), _inline("ACTIVE")) == _inline("ACTIVE"),
          func.coalesce(sqlite_json(endpoints.c.doc, "OptOut"), _inline("NONE")) != _inline("ALL")), _inline(1)),
    else_=_inline(0))
endpoints_for_segments = Index(
    "endpoints_for_segments", endpoints.c.app_id, endpoints.c.channel_type, SQLITE_ELIGIBLE,
    SEGMENT_FIELDS["Location", "Country"], SEGMENT_FIELDS["Demographic", "Platform"], endpoints.c.effective_date,
    SEGMENT_FIELDS["Attributes",], SEGMENT_FIELDS["Metrics",], sqlite_where=SEGMENT_INDEX_OPT_IN)
# Created by migration 0011 (in this column order since 0012) on SQLite only, and kept out of
# the table's metadata: Alembic cannot compare an index of expressions on SQLite, and would
# expect it on PostgreSQL too.
# tests/test_segment_index.py checks that the migration creates exactly this index.
endpoints.indexes.discard(endpoints_for_segments)

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


# -- message templates ------------------------------------------------------------------------
# Account-level, like Pinpoint's: no app_id column, so DeleteApp leaves them (and their tags,
# kept in `tags` under the template ARN with a null app_id) in place.

templates = Table(
    "templates", metadata,
    Column("name", String(128), primary_key=True),  # case-sensitive, as in Pinpoint
    Column("type", String(8), primary_key=True),  # EMAIL | SMS | PUSH | VOICE | INAPP
    Column("active_version", Integer, nullable=False),
    Column("version_counter", Integer, nullable=False),  # the highest number ever given: never reused
    Column("created", String(32), nullable=False),
    Column("modified", String(32), nullable=False),
    Column("doc", Json, nullable=False),  # the active version's template response, without tags
)

template_versions = Table(
    "template_versions", metadata,
    Column("name", String(128), primary_key=True),
    Column("type", String(8), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("created", String(32), nullable=False),
    Column("doc", Json, nullable=False),  # this version's template response, without tags
)


# -- import and export jobs (the Pinpoint resources; the work runs as runtime jobs) -----------

import_export_jobs = Table(
    "import_export_jobs", metadata,
    Column("app_id", String(64), primary_key=True),
    Column("job_id", String(64), primary_key=True),
    Column("type", String(8), nullable=False),  # IMPORT | EXPORT
    Column("segment_id", String(64)),
    Column("created", String(32), nullable=False),
    Column("doc", Json, nullable=False),  # ImportJobResponse / ExportJobResponse
    Column("position", Json),  # where the work stands, saved with each chunk's writes
)
Index("import_export_jobs_by_created", import_export_jobs.c.app_id, import_export_jobs.c.type,
      import_export_jobs.c.created)


# -- campaigns ------------------------------------------------------------------------------

campaigns = Table(
    "campaigns", metadata,
    Column("app_id", String(64), primary_key=True),
    Column("campaign_id", String(64), primary_key=True),
    Column("created", String(32), nullable=False),
    Column("state", String(20), nullable=False),
    Column("segment_id", String(64), nullable=False),
    Column("next_due", String(32)),  # when the scheduler must next look at it (null: never)
    Column("last_run", String(32)),  # the latest scheduled start that has been run
    Column("doc", Json, nullable=False),  # the latest CampaignResponse, without tags
)
Index("campaigns_due", campaigns.c.next_due)
Index("campaigns_by_created", campaigns.c.app_id, campaigns.c.created, campaigns.c.campaign_id)

campaign_versions = Table(
    "campaign_versions", metadata,
    Column("app_id", String(64), primary_key=True),
    Column("campaign_id", String(64), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("doc", Json, nullable=False),
)

campaign_activities = Table(
    "campaign_activities", metadata,
    Column("app_id", String(64), nullable=False),
    Column("activity_id", String(64), primary_key=True),
    Column("campaign_id", String(64), nullable=False),
    Column("treatment_id", String(8), nullable=False),
    Column("scheduled_start", String(32), nullable=False),
    Column("doc", Json, nullable=False),  # ActivityResponse
    # Where the run stands (runtime/campaigns/progress.py): the audience cursor, counters,
    # local-time passes. Kept beside the doc so the wire document carries nothing extra.
    Column("run_state", Json),
    # One activity per (campaign, treatment, scheduled start): a second tick adds nothing.
    UniqueConstraint("campaign_id", "treatment_id", "scheduled_start", name="campaign_activities_once"),
)
Index("campaign_activities_by_campaign", campaign_activities.c.app_id, campaign_activities.c.campaign_id,
      campaign_activities.c.scheduled_start)


# -- campaign deliveries (runtime/campaigns): one row per endpoint a campaign run targeted -------
# Written before the message is handed to the transport (status PENDING) and updated with the
# outcome, so a run that restarts knows whom it already reached; the caps count these rows.

campaign_deliveries = Table(
    "campaign_deliveries", metadata,
    Column("activity_id", String(64), primary_key=True),
    Column("endpoint_key", String(256), primary_key=True),
    # "" for a scheduled run; the triggering event (a hash of its id) for an EVENT campaign,
    # whose activity gathers many sends to the same endpoint.
    Column("trigger_id", String(32), primary_key=True),
    Column("app_id", String(64), nullable=False),
    Column("campaign_id", String(64), nullable=False),
    Column("address", String(512)),  # normalized: duplicate addresses within a run go once
    Column("status", String(24), nullable=False),  # PENDING | a DeliveryStatus | QUIET_TIME | EXPIRED
    Column("created", String(32), nullable=False),  # when targeted: the caps count from it
)
Index("campaign_deliveries_by_endpoint", campaign_deliveries.c.app_id, campaign_deliveries.c.endpoint_key,
      campaign_deliveries.c.created)
Index("campaign_deliveries_by_address", campaign_deliveries.c.activity_id, campaign_deliveries.c.address)


# -- one-time passwords (operations/otp.py) ---------------------------------------------------
# One code per (app, destination, reference id): a new SendOTPMessage replaces the previous one.
# Only an HMAC of the code is kept; a row is used up once verified, or when its attempts run out.

otp_codes = Table(
    "otp_codes", metadata,
    Column("app_id", String(64), primary_key=True),
    Column("destination", String(32), primary_key=True),  # E.164
    Column("reference_id", String(64), primary_key=True),
    Column("code_hash", String(64), nullable=False),  # hex HMAC-SHA256 (key derived from the master key)
    Column("created", String(32), nullable=False),
    Column("expires", String(32), nullable=False),
    Column("attempts_left", Integer, nullable=False),
    Column("verified", Boolean, nullable=False),
)
Index("otp_codes_by_expiry", otp_codes.c.app_id, otp_codes.c.expires)
