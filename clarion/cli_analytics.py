"""`clarion analytics`: the product analytics as tables (registered on the main group in cli.py).

Each command answers what its extension route answers (`/v1/apps/{id}/analytics/...`,
docs/extensions.md), in one of two ways:

- with `--endpoint-url URL`: it calls the running server's API, signed with the credentials in
  the environment (`CLARION_ACCESS_KEY_ID` / `CLARION_SECRET_ACCESS_KEY`) or in the data dir's
  `credentials` file (profile `clarion`). Use this while a server runs: DuckDB lets only one
  process open the event store, and the server holds it.
- without it: it builds the service from the data dir and calls the same handler in-process,
  so the two can never disagree. The server must not be running on that data dir.
"""

from __future__ import annotations

import configparser
from urllib.parse import urlencode

import click
import orjson
from rich.console import Console
from rich.measure import Measurement
from rich.table import Column, Table

from .config import Settings

ROUTES = {"active-users": "get_active_users", "sessions": "get_sessions", "retention": "get_retention",
          "demographics": "get_demographics", "events": "get_events", "funnel": "get_funnel",
          "revenue": "get_revenue"}


@click.group("analytics")
def analytics():
    """Product analytics over the events: active users, sessions, retention, demographics, events,
    funnels and revenue (docs/extensions.md defines each figure)."""


