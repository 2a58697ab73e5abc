"""The typed fast path for batch payloads (`protocol.typed`) and per-item validation."""

from __future__ import annotations

import orjson
import pytest

from clarion.protocol import codec, typed
from clarion.protocol.errors import BadRequest
from clarion.protocol.model import load
from clarion.protocol.validate import ItemError

MODEL = load()
PUT_EVENTS = MODEL.operation("PutEvents")
ITEMS = frozenset({"EventsBatch", "PublicEndpoint", "Event"})
LABELS = {"application-id": "app"}


def body(**events) -> bytes:
    return orjson.dumps({"BatchItem": {"ep": {"Endpoint": {"ChannelType": "GCM", "Location": {"Latitude": 47}},
                                               "Events": events}}})


GOOD = {"EventType": "a", "Timestamp": "2024-05-01T12:00:00Z", "Attributes": {"k": "v", "n": None},
        "Metrics": {"m": 1.5}, "Session": {"Id": "s", "StartTimestamp": "2024-05-01T12:00:00Z", "Duration": 5}}


def test_a_valid_batch_decodes_to_the_same_values_as_the_generic_path():
    raw = body(e1=GOOD, e2={"EventType": "b", "Timestamp": "2024-05-01T12:00:00Z"})
    fast = codec.parse_request(PUT_EVENTS, LABELS, "", raw, ITEMS)["events_request"]
    assert fast == orjson.loads(raw)


def test_a_bad_event_becomes_an_item_error_and_the_rest_is_kept():
    raw = body(good=GOOD, bad={**GOOD, "Metrics": {"m": "x"}}, missing={"Timestamp": "t"})
    events = codec.parse_request(PUT_EVENTS, LABELS, "", raw, ITEMS)["events_request"]["BatchItem"]["ep"]["Events"]
    assert events["good"] == GOOD
    assert isinstance(events["bad"], ItemError) and "Metrics.m" in events["bad"].message
    assert isinstance(events["missing"], ItemError) and "EventType" in events["missing"].message


def test_outside_the_items_a_bad_value_still_fails_the_request():
    with pytest.raises(BadRequest, match="BatchItem"):
        codec.parse_request(PUT_EVENTS, LABELS, "", b'{"BatchItem": []}', ITEMS)
    with pytest.raises(BadRequest, match="not valid JSON"):
        codec.parse_request(PUT_EVENTS, LABELS, "", b'{"BatchItem": ', ITEMS)


def test_every_payload_shape_of_the_model_gets_a_typed_decoder():
    payloads = [op.input_shape.members[op.input_shape.serialization["payload"]]
                for op in map(MODEL.operation, MODEL.operation_names)
                if op.input_shape is not None and "payload" in op.input_shape.serialization]
    assert len(payloads) > 40
    for shape in payloads:
        assert typed.decoder(shape) is not None, shape.name
