"""`clarion outbox`: what the sandbox transport recorded (registered on the main group in cli.py)."""

from __future__ import annotations

import click
import orjson
from rich.console import Console
from rich.table import Table

from .channels import outbox as outbox_store
from .config import Settings

CHANNELS = ("email", "sms", "push", "voice", "custom")


@click.command("outbox")
@click.option("--channel", type=click.Choice(CHANNELS), default=None, help="Only this channel.")
@click.option("--to", "address", default=None, help="Only messages to this address (email, phone number, token).")
@click.option("--app", "app_id", default=None, help="Only messages of this app id.")
@click.option("--limit", type=click.IntRange(1, 100_000), default=20, show_default=True,
              help="How many of the latest messages to show.")
@click.option("--json", "as_json", is_flag=True, help="Print the full records as a JSON array.")
@click.option("--data-dir", type=click.Path(file_okay=False), default=None,
              help="Where Clarion keeps its data (env CLARION_DATA_DIR; default ./clarion-data).")
def outbox(channel, address, app_id, limit, as_json, data_dir):
    """Show the messages the sandbox transport recorded, oldest first (the latest --limit)."""
    from .store import Store

    settings = Settings.from_env(data_dir=data_dir)
    store = Store(settings.store_url)
    try:
        store.migrate()
        with store.read() as conn:
            rows = outbox_store.recent(conn, channel=channel, address=address, app_id=app_id, limit=limit)
    finally:
        store.close()
    if as_json:
        click.echo(orjson.dumps(rows, option=orjson.OPT_INDENT_2).decode())
        return
    if not rows:
        click.echo("The outbox is empty." if not (channel or address or app_id) else "No matching messages.")
        return
    table = Table("time", "channel", "to", "content", "message id")
    for row in rows:
        table.add_row(row["created"], row["channel"], row["address"], summary(row), row["message_id"])
    Console().print(table)


def summary(row: dict) -> str:
    """One line that tells messages apart: the subject, title or start of the body."""
    content = row["content"]
    text = content.get("subject") or content.get("title") or content.get("body") or content.get("text") \
        or content.get("data") or content.get("delivery_uri") or ""
    text = " ".join(str(text).split())
    return text if len(text) <= 60 else text[:59] + "…"
