"""The `clarion` command: serve, keys, ... (docs/cli.md is generated from this)."""

from __future__ import annotations

import logging
import sys

import click
from rich.console import Console
from rich.measure import Measurement
from rich.table import Table

from . import __version__
from .cli_analytics import analytics as analytics_command
from .cli_outbox import outbox as outbox_command
from .cli_segments import segments as segments_command
from .config import Settings

console = Console()


def _settings(data_dir, **overrides) -> Settings:
    return Settings.from_env(data_dir=data_dir, **overrides)


def _build(settings: Settings):
    from .service import build

    return build(settings)


def _migrate_apart(settings: Settings) -> None:
    """For the long-running commands: bring the schema up to date in a child process (`clarion
    migrate`) when it is behind, so the server never loads Alembic and Mako (~8 MB it would
    keep for its whole life)."""
    import subprocess
    import sys

    from .store import Store, head_revision

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    store = Store(settings.store_url)
    try:
        behind = store.revision() != head_revision()
    finally:
        store.close()
    if behind:
        subprocess.run([sys.executable, "-m", "clarion", "migrate", "--data-dir", str(settings.data_dir)], check=True)


data_dir_option = click.option("--data-dir", type=click.Path(file_okay=False), default=None,
                               help="Where Clarion keeps its data (env CLARION_DATA_DIR; default ./clarion-data).")


@click.group()
@click.version_option(__version__, prog_name="clarion")
def main():
    """Clarion: a self-hosted user engagement service that speaks the Amazon Pinpoint API."""


@main.command()
@click.option("--host", default=None, help="Interface to listen on (env CLARION_HOST; default 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port to listen on (env CLARION_PORT; default 8080).")
@data_dir_option
def serve(host, port, data_dir):
    """Run the API, console, scheduler and workers in one process."""
    import uvicorn

    from .protocol.http import server_config
    from .runtime.gil import hand_over_often
    from .runtime.memory import tune_allocator

    tune_allocator()  # before any thread starts
    hand_over_often()
    settings = _settings(data_dir, host=host, port=port)
    _configure_logging(settings.log_level)
    _migrate_apart(settings)
    service = _build(settings)
    key_id, secret = service.root_credentials
    endpoint = f"http://{settings.host}:{settings.port}"
    console.print(f"[bold]Clarion {__version__}[/bold] on {endpoint}  (data: {settings.data_dir.resolve()})")
    console.print(f"Credentials (profile [bold]clarion[/bold] in {settings.data_dir.resolve() / 'credentials'}):")
    console.print(f"  aws_access_key_id     = {key_id}")
    console.print(f"  aws_secret_access_key = {secret}")
    console.print("Try it:", style="bold")
    console.print(
        f"  import boto3\n"
        f"  pinpoint = boto3.client('pinpoint', endpoint_url='{endpoint}', region_name='{settings.region}',\n"
        f"                          aws_access_key_id='{key_id}', aws_secret_access_key='<secret above>')\n"
        f"  print(pinpoint.create_app(CreateApplicationRequest={{'Name': 'my-app'}}))",
        highlight=False, markup=False, soft_wrap=True)
    from .service import freeze_startup_heap

    freeze_startup_heap()
    config = server_config(service.asgi(), host=settings.host, port=settings.port,
                           log_level=settings.log_level, timeout_graceful_shutdown=10)
    uvicorn.Server(config).run()


@main.command()
@click.option("--once", is_flag=True, help="Run the jobs that are ready now, then exit.")
@data_dir_option
def worker(once, data_dir):
    """Run background job workers only (scale-out beside `serve`, sharing a PostgreSQL store)."""
    import signal
    import threading

    from .runtime.gil import hand_over_often
    from .runtime.memory import tune_allocator

    tune_allocator()  # before any thread starts
    hand_over_often()
    settings = _settings(data_dir)
    _configure_logging(settings.log_level)
    _migrate_apart(settings)
    service = _build(settings)
    from .service import freeze_startup_heap

    freeze_startup_heap()
    if once:
        ran = service.workers.drain()
        click.echo(f"ran {ran} job(s)")
        service.close()
        return
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    service.start()
    click.echo(f"clarion worker: {settings.worker_threads} thread(s); Ctrl-C to stop")
    stop.wait()
    service.close()


@main.command()
@data_dir_option
def migrate(data_dir):
    """Bring the store's schema to the newest version, then exit (`serve` and `worker` do it
    themselves when needed; run it first when several processes share one PostgreSQL store)."""
    from .store import Store, head_revision

    settings = _settings(data_dir)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    store = Store(settings.store_url)
    try:
        before = store.revision()
        store.migrate()
    finally:
        store.close()
    click.echo(f"schema at {head_revision()}" + ("" if before == head_revision() else f" (was {before or 'empty'})"))


def _configure_logging(level: str) -> None:
    logging.basicConfig(level=level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s",
                        stream=sys.stderr)
    logging.getLogger("alembic").setLevel(logging.WARNING)


@main.group()
def keys():
    """Create, list and revoke API keys."""


@keys.command("create")
@click.option("--app", "apps", multiple=True, help="Limit the key to this app id (repeat for several).")
@click.option("--description", default="", help="A note to tell keys apart.")
@data_dir_option
def keys_create(apps, description, data_dir):
    """Create a key; print its id and secret (the secret is shown only once)."""
    from .clock import iso
    from .store import apps as app_store
    from .store import keys as key_store

    service = _build(_settings(data_dir))
    key_id, secret = key_store.new_key_pair()
    with service.store.write() as conn:
        missing = [a for a in apps if not app_store.exists(conn, a)]
        if missing:
            raise click.ClickException(f"no such app: {', '.join(missing)}")
        key_store.insert(conn, service.vault, key_id, secret, apps=list(apps) if apps else None,
                         description=description, root=False, created=iso(service.clock.now()))
    click.echo(f"aws_access_key_id     = {key_id}")
    click.echo(f"aws_secret_access_key = {secret}")
    click.echo(f"scope                 = {', '.join(apps) if apps else 'all apps'}")


@keys.command("list")
@click.option("--all", "include_revoked", is_flag=True, help="Include revoked keys.")
@data_dir_option
def keys_list(include_revoked, data_dir):
    """List keys (never their secrets)."""
    from .store import keys as key_store

    service = _build(_settings(data_dir))
    with service.store.read() as conn:
        rows = key_store.list_all(conn, include_revoked)
    table = Table("access key id", "scope", "created", "revoked", "description")
    for row in rows:
        scope = "all apps" if row.apps is None else (", ".join(row.apps) or "(none)")
        table.add_row(row.access_key_id, ("root" if row.root else scope), row.created, row.revoked or "",
                      row.description)
    # Never cut a key id to fit the terminal (or a pipe's default 80 columns): it is copied to revoke.
    natural = Measurement.get(console, console.options.update_width(1_000), table).maximum
    Console(width=max(natural, console.width)).print(table)


@keys.command("revoke")
@click.argument("access_key_id")
@data_dir_option
def keys_revoke(access_key_id, data_dir):
    """Revoke a key: requests signed with it are refused from then on."""
    from .clock import iso
    from .store import keys as key_store

    service = _build(_settings(data_dir))
    with service.store.write() as conn:
        if not key_store.revoke(conn, access_key_id, iso(service.clock.now())):
            raise click.ClickException(f"no active key {access_key_id}")
    click.echo(f"revoked {access_key_id}")


main.add_command(outbox_command)
main.add_command(segments_command)
main.add_command(analytics_command)


if __name__ == "__main__":
    main()
