"""botocore referees the codec for every operation of the model.

Requests: botocore's own client serializes a representative input (captured just before it
would be sent), and `model.resolve` + `codec.parse_request` must find the same operation and
hand the handler exactly that input. Outputs: `codec.serialize_output` writes a representative
payload that botocore's rest-json parser must read back unchanged, with the model's status.
"""

from __future__ import annotations

from datetime import datetime

import botocore.parsers
import pytest

from clarion.protocol import codec
from clarion.protocol.model import load

from .capture import capturing_client, wire_request
from .samples import ARN, LABELS, STAMP, STAMP_MS, Sampler, expected_params, operation_input, to_wire

MODEL = load()
OPERATIONS = MODEL.operation_names
WITH_OUTPUT = [name for name in OPERATIONS if MODEL.operation(name).output_shape is not None]


@pytest.fixture(scope="module")
def botocore_client():
    return capturing_client()


def parse(method: str, path: str, query: str, body: bytes):
    resolved = MODEL.resolve(method, path)
    assert resolved is not None, f"no route for {method} {path}"
    route, labels = resolved
    return route.name, codec.parse_request(route.operation, labels, query, body)


@pytest.mark.parametrize("required_only", [False, True], ids=["all-members", "required-only"])
@pytest.mark.parametrize("operation", OPERATIONS)
def test_botocore_requests_parse_back_exactly(botocore_client, operation, required_only):
    op = MODEL.operation(operation)
    params = operation_input(op, required_only)
    name, parsed = parse(*wire_request(botocore_client, operation, params))
    assert name == operation
    assert parsed == expected_params(op, params)


def test_the_samples_cover_every_kind_of_member():
    """The referee is only as good as its inputs: check they hold every kind the model uses."""
    kinds, query_kinds = set(), set()
    for operation in OPERATIONS:
        op = MODEL.operation(operation)
        for name, member in op.input_shape.members.items():
            if member.serialization.get("location") == "querystring":
                query_kinds.add(member.type_name)
        _collect_kinds(op.input_shape, operation_input(op), kinds)
    assert kinds >= {"string", "boolean", "integer", "double", "timestamp", "blob", "structure", "list", "map"}
    assert query_kinds == {"string", "boolean", "timestamp", "list"}


def _collect_kinds(shape, value, kinds: set) -> None:
    kinds.add(shape.type_name)
    if shape.type_name == "structure":
        for name, item in value.items():
            _collect_kinds(shape.members[name], item, kinds)
    elif shape.type_name == "list":
        for item in value:
            _collect_kinds(shape.member, item, kinds)
    elif shape.type_name == "map":
        for item in value.values():
            _collect_kinds(shape.value, item, kinds)


def test_labels_needing_encoding_arrive_decoded(botocore_client):
    method, path, query, body = wire_request(botocore_client, "UntagResource",
                                             {"ResourceArn": ARN, "TagKeys": ["a b", "c/d", "e&f=g"]})
    assert "%3A" in path and "%2F" in path  # one path segment, however many ':' and '/' inside
    assert parse(method, path, query, body) == ("UntagResource", {"resource_arn": ARN,
                                                                  "tag_keys": ["a b", "c/d", "e&f=g"]})
    user = {"ApplicationId": "app", "UserId": LABELS["UserId"]}
    method, path, query, body = wire_request(botocore_client, "GetUserEndpoints", user)
    assert path == "/v1/apps/app/users/user%20one%2Btwo"
    assert parse(method, path, query, body) == ("GetUserEndpoints", {"application_id": "app",
                                                                     "user_id": "user one+two"})


def test_query_timestamps_and_booleans_become_python_values(botocore_client):
    params = {"ApplicationId": "a", "KpiName": "k", "StartTime": STAMP, "EndTime": STAMP_MS}
    _, parsed = parse(*wire_request(botocore_client, "GetApplicationDateRangeKpi", params))
    assert parsed["start_time"] == STAMP and parsed["end_time"] == STAMP_MS
    assert parsed["start_time"].tzinfo is not None and parsed["end_time"].tzinfo is not None
    for flag in (True, False):
        params = {"TemplateName": "t", "CreateNewVersion": flag, "EmailTemplateRequest": {}}
        _, parsed = parse(*wire_request(botocore_client, "UpdateEmailTemplate", params))
        assert parsed["create_new_version"] is flag


@pytest.mark.parametrize("operation", WITH_OUTPUT)
def test_serialized_outputs_parse_back_in_botocore(operation):
    op = MODEL.operation(operation)
    payload_name = op.output_shape.serialization["payload"]
    payload_shape = op.output_shape.members[payload_name]
    value = Sampler().value(payload_shape, payload_name)
    status, body = codec.serialize_output(op, to_wire(payload_shape, value))
    assert status == op.http["responseCode"]
    parsed = _botocore_parse(op, status, body)
    assert parsed.pop("ResponseMetadata")["HTTPStatusCode"] == status
    assert parsed == {payload_name: value}


def test_outputs_without_shape_have_no_body():
    for operation in sorted(set(OPERATIONS) - set(WITH_OUTPUT)):
        op = MODEL.operation(operation)
        status, body = codec.serialize_output(op, None)
        assert (status, body) == (op.http["responseCode"], b"")
        assert _botocore_parse(op, status, body)["ResponseMetadata"]["HTTPStatusCode"] == status


def test_datetimes_returned_by_handlers_are_read_as_timestamps():
    op = MODEL.operation("GetApplicationDateRangeKpi")
    result = {"ApplicationId": "a", "KpiName": "k", "StartTime": STAMP, "EndTime": "2024-05-06T07:08:09.123Z",
              "KpiResult": {"Rows": []}}
    status, body = codec.serialize_output(op, result)
    parsed = _botocore_parse(op, status, body)["ApplicationDateRangeKpiResponse"]
    assert parsed["StartTime"] == STAMP and parsed["EndTime"] == STAMP_MS
    assert isinstance(parsed["StartTime"], datetime)


def _botocore_parse(op, status: int, body: bytes) -> dict:
    parser = botocore.parsers.create_parser("rest-json")
    headers = {"content-type": "application/json", "x-amzn-requestid": "req-1"} if body else {}
    return parser.parse({"status_code": status, "headers": headers, "body": body}, op.output_shape)
