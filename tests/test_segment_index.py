"""The SQLite index that segment counts read (`schema.endpoints_for_segments`) and the text
prefilter on attribute values (`segment_sql.Compiler._may_hold`).

The migration creates exactly the index schema.py describes; a count whose segment reads only
indexed fields never reads an endpoint's document, while other per-app queries leave the index
alone; and whatever characters attribute values hold, the prefilter never changes who is in a
segment (checked through the API against a plain-Python oracle, on both backends)."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.schema import CreateIndex

from clarion.domain import segments as seg
from clarion.operations import Caller, Context
from clarion.operations import apps as app_ops
from clarion.operations import endpoints as endpoint_ops
from clarion.store import segments as segment_store
from clarion.store.schema import endpoints, endpoints_for_segments

from .test_segments import generate, members

NOW = datetime(2026, 6, 1, tzinfo=timezone.utc)
FOUR_DIMENSIONS = {
    "Demographic": {"Platform": {"Values": ["ios", "android"]}},
    "Location": {"Country": {"Values": ["US", "FR", "DE"]}},
    "Attributes": {"interests": {"Values": ["shoes", "coats"]}},
    "Metrics": {"score": {"ComparisonOperator": "LESS_THAN", "Value": 70}}}


def _sql(text: str) -> str:
    return " ".join(text.split())


def test_the_migration_creates_the_index_schema_describes(sqlite_service):
    with sqlite_service.store.read() as conn:
        stored = conn.exec_driver_sql(
            "SELECT sql FROM sqlite_master WHERE name = 'endpoints_for_segments'").scalar()
        described = str(CreateIndex(endpoints_for_segments).compile(dialect=conn.dialect))
    assert stored is not None and _sql(stored) == _sql(described)


@pytest.fixture
def sqlite_audience(sqlite_service):
    ctx = Context(sqlite_service, Caller("test"), "req")
    app_id = app_ops.create_app(ctx, create_application_request={"Name": "index"})["Id"]
    endpoint_ops.update_endpoints_batch(ctx, app_id, {"Item": generate(50)})
    return sqlite_service, app_id


def counted(service, app_id: str, dimensions: dict) -> tuple[dict, str, tuple]:
    """The size of a segment, and the SQL statement (with its parameters) that counted it."""
    seen = []

    def grab(conn, cursor, statement, parameters, context, executemany):
        seen.append((statement, parameters))

    event.listen(service.store.engine, "before_cursor_execute", grab)
    try:
        with service.store.read() as conn:
            size = segment_store.size(conn, app_id, seg.plan({"Dimensions": dimensions}, NOW, lambda *_: None))
    finally:
        event.remove(service.store.engine, "before_cursor_execute", grab)
    return size, *seen[-1]


def program(service, statement: str, params) -> tuple[list, list, int]:
    """SQLite's plan and bytecode for a statement, and the root page of `endpoints`."""
    raw = service.store.engine.raw_connection()
    try:
        db = raw.driver_connection
        root = db.execute("SELECT rootpage FROM sqlite_master WHERE name = 'endpoints'").fetchone()[0]
        return (db.execute("EXPLAIN QUERY PLAN " + statement, params).fetchall(),
                db.execute("EXPLAIN " + statement, params).fetchall(), root)
    finally:
        raw.close()


def reads_documents(service, statement: str, params) -> bool:
    """Whether the statement reads the `doc` column of any `endpoints` row."""
    _, code, root = program(service, statement, params)  # code rows: (addr, opcode, p1, p2, p3, ...)
    tables = {op[2] for op in code if op[1] == "OpenRead" and op[3] == root}
    doc = list(endpoints.c.keys()).index("doc")
    return any(op[1] == "Column" and op[2] in tables and op[3] == doc for op in code)


@pytest.mark.parametrize("dimensions", [
    FOUR_DIMENSIONS,
    {"Demographic": {"Channel": {"Values": ["EMAIL", "SMS"]}}},
    {"Attributes": {"interests": {"AttributeType": "EXCLUSIVE", "Values": ['say "hi"', "hats"]}}},
    {"Attributes": {"signup": {"AttributeType": "AFTER", "Values": ["2026-05-01T00:00:00Z"]}}},
    {"Metrics": {"score": {"ComparisonOperator": "GREATER_THAN_OR_EQUAL", "Value": 50}}},
    {},
], ids=["four dimensions", "channel", "attribute exclusive", "attribute date", "metric", "everyone"])
def test_a_count_of_indexed_fields_reads_no_document(sqlite_audience, dimensions):
    service, app_id = sqlite_audience
    size, statement, params = counted(service, app_id, dimensions)
    plan, _, _ = program(service, statement, params)
    assert any("endpoints_for_segments" in row[3] for row in plan), plan
    assert not reads_documents(service, statement, params)
    assert size["Total"] > 0


