"""`clarion migrate`, and the long-running commands migrating in a child process (so they never
carry Alembic)."""

import os
import subprocess
import sys
import textwrap

from clarion.store import Store, head_revision


def _run(args, tmp_path):
    env = {**os.environ, "CLARION_DATA_DIR": str(tmp_path / "data"), "CLARION_LOG_LEVEL": "warning"}
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, env=env, timeout=120)


def test_migrate_brings_an_empty_store_to_the_newest_schema_then_does_nothing(tmp_path):
    first = _run(["-m", "clarion", "migrate"], tmp_path)
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip() == f"schema at {head_revision()} (was empty)"
    again = _run(["-m", "clarion", "migrate"], tmp_path)
    assert again.stdout.strip() == f"schema at {head_revision()}"
    store = Store(f"sqlite:///{tmp_path / 'data' / 'clarion.db'}")
    assert store.revision() == head_revision()
    store.close()


def test_serve_and_worker_migrate_a_new_store_without_importing_alembic(tmp_path):
    out = _run(["-c", textwrap.dedent("""
        import sys
        from clarion import cli
        settings = cli._settings(None)
        cli._migrate_apart(settings)
        service = cli._build(settings)
        print(service.store.revision(), "alembic" in sys.modules)
        service.close()
    """)], tmp_path)
    assert out.returncode == 0, out.stderr
    migrated, started = out.stdout.strip().splitlines()
    assert migrated == f"schema at {head_revision()} (was empty)"  # the child's report
    assert started.split() == [head_revision(), "False"]
