"""`clarion segments`: look at segments from the command line (registered on the main group in cli.py).

`clarion segments size` answers what the size-and-preview extension API answers
(`GET /v1/apps/{application-id}/segments/{segment-id}/size`, docs/segments.md): it calls the
same handler, on a service built from the data dir, so the two can never disagree.
"""

from __future__ import annotations

import click
import orjson
from rich.console import Console
from rich.measure import Measurement
from rich.table import Column, Table

from .config import Settings
from .operations.segments import SAMPLE_LIMIT

SAMPLE_COLUMNS = ("Id", "ChannelType", "Address", "EndpointStatus", "OptOut", "User")


@click.group("segments")
def segments():
    """Inspect segments: how many endpoints they hold now."""


@segments.command("size")
@click.argument("segment_id")
@click.option("--app", "app_id", required=True, help="The application id the segment belongs to.")
@click.option("--version", type=click.IntRange(min=1), default=None,
              help="Evaluate this version of the segment (default: the latest).")
@click.option("--sample", type=click.IntRange(0, SAMPLE_LIMIT), default=10, show_default=True,
              help=f"Show this many member endpoints (0 to {SAMPLE_LIMIT}).")
@click.option("--json", "as_json", is_flag=True, help="Print the extension API's JSON response instead of tables.")
@click.option("--data-dir", type=click.Path(file_okay=False), default=None,
              help="Where Clarion keeps its data (env CLARION_DATA_DIR; default ./clarion-data).")
def size(segment_id, app_id, version, sample, as_json, data_dir):
    """Count a segment's endpoints now: total, eligible (active and opted in), eligible per
    channel, and a sample of members."""
    result = _segment_size(Settings.from_env(data_dir=data_dir), app_id, segment_id, version, sample)
    if as_json:
        click.echo(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode())
        return
    console = Console()
    console.print(f"Segment [bold]{result['SegmentId']}[/bold] version {result['Version']} "
                  f"of app {result['ApplicationId']}", highlight=False, soft_wrap=True)
    console.print(counts_table(result))
    if sample:
        table = sample_table(result.get("Sample") or [], sample)
        # Never cut an endpoint id or address to fit the terminal (or a pipe's 80 columns).
        natural = Measurement.get(console, console.options.update_width(1_000), table).maximum
        Console(width=max(natural, console.width)).print(table)


def _segment_size(settings: Settings, app_id: str, segment_id: str, version: int | None, sample: int) -> dict:
    from .operations import Caller, Context
    from .operations.segments import get_segment_size
    from .protocol.errors import ServiceError
    from .service import build

    service = build(settings)
    try:
        query = {"sample": [str(sample)], **({"version": [str(version)]} if version is not None else {})}
        ctx = Context(service, Caller("clarion-cli"), service.ids.request_id())
        return get_segment_size(ctx, application_id=app_id, segment_id=segment_id, query=query)
    except ServiceError as exc:
        raise click.ClickException(exc.message) from None
    finally:
        service.close()


def counts_table(result: dict) -> Table:
    table = Table("endpoints", Column("count", justify="right"), title="Size")
    table.add_row("total", f"{result['Total']:,}")
    table.add_row("eligible (active, opted in)", f"{result['Eligible']:,}")
    for channel, count in result["EligibleByChannel"].items():
        table.add_row(f"  eligible {channel}", f"{count:,}")
    return table


def sample_table(endpoints: list[dict], asked: int) -> Table:
    table = Table(*SAMPLE_COLUMNS, title=f"Sample ({len(endpoints)} of up to {asked}, by endpoint id)")
    for endpoint in endpoints:
        user = (endpoint.get("User") or {}).get("UserId", "")
        table.add_row(*(str(endpoint.get(c) or "") for c in SAMPLE_COLUMNS[:-1]), user)
    return table