@pytest.mark.parametrize("dimensions", [
    {"Demographic": {"Make": {"Values": ["apple"]}}},
    {"UserAttributes": {"plan": {"Values": ["pro"]}}},
    {"Location": {"GPSPoint": {"Coordinates": {"Latitude": 48.85, "Longitude": 2.35}, "RangeInKilometers": 50}}},
], ids=["make", "user attribute", "gps"])
def test_a_count_of_other_fields_reads_documents(sqlite_audience, dimensions):
    service, app_id = sqlite_audience
    size, statement, params = counted(service, app_id, dimensions)
    assert reads_documents(service, statement, params)
    assert size["Total"] > 0


def test_other_per_app_queries_leave_the_index_alone(sqlite_audience):
    """The index is partial on a condition only segment counts state: a plain count(*) keeps
    its narrow index, and a read of documents keeps to the table's order."""
    service, app_id = sqlite_audience
    with service.store.read() as conn:
        for query in (select(func.count()).select_from(endpoints).where(endpoints.c.app_id == app_id),
                      select(endpoints.c.doc).where(endpoints.c.app_id == app_id)):
            compiled = query.compile(conn)
            plan, _, _ = program(service, str(compiled), tuple(compiled.params[k] for k in compiled.positiontup))
            assert not any("endpoints_for_segments" in row[3] for row in plan), plan


# -- attribute values of any characters, through the API, on both backends --------------------

ITEMS = [
    ("plain", {"interests": ["shoes"]}, None),
    ("quoted", {"interests": ['say "shoes"']}, None),
    ("backslash", {"interests": ["back\\slash"]}, None),
    ("accented", {"interests": ["café", "hats"]}, None),
    ("key-named-shoes", {"shoes": ["x"], "interests": ["hats"]}, None),
    ("in-another-attribute", {"tier": ["shoes"]}, None),
    ("tab-and-slash", {"interests": ["tab\there", "shoes/boots"]}, None),
    ("capitalised", {"interests": ["Shoes"]}, None),
    ("no-attributes", None, None),
    ("user-quoted", {"interests": ["bags"]}, {"plan": ['pro "gold"']}),
    ("user-plain", None, {"plan": ["pro"]}),
]
MANY = ["shoes", "a", "b", "c", "d"]  # more values than the prefilter takes

CASES = [
    ("Attributes", "INCLUSIVE", ["shoes"]),
    ("Attributes", "INCLUSIVE", ['say "shoes"']),
    ("Attributes", "INCLUSIVE", ["back\\slash"]),
    ("Attributes", "INCLUSIVE", ["café"]),
    ("Attributes", "INCLUSIVE", ["tab\there", "nothing"]),
    ("Attributes", "INCLUSIVE", ["shoes/boots"]),
    ("Attributes", "INCLUSIVE", MANY),
    ("Attributes", "EXCLUSIVE", ["shoes"]),
    ("Attributes", "EXCLUSIVE", ['say "shoes"']),
    ("Attributes", "CONTAINS", ["sho"]),
    ("Attributes", "CONTAINS", ['"sho']),
    ("Attributes", "CONTAINS", ["\\"]),
    ("UserAttributes", "INCLUSIVE", ['pro "gold"']),
    ("UserAttributes", "INCLUSIVE", ["pro"]),
]


def oracle(attributes: dict | None, op: str, values: list[str], name: str) -> bool:
    held = (attributes or {}).get(name, [])
    if op == "CONTAINS":
        return any(v in h for v in values for h in held)
    found = bool(set(values) & set(held))
    return not found if op == "EXCLUSIVE" else found


def test_attribute_values_of_any_characters(client, server, app_id):
    items = []
    for key, attributes, user_attributes in ITEMS:
        item = {"Id": key, "ChannelType": "EMAIL", "Address": f"{key}@example.com"}
        if attributes is not None:
            item["Attributes"] = attributes
        if user_attributes is not None:
            item["User"] = {"UserId": f"user-{key}", "UserAttributes": user_attributes}
        items.append(item)
    client.update_endpoints_batch(ApplicationId=app_id, EndpointBatchRequest={"Item": items})
    for kind, op, values in CASES:
        name = "plan" if kind == "UserAttributes" else "interests"
        segment = client.create_segment(ApplicationId=app_id, WriteSegmentRequest={
            "Name": f"{op} {values}", "Dimensions": {kind: {name: {"AttributeType": op, "Values": values}}}})
        size = members(server, client, app_id, segment["SegmentResponse"]["Id"])
        expected = {key for key, attributes, user_attributes in ITEMS
                    if oracle(user_attributes if kind == "UserAttributes" else attributes, op, values, name)}
        assert {e["Id"] for e in size["Sample"]} == expected, (kind, op, values)
        assert size["Total"] == len(expected), (kind, op, values)
