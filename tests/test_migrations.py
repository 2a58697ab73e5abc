"""The Alembic migrations build exactly the tables `store/schema.py` describes, on both
backends, and form one line of history."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.config import Config

from clarion.store import MIGRATIONS, Store, head_revision
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


def test_each_file_is_named_after_its_revision_and_the_newest_is_the_head():
    # Store.migrate skips Alembic when the schema is at head_revision(), read from file names.
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    scripts = ScriptDirectory.from_config(config)
    for script in scripts.walk_revisions():
        assert script.path.rsplit("/", 1)[-1].startswith(f"{script.revision}_")
    assert [head_revision()] == scripts.get_heads()


def test_migrate_records_the_head_and_runs_again_as_a_no_op(tmp_path, database_url):
    store = Store(database_url or f"sqlite:///{tmp_path / 'm.db'}")
    assert store.revision() is None
    store.migrate()
    assert store.revision() == head_revision()
    store.migrate()
    assert store.revision() == head_revision()
    store.close()
