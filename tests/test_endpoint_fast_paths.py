"""The shortcuts the endpoint write path takes give the answers of the long way round:
the size rule computed from two JSON texts, updates that skip unchanged indexed columns,
statements run straight on the driver, and the CSV reader's per-column plan."""

from __future__ import annotations

import io

import orjson
import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from clarion.domain import endpoints as rules
from clarion.domain.endpoints import Invalid, Stored
from clarion.operations import Caller, Context
from clarion.operations import apps as app_ops
from clarion.operations.endpoints import upsert_endpoints
from clarion.store import endpoints as endpoint_store
from clarion.store.schema import endpoints
from clarion.transfer.endpoint_files import read_rows
from clarion.transfer.imports import _complete_new_endpoints

NOW = "2024-05-01T10:00:00.000Z"


# -- the size and NUL rules, from the stored text and the user's attributes -----------------

def doc_of(size_filler: int, user: str | None = "u", **extra) -> dict:
    doc = {"ApplicationId": "app", "Id": "e1", "Address": "a@example.com", "OptOut": "NONE",
           "Attributes": {"pad": ["x" * size_filler]}, **extra}
    if user:
        doc["User"] = {"UserId": user}
    return doc


def verdict(fn):
    try:
        return "ok", fn()
    except Invalid as exc:
        return "invalid", str(exc)


@pytest.mark.parametrize("attributes", [None, {}, {"plan": ["pro", "team"]}, {"k": ["v" * 90] * 40}])
@pytest.mark.parametrize("user", ["u", None])
def test_encode_judges_as_the_encoded_response_would_at_every_size(attributes, user):
    """Walk the size across the 15 KB limit: `encode` refuses exactly where encoding the
    projected EndpointResponse would, with the same message, and returns the doc's text."""
    limit = rules.MAX_ENDPOINT_BYTES
    base = len(orjson.dumps(rules.project(doc_of(0, user), attributes)))
    for filler in range(limit - base - 3, limit - base + 3):
        doc = doc_of(filler, user)
        expected = verdict(lambda: rules.check_complete(rules.project(doc, attributes)))
        got = verdict(lambda: rules.encode(doc, attributes))
        assert got[0] == expected[0], filler
        if got[0] == "ok":
            assert orjson.loads(got[1]) == doc
        else:
            assert got[1] == expected[1]


@pytest.mark.parametrize("doc,attributes", [
    (doc_of(1, Address=None, OptOut="NONE"), {"plan": ["pro"]}),  # no address, opted in
    (doc_of(1, Demographic={"Make": "a\x00b"}), None),
    (doc_of(1), {"plan": ["a\x00b"]}),
    (doc_of(1, user=None), {"plan": ["a\x00b"]}),  # not projected: no user to carry them
])
def test_encode_refuses_what_the_response_check_refuses(doc, attributes):
    doc = {k: v for k, v in doc.items() if v is not None}
    got, expected = verdict(lambda: rules.encode(doc, attributes)), \
        verdict(lambda: rules.check_complete(rules.project(doc, attributes)))
    assert got[0] == expected[0] and (got[0] == "ok" or got[1] == expected[1])


def test_stored_text_follows_the_doc_it_was_made_for():
    doc = {"Id": "e", "Address": "a"}
    stored = Stored("e", doc, None, 1, encoded=(doc, '{"cached":true}'))
    assert stored.text == '{"cached":true}'
    stored.doc = {**doc, "EndpointStatus": "INACTIVE"}  # replaced (deactivated): encoded afresh
    assert orjson.loads(stored.text) == stored.doc


# -- the store: updates, driver errors -------------------------------------------------------

@pytest.fixture
def ctx(service):
    return Context(service, Caller("test"), "req-1")


@pytest.fixture
def app(ctx):
    return app_ops.create_app(ctx, create_application_request={"Name": "fast-paths"})["Id"]


