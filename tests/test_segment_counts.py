"""Segment counts on SQLite from `schema.endpoints_for_segments` alone (`store.segments.
_counted_in_index`): one count per eligibility over the app's channels, grouped in index order.
They give the rows the general count gives (`_counted`: the members grouped after a sort), for
segments the index covers, with endpoints of every channel, of none, eligible or not, and other
apps' endpoints beside them; and SQLite answers them from the index without a sort."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from clarion.domain import segments as seg
from clarion.operations import Caller, Context
from clarion.operations import apps as app_ops
from clarion.operations import endpoints as endpoint_ops
from clarion.store import segments as segment_store
from clarion.store.segment_sql import index_covers

from .test_segment_index import FOUR_DIMENSIONS, counted, program, reads_documents
from .test_segments import generate

NOW = datetime(2026, 6, 1, tzinfo=timezone.utc)
SEGMENTS = {
    "everyone": {},
    "four dimensions": FOUR_DIMENSIONS,
    "channel": {"Demographic": {"Channel": {"Values": ["EMAIL", "SMS"]}}},
    "not a channel": {"Demographic": {"Channel": {"DimensionType": "EXCLUSIVE", "Values": ["EMAIL"]}}},
    "country": {"Location": {"Country": {"Values": ["FR"]}}},
    "platform": {"Demographic": {"Platform": {"Values": ["web"]}}},
    "attribute exclusive": {"Attributes": {"interests": {"AttributeType": "EXCLUSIVE", "Values": ["hats"]}}},
    "metric": {"Metrics": {"score": {"ComparisonOperator": "GREATER_THAN", "Value": 30}}},
    "nobody": {"Location": {"Country": {"Values": ["XX"]}}},
}


def without_channel(items: list[dict]) -> list[dict]:
    """Every fifth endpoint without a ChannelType (stored as NULL), every seventh opted out."""
    for i, item in enumerate(items):
        if i % 5 == 0:
            item.pop("ChannelType")
        if i % 7 == 0:
            item["OptOut"] = "ALL"
    return items


@pytest.fixture(scope="module")
def audience(tmp_path_factory):
    from clarion.service import build

    from .conftest import make_settings

    service = build(make_settings(tmp_path_factory.mktemp("counts")))
    ctx = Context(service, Caller("test"), "req")
    app_id = app_ops.create_app(ctx, create_application_request={"Name": "counts"})["Id"]
    other = app_ops.create_app(ctx, create_application_request={"Name": "other"})["Id"]
    items = without_channel(generate(90, seed=3))
    endpoint_ops.update_endpoints_batch(ctx, app_id, {"Item": items})
    endpoint_ops.update_endpoints_batch(ctx, other, {"Item": [
        {"Id": "voice", "ChannelType": "VOICE", "Address": "+15550000000"}]})
    yield service, app_id, items
    service.close()


def plan_of(dimensions: dict):
    return seg.plan({"Dimensions": dimensions}, NOW, lambda *_: None)


@pytest.mark.parametrize("name", SEGMENTS)
def test_counting_in_the_index_gives_the_general_count(audience, name):
    service, app_id, _ = audience
    plan = plan_of(SEGMENTS[name])
    assert index_covers(plan)
    with service.store.read() as conn:
        by_index = segment_store._counted_in_index(conn, app_id, plan)
        general = segment_store._counted(conn, app_id, plan)
    assert {(c, bool(e), n) for c, e, n in by_index if n} == {(c, bool(e), n) for c, e, n in general}


def test_the_channels_are_the_apps_own(audience):
    service, app_id, _ = audience
    with service.store.read() as conn:
        assert segment_store._channels(conn, app_id) == ["APNS", "EMAIL", "GCM", "SMS"]


def test_endpoints_without_a_channel_count_as_unknown(audience):
    service, app_id, items = audience
    with service.store.read() as conn:
        size = segment_store.size(conn, app_id, plan_of({}))
    assert size["Total"] == 90
    unknown = [i for i in items if "ChannelType" not in i and i["OptOut"] != "ALL"]
    assert unknown and size["EligibleByChannel"]["UNKNOWN"] == len(unknown)


@pytest.mark.parametrize("name", ["four dimensions", "everyone", "channel"])
def test_the_count_reads_the_index_alone_and_sorts_nothing(audience, name):
    service, app_id, _ = audience
    _, statement, params = counted(service, app_id, SEGMENTS[name])
    plan, _, _ = program(service, statement, params)
    searches = [row[3] for row in plan if row[3].startswith(("SEARCH", "SCAN endpoints"))]
    assert searches and all("endpoints_for_segments" in s for s in searches), plan
    assert not any("TEMP B-TREE" in row[3] for row in plan), plan
    assert not reads_documents(service, statement, params)
