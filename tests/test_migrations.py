"""The Alembic migrations build exactly the tables `store/schema.py` describes, on both
backends, and form one line of history."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.config import Config

from clarion.store import MIGRATIONS, Store
from clarion.store.schema import metadata


def test_migrations_match_the_schema(tmp_path, database_url):
    store = Store(database_url or f"sqlite:///{tmp_path / 'm.db'}")
    store.migrate()
    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    store.close()
    assert diff == [], "schema.py and the migrations disagree: add a migration"


def test_migrations_have_one_head():
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    assert len(ScriptDirectory.from_config(config).get_heads()) == 1
