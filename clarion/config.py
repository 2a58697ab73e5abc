"""Settings: one frozen object, read from the environment (and CLI flags) once at start-up.

Every setting is documented in docs/configuration.md; a test checks that the two agree.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields, replace
from pathlib import Path


@dataclass(frozen=True)
class Settings:
    data_dir: Path = field(default=Path("./clarion-data"), metadata={"env": "CLARION_DATA_DIR"})
    host: str = field(default="127.0.0.1", metadata={"env": "CLARION_HOST"})
    port: int = field(default=8080, metadata={"env": "CLARION_PORT"})
    access_key_id: str | None = field(default=None, metadata={"env": "CLARION_ACCESS_KEY_ID"})
    secret_access_key: str | None = field(default=None, metadata={"env": "CLARION_SECRET_ACCESS_KEY"})
    master_key: str | None = field(default=None, metadata={"env": "CLARION_MASTER_KEY"})
    database_url: str | None = field(default=None, metadata={"env": "CLARION_DATABASE_URL"})
    events_url: str | None = field(default=None, metadata={"env": "CLARION_EVENTS_URL"})
    events_retention_days: int = field(default=90, metadata={"env": "CLARION_EVENTS_RETENTION_DAYS"})
    events_memory_limit: str = field(default="512MB", metadata={"env": "CLARION_EVENTS_MEMORY_LIMIT"})
    email_transport: str = field(default="sandbox", metadata={"env": "CLARION_EMAIL_TRANSPORT"})
    sms_transport: str = field(default="sandbox", metadata={"env": "CLARION_SMS_TRANSPORT"})
    push_transport: str = field(default="sandbox", metadata={"env": "CLARION_PUSH_TRANSPORT"})
    webhook_secret: str | None = field(default=None, metadata={"env": "CLARION_WEBHOOK_SECRET"})
    region: str = field(default="us-east-1", metadata={"env": "CLARION_REGION"})
    account_id: str = field(default="000000000000", metadata={"env": "CLARION_ACCOUNT_ID"})
    max_body_bytes: int = field(default=7 * 1024 * 1024, metadata={"env": "CLARION_MAX_BODY_BYTES"})
    default_opt_out: str = field(default="NONE", metadata={"env": "CLARION_DEFAULT_OPT_OUT"})
    log_level: str = field(default="info", metadata={"env": "CLARION_LOG_LEVEL"})
    worker_threads: int = field(default=2, metadata={"env": "CLARION_WORKER_THREADS"})

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **overrides) -> "Settings":
        """Environment first, then explicit overrides (CLI flags), ignoring None overrides."""
        environ = os.environ if environ is None else environ
        values = {}
        for f in fields(cls):
            raw = environ.get(f.metadata["env"])
            if raw not in (None, ""):
                values[f.name] = _convert(f.type, raw)
        values.update({k: v for k, v in overrides.items() if v is not None})
        settings = cls(**values)
        return replace(settings, data_dir=Path(settings.data_dir))

    @property
    def store_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'clarion.db').resolve()}"

    @property
    def events_store_url(self) -> str:
        return self.events_url or f"duckdb:///{(self.data_dir / 'events.duckdb').resolve()}"

    @classmethod
    def env_names(cls) -> list[str]:
        return [f.metadata["env"] for f in fields(cls)]


def _convert(type_name, raw: str):
    if type_name in ("int", int):
        return int(raw)
    if type_name in ("Path", Path):
        return Path(raw)
    return raw