def _common(fn):
    options = [
        click.option("--app", "app_id", required=True, help="The application id."),
        click.option("--start", help="First day, YYYY-MM-DD (default: 29 days before --end)."),
        click.option("--end", help="Last day, YYYY-MM-DD (default: today)."),
        click.option("--by-user", is_flag=True, help="Count users (user ids) instead of endpoints (devices)."),
        click.option("--tz", help="IANA time zone whose days to use (default UTC), e.g. Europe/Paris."),
        click.option("--json", "as_json", is_flag=True, help="Print the extension API's JSON answer instead."),
        click.option("--endpoint-url", help="Ask this running server (e.g. http://127.0.0.1:8080) over its API."),
        click.option("--data-dir", type=click.Path(file_okay=False), default=None,
                     help="Where Clarion keeps its data (env CLARION_DATA_DIR; default ./clarion-data)."),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def _params(common: dict, **extra) -> dict[str, list[str]]:
    """The route's query parameters, as the API takes them."""
    values = {"start": common["start"], "end": common["end"], "tz": common["tz"],
              "by-user": "true" if common["by_user"] else None, **extra}
    query = {}
    for name, value in values.items():
        if value not in (None, (), []):
            query[name] = [str(v) for v in value] if isinstance(value, (list, tuple)) else [str(value)]
    return query


def fetch(route: str, common: dict, query: dict) -> dict:
    settings = Settings.from_env(data_dir=common["data_dir"])
    if common["endpoint_url"]:
        return _remote(settings, common["endpoint_url"], common["app_id"], route, query)
    return _local(settings, common["app_id"], route, query)


def _local(settings: Settings, app_id: str, route: str, query: dict) -> dict:
    from .operations import Caller, Context
    from .operations import analytics as handlers
    from .protocol.errors import ServiceError
    from .service import build

    service = build(settings)
    try:
        ctx = Context(service, Caller("clarion-cli"), service.ids.request_id())
        return getattr(handlers, ROUTES[route])(ctx, application_id=app_id, query=query)
    except ServiceError as exc:
        raise click.ClickException(exc.message) from None
    except RuntimeError as exc:  # the event store is held by a running server
        raise click.ClickException(f"{exc}. While the server runs, pass --endpoint-url.") from None
    finally:
        service.close()


def _credentials(settings: Settings) -> tuple[str, str]:
    if settings.access_key_id and settings.secret_access_key:
        return settings.access_key_id, settings.secret_access_key
    path = settings.data_dir / "credentials"
    parser = configparser.ConfigParser()
    if not parser.read(path) or "clarion" not in parser:
        raise click.ClickException(f"No credentials: set CLARION_ACCESS_KEY_ID and CLARION_SECRET_ACCESS_KEY, "
                                   f"or point --data-dir at the server's data dir ({path} not found)")
    return parser["clarion"]["aws_access_key_id"], parser["clarion"]["aws_secret_access_key"]


def _remote(settings: Settings, endpoint_url: str, app_id: str, route: str, query: dict) -> dict:
    import httpx
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    url = f"{endpoint_url.rstrip('/')}/v1/apps/{app_id}/analytics/{route}"
    url += "?" + urlencode(query, doseq=True) if query else ""
    request = AWSRequest("GET", url)
    SigV4Auth(Credentials(*_credentials(settings)), "mobiletargeting", settings.region).add_auth(request)
    try:
        response = httpx.get(url, headers=dict(request.headers), timeout=120)
    except httpx.HTTPError as exc:
        raise click.ClickException(f"Cannot reach {endpoint_url}: {exc}") from None
    answer = response.json() if response.headers.get("content-type", "").startswith("application/json") else {}
    if response.status_code != 200:
        raise click.ClickException(answer.get("Message") or f"HTTP {response.status_code}")
    return answer


def show(result: dict, common: dict, *tables: Table) -> None:
    if common["as_json"]:
        click.echo(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode())
        return
    console = Console()
    who = "users" if result["ByUser"] else "endpoints"
    console.print(f"App [bold]{result['ApplicationId']}[/bold], {result['Start']} to {result['End']} "
                  f"({result['Timezone']} days), counting {who}", highlight=False, soft_wrap=True)
    for table in tables:
        # Never cut a figure or an id to fit the terminal (or a pipe's 80 columns).
        natural = Measurement.get(console, console.options.update_width(1_000), table).maximum
        Console(width=max(natural, console.width)).print(table)


def _n(value) -> str:
    return "" if value is None else f"{value:,}" if isinstance(value, int) else f"{value:,.2f}"


def _pct(value) -> str:
    return "" if value is None else f"{value:.1%}"


def _secs(ms) -> str:
    return "" if ms is None else f"{ms / 1000:,.1f} s"


def _table(title: str, *columns: str, left: int = 1) -> Table:
    """A table whose first `left` columns are labels and the others figures."""
    return Table(*(Column(c, justify="left" if i < left else "right") for i, c in enumerate(columns)), title=title)


@analytics.command("active-users")
@_common
def active_users(**common):
    """Daily, weekly (7-day) and monthly (30-day) actives, sticky factor (DAU/MAU) and new ones."""
    result = fetch("active-users", common, _params(common))
    table = _table("Active", "date", "DAU", "WAU", "MAU", "sticky", "new")
    for d in result["Days"]:
        table.add_row(d["Date"], _n(d["DailyActive"]), _n(d["WeeklyActive"]), _n(d["MonthlyActive"]),
                      _pct(d["StickyFactor"]), _n(d["New"]))
    table.add_section()
    table.add_row("range", _n(result["Total"]["Active"]), "", "", "", _n(result["Total"]["New"]))
    show(result, common, table)


@analytics.command("sessions")
@_common
def sessions(**common):
    """Sessions per day, per active endpoint or user, and their median and mean durations."""
    result = fetch("sessions", common, _params(common))
    table = _table("Sessions", "date", "sessions", "active", "per active", "median", "mean")
    for d in result["Days"] + [{**result["Total"], "Date": "range"}]:
        if d["Date"] == "range":
            table.add_section()
        table.add_row(d["Date"], _n(d["Sessions"]), _n(d["Active"]), _n(d["SessionsPerActive"]),
                      _secs(d["MedianDurationMs"]), _secs(d["MeanDurationMs"]))
    show(result, common, table)


@analytics.command("retention")
@_common
@click.option("--days", type=click.IntRange(1, 90), default=30, show_default=True,
              help="Follow cohorts this many days.")
@click.option("--as-of", help="Last day observed, YYYY-MM-DD (default: the earlier of today and end + days).")
def retention(days, as_of, **common):
    """Cohorts by first-use day: who came back on day N, and the 7/14/30-day rates."""
    result = fetch("retention", common, _params(common, days=days, **{"as-of": as_of}))
    shown = [n for n in (1, 2, 3, 7, 14, 30) if n <= days]
    cohorts = _table("Cohorts (returning on day N)", "first use", "size", *(f"day {n}" for n in shown))
    for c in result["Cohorts"]:
        cohorts.add_row(c["Date"], _n(c["Size"]), *(_pct(c["Returning"][n - 1] / c["Size"])
                                                      if c["Size"] and c["Returning"][n - 1] is not None else ""
                                                      for n in shown))
    rates = _table(f"Retention (observed to {result['AsOf']})", "day", "cohorts' size", "on day N", "within N days")
    for r in result["Rates"]:
        rates.add_row(str(r["Day"]), _n(r["CohortSize"]), _pct(r["OnDay"]), _pct(r["Within"]))
    show(result, common, cohorts, rates)


@analytics.command("demographics")
@_common
@click.option("--dimension", required=True,
              help="platform, platform-version (os-version), make, model, app-version, country, region, city, "
                   "locale, timezone, channel-type, or endpoint-attribute:KEY.")
@click.option("--limit", type=click.IntRange(1, 1000), default=100, show_default=True, help="Most common values shown.")
def demographics(dimension, limit, **common):
    """Active endpoints or users by a dimension's value."""
    result = fetch("demographics", common, _params(common, dimension=dimension, limit=limit))
    table = _table(f"{result['Dimension']} ({result['DistinctValues']} values, {result['Total']:,} active)",
                   "value", "count", "share")
    for v in result["Values"]:
        table.add_row("(none)" if v["Value"] is None else str(v["Value"]), _n(v["Count"]), _pct(v["Share"]))
    show(result, common, table)


@analytics.command("events")
@_common
@click.option("--event-type", help="Figures for this event type per day (default: every type over the range).")
@click.option("--attribute", multiple=True, help="Keep events whose attribute KEY:VALUE matches (repeatable).")
@click.option("--metric", help="Also sum, min, max, mean and per-session mean of this metric.")
def events(event_type, attribute, metric, **common):
    """Events per type: count, unique endpoints or users, per session, and a metric's statistics."""
    result = fetch("events", common, _params(common, **{"event-type": event_type, "attribute": list(attribute),
                                                        "metric": metric}))
    metric_columns = ("sum", "mean", "per-session mean", "min", "max") if metric else ()
    rows = [(d["Date"], d) for d in result["Days"]] or [(t["EventType"], t) for t in result["Types"]]
    table = _table(event_type or "Event types", "date" if event_type else "event type", "count", "uniques",
                   "per session", *metric_columns)
    for label, d in rows:
        m = d.get("Metric") or {}
        extra = (_n(m["Sum"]), _n(m["Mean"]), _n(m["SessionMean"]), _n(m["Min"]), _n(m["Max"])) if metric else ()
        table.add_row(label, _n(d["Count"]), _n(d["Uniques"]), _n(d["PerSession"]), *extra)
    show(result, common, table)


@analytics.command("funnel")
@_common
@click.option("--step", "steps", multiple=True, required=True,
              help="A step, in order: EVENT_TYPE or EVENT_TYPE;KEY=VALUE;... (repeat, 2 to 20 steps).")
@click.option("--window", default="7d", show_default=True, help="Conversion window: seconds, or 30m, 2h, 7d...")
@click.option("--breakdown", help="Split by a dimension, attribute:KEY (of the entry event) or endpoint-attribute:KEY.")
def funnel(steps, window, breakdown, **common):
    """Conversion through ordered steps within a window, optionally broken down."""
    result = fetch("funnel", common, _params(common, step=list(steps), window=window, breakdown=breakdown))
    groups = [("all", result["Steps"])] + [("(none)" if v["Value"] is None else str(v["Value"]), v["Steps"])
                                            for v in (result.get("Breakdown") or {}).get("Values", [])]
    table = _table(f"Funnel (window {result['WindowSeconds']:,} s)", "step", "event", *(
        ["value"] if breakdown else []), "count", "of first", "of previous", left=3 if breakdown else 2)
    for label, group in groups:
        table.add_section()
        for s in group:
            table.add_row(str(s["Step"]), s["EventType"], *([label] if breakdown else []), _n(s["Count"]),
                          _pct(s["Rate"]), _pct(s["StepRate"]))
    show(result, common, table)


@analytics.command("revenue")
@_common
@click.option("--currency", help="Only purchases in this currency (default: all, summed as Pinpoint did).")
def revenue(currency, **common):
    """Revenue from purchases per day, purchases, units, paying, and revenue per active (ARPDAU)."""
    result = fetch("revenue", common, _params(common, currency=currency))
    table = _table("Revenue", "date", "revenue", "purchases", "units", "paying", "active", "per active",
                   "per paying")
    for d in result["Days"] + [{**result["Total"], "Date": "range"}]:
        if d["Date"] == "range":
            table.add_section()
        table.add_row(d["Date"], _n(d["Revenue"]), _n(d["Purchases"]), _n(d["Units"]), _n(d["Paying"]),
                      _n(d["Active"]), _n(d["RevenuePerActive"]), _n(d["RevenuePerPaying"]))
    currencies = _table("By currency", "currency", "revenue", "purchases")
    for c in result["Currencies"]:
        currencies.add_row(c["Currency"] or "(none)", _n(c["Revenue"]), _n(c["Purchases"]))
    show(result, common, table, currencies)