def columns(service, app_id) -> dict:
    with service.store.read() as conn:
        rows = conn.execute(select(endpoints.c.endpoint_key, endpoints.c.user_id, endpoints.c.channel_type,
                                   endpoints.c.address, endpoints.c.effective_date, endpoints.c.doc)
                            .where(endpoints.c.app_id == app_id)).all()
    out = {}
    for key, user_id, channel, address, effective, doc in rows:
        doc = orjson.loads(doc) if isinstance(doc, str) else doc
        # The indexed columns always say what the document says.
        assert (user_id, channel, address, effective) == (
            (doc.get("User") or {}).get("UserId"), doc.get("ChannelType"), doc.get("Address"), doc["EffectiveDate"])
        out[key] = doc
    return out


def upsert(ctx, app_id, *items, partial=False):
    with ctx.store.write() as conn:
        return upsert_endpoints(ctx, conn, app_id, list(items), partial=partial)


def test_updates_that_keep_or_move_the_indexed_columns_store_them_right(service, ctx, app):
    upsert(ctx, app, ("E1", {"ChannelType": "EMAIL", "Address": "a@x.io", "User": {"UserId": "u1"}}),
           ("E2", {"ChannelType": "SMS", "Address": "+15550100", "User": {"UserId": "u2"}}))
    upsert(ctx, app, ("E1", {"Attributes": {"tier": ["gold"]}}),  # keeps user, channel, address
           ("E2", {"Address": "+15550199", "User": {"UserId": "u3"}}))  # moves both
    docs = columns(service, app)
    assert docs["e1"]["Attributes"] == {"tier": ["gold"]} and docs["e1"]["User"] == {"UserId": "u1"}
    assert docs["e2"]["Address"] == "+15550199" and docs["e2"]["User"] == {"UserId": "u3"}
    with service.store.read() as conn:
        assert [s.key for s in endpoint_store.by_user(conn, app, "u3")] == ["e2"]
        assert endpoint_store.by_user(conn, app, "u2") == []


def test_a_loaded_row_changed_outside_the_rules_is_written_whole(service, ctx, app):
    """As the sender does when a provider hands back a new token: the address moves."""
    upsert(ctx, app, ("E1", {"ChannelType": "GCM", "Address": "old-token"}))
    with service.store.write() as conn:
        (row,) = endpoint_store.lock_by_keys(conn, app, ["e1"])
        row.doc = {**row.doc, "Address": "new-token"}
        endpoint_store.update_endpoints(conn, app, [row])
    assert columns(service, app)["e1"]["Address"] == "new-token"


def test_driver_errors_come_out_as_sqlalchemy_errors(service, ctx, app):
    """The retry on a concurrent insert of the same endpoint depends on it."""
    upsert(ctx, app, ("E1", {"ChannelType": "EMAIL", "Address": "a@x.io"}))
    with pytest.raises(IntegrityError):
        with service.store.write() as conn:
            (row,) = endpoint_store.lock_by_keys(conn, app, ["e1"])
            endpoint_store.insert_endpoints(conn, app, [row])
    assert list(columns(service, app)) == ["e1"]


def test_import_rows_without_channel_and_address_must_name_an_existing_endpoint(service, ctx, app):
    upsert(ctx, app, ("Known", {"ChannelType": "EMAIL", "Address": "k@x.io"}))
    items = [(1, "known", {"Attributes": {"a": ["1"]}}), (2, "new-a", {"ChannelType": "EMAIL"}),
             (3, "new-b", {"ChannelType": "SMS", "Address": "+15550100"}), (4, "new-c", {})]
    with service.store.read() as conn:
        kept, refused = _complete_new_endpoints(conn, app, items)
    assert [number for number, _, _ in kept] == [1, 3]
    assert refused == ["line 2: a new endpoint needs ChannelType and Address",
                       "line 4: a new endpoint needs ChannelType and Address"]


# -- the CSV reader ----------------------------------------------------------------------------

def csv_rows(text: str, skip: int = 0) -> list:
    return list(read_rows(io.BufferedReader(io.BytesIO(text.encode("utf-8-sig"))), "CSV", skip))


