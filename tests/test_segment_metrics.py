"""Metric dimensions over metrics of any name and number: on SQLite a count reads a metric
from the Metrics text the segment index holds by a text search (`segment_sql._sqlite_number`)
instead of parsing the JSON; whoever the names and numbers, the members are the same as by
`json_extract` and as a plain-Python oracle says (through the API, on both backends)."""

from __future__ import annotations

import operator

import pytest
from sqlalchemy import Float, cast, select

from clarion.operations import Caller, Context
from clarion.operations import apps as app_ops
from clarion.operations import endpoints as endpoint_ops
from clarion.store import segment_sql
from clarion.store.schema import SEGMENT_FIELDS, endpoints, sqlite_json

from .test_segments import members

# Metrics of endpoints: a name that ends or starts another, names holding `,` `:` or a space,
# the metric first, last or alone, integers (one past 2**53), exponents, negatives, none.
METRICS = {
    "alone": {"visits": 5.0},
    "after-a-longer-name": {"xvisits": 1.0, "visits": 80.0},
    "longer-name-only": {"visits2": 3.0},
    "after-a-colon-name": {"a:b": 2.0, "visits": 1e-05},
    "after-a-comma-name": {"a,": 7.0, "visits": -3.5, "z": 1.0},
    "big-integer": {"visits": 2**53 + 1},
    "exponent": {"visits": 1e16, "sp ace": 70.0},
    "integer": {"visits": 70},
    "just-below": {"sp ace": 4.0, "visits": 69.99999},
    "comma-names": {"a,b": 5.0, "visits,": 1.0},
    "key-ending-in-comma": {"a,": 5.0, ":x": 7.0},  # `,":5.0,":` is in its text, not a key ':5.0,'
    "none": None,
}
NAMES = ["visits", "xvisits", "visits2", "a:b", "a,", "a,b", "visits,", ":5.0,", "sp ace", "z", "missing"]
TESTS = [("LESS_THAN", 70), ("GREATER_THAN_OR_EQUAL", 1e-05), ("EQUAL", 70), ("GREATER_THAN", 9007199254740992)]
COMPARE = {"LESS_THAN": operator.lt, "GREATER_THAN_OR_EQUAL": operator.ge, "EQUAL": operator.eq,
           "GREATER_THAN": operator.gt}


def items() -> list[dict]:
    out = []
    for key, metrics in METRICS.items():
        item = {"Id": key, "ChannelType": "EMAIL", "Address": f"{key}@example.com"}
        if metrics is not None:
            item["Metrics"] = metrics
        out.append(item)
    return out


def test_metrics_of_any_name_and_number(client, server, app_id):
    client.update_endpoints_batch(ApplicationId=app_id, EndpointBatchRequest={"Item": items()})
    for name in NAMES:
        for op, value in TESTS:
            segment = client.create_segment(ApplicationId=app_id, WriteSegmentRequest={
                "Name": f"{name} {op}", "Dimensions": {"Metrics": {name: {"ComparisonOperator": op, "Value": value}}}})
            size = members(server, client, app_id, segment["SegmentResponse"]["Id"])
            expected = {key for key, metrics in METRICS.items()
                        if metrics and name in metrics and COMPARE[op](float(metrics[name]), float(value))}
            assert {e["Id"] for e in size["Sample"]} == expected, (name, op, value)
            assert size["Total"] == len(expected), (name, op, value)


def test_the_text_search_reads_what_json_extract_reads(sqlite_service):
    ctx = Context(sqlite_service, Caller("test"), "req")
    app_id = app_ops.create_app(ctx, create_application_request={"Name": "metrics"})["Id"]
    endpoint_ops.update_endpoints_batch(ctx, app_id, {"Item": items()})
    searchable = [n for n in NAMES if segment_sql.KEY.fullmatch(n)]
    assert "visits" in searchable and "a,b" not in searchable and "a:b" not in searchable
    columns = [segment_sql._sqlite_number(SEGMENT_FIELDS["Metrics",], n) for n in searchable]
    parsed = [cast(sqlite_json(endpoints.c.doc, "Metrics", n), Float) for n in searchable]
    with sqlite_service.store.read() as conn:
        rows = conn.execute(select(endpoints.c.endpoint_key, *columns, *parsed)
                            .where(endpoints.c.app_id == app_id)).all()
    assert len(rows) == len(METRICS)
    for key, *values in rows:
        assert values[:len(searchable)] == values[len(searchable):], key


@pytest.mark.parametrize("name,searched", [("visits", True), ("sp ace", True), ("a,b", False), ("a:b", False),
                                           ("café", False), ('say "x"', False)])
def test_only_names_without_member_punctuation_are_searched(name, searched):
    """A name with `,` `:` or a character an encoder may escape is read by json_extract."""
    from clarion.domain import segments as seg

    sql = str(segment_sql.Compiler("sqlite").condition(seg.MetricTest(name, "LESS_THAN", 1.0)))
    assert ("instr(" in sql) is searched