def test_csv_columns_are_planned_once_and_fill_nested_values():
    rows = csv_rows(
        "Id, ChannelType ,Location.Latitude,Attributes.i,Metrics.m,Attributes.i,User.UserAttributes.p,User.UserId\r\n"
        "e1,EMAIL,47.61,a,3,b,x,u1\r\n"
        " , ,,,,,,\r\n"
        "e2,SMS,,,,c,,\r\n"
        "e3,SMS,north,,,,,\r\n"
        "e4,SMS,,,,,,,extra\r\n")
    assert rows == [
        (1, {"Id": "e1", "ChannelType": "EMAIL", "Location": {"Latitude": 47.61}, "Attributes": {"i": ["a", "b"]},
             "Metrics": {"m": 3.0}, "User": {"UserAttributes": {"p": ["x"]}, "UserId": "u1"}}),
        (3, {"Id": "e2", "ChannelType": "SMS", "Attributes": {"i": ["c"]}}),
        (4, "line 4: Location.Latitude must be a number, got 'north'"),
        (5, "line 5: 9 values for 8 columns"),
    ]
    assert [n for n, _ in csv_rows("Id\na\nb\nc\n", skip=2)] == [3]


@pytest.mark.parametrize("header", [
    ["Id", "ChannelType", "Address", "Location.City", "Location.Latitude", "Attributes.i", "Attributes.i",
     "Metrics.m", "User.UserId", "User.UserAttributes.p", "User.UserAttributes.p", "Demographic.Platform"],
    ["User.UserAttributes.p", "Id", "User.UserId", "A.B.C.D", "A.B.x", "A.y"],
])
def test_the_compiled_column_plan_builds_what_the_column_walk_builds(header):
    """Every mix of filled, blank and padded cells gives the same endpoint (or the same error)
    from the per-header plan as from walking each column's path."""
    import random

    from clarion.transfer.endpoint_files import _Column, _csv_endpoint, _Plan
    columns = [_Column.of(h) for h in header]
    plan = _Plan.of(columns)
    assert plan is not None
    rnd = random.Random(5)
    for _ in range(300):
        cells = [rnd.choice(["", " ", "v", " w ", "1.5", "x"]) for _ in header][: rnd.randrange(len(header) + 1)]
        outcomes = []
        for build in (plan.endpoint, lambda c: _csv_endpoint(columns, c)):
            try:
                outcomes.append(build(cells))
            except ValueError as exc:
                outcomes.append(str(exc))
        assert outcomes[0] == outcomes[1], cells
        if isinstance(outcomes[0], dict):
            assert list(outcomes[0]) == list(outcomes[1])  # same member order


def test_a_header_where_a_value_sits_where_another_column_nests_is_walked_column_by_column():
    from clarion.transfer.endpoint_files import _Column, _Plan
    assert _Plan.of([_Column.of(h) for h in ["Id", "Location", "Location.City"]]) is None
    rows = csv_rows("Id,Location.City,Demographic\r\ne1,Paris,x\r\n\r\n , \r\n")
    assert rows == [(1, {"Id": "e1", "Location": {"City": "Paris"}, "Demographic": "x"})]


def test_endpoint_writes_to_an_unknown_app_are_404_and_app_ids_ignore_case(client, app_id):
    from botocore.exceptions import ClientError
    for call in (lambda a: client.update_endpoint(ApplicationId=a, EndpointId="e1",
                                                  EndpointRequest={"ChannelType": "SMS", "Address": "+12065550100"}),
                 lambda a: client.update_endpoints_batch(ApplicationId=a, EndpointBatchRequest={"Item": [
                     {"Id": "e2", "ChannelType": "SMS", "Address": "+12065550101"}]})):
        with pytest.raises(ClientError) as caught:
            call("0" * 32)
        assert caught.value.response["Error"]["Code"] == "NotFoundException"
        assert caught.value.response["Error"]["Message"] == "Application not found"
        call(app_id.upper())
    assert client.get_endpoint(ApplicationId=app_id, EndpointId="e2")["EndpointResponse"]["ApplicationId"] == app_id
