"""Errors: every modelled exception, as `codec.serialize_error` writes it, is read by botocore as
that exception with its message, request id and the model's status code."""

from __future__ import annotations

import botocore.parsers
import pytest

from clarion.protocol import codec, errors
from clarion.protocol.model import load

MODEL = load()
MODELLED = MODEL.error_shapes()
DECLARED = {cls.error_type: cls for cls in vars(errors).values()
            if isinstance(cls, type) and issubclass(cls, errors.ServiceError) and cls is not errors.ServiceError}


def test_every_modelled_exception_has_a_class_with_the_models_status():
    statuses = {name: shape.metadata["error"]["httpStatusCode"] for name, shape in MODELLED.items()}
    assert set(statuses) <= set(DECLARED), f"missing in errors.py: {set(statuses) - set(DECLARED)}"
    assert {name: DECLARED[name].status for name in statuses} == statuses


def test_errors_outside_the_model_are_only_authentication_refusals_or_not_implemented():
    """boto3 maps only modelled types to exceptions: anything else must be API Gateway's 403s
    (which boto3 users know from the real service) or the 501 for an operation not served yet."""
    extra = {name: cls.status for name, cls in DECLARED.items() if name not in MODELLED}
    assert extra.pop("NotImplementedException") == 501
    assert extra and set(extra.values()) == {403}
    assert all(name.endswith("Exception") for name in extra)


@pytest.mark.parametrize("operation", ["GetApp", "CreateCampaign", "TagResource", "UpdateJourney"])
@pytest.mark.parametrize("error_type", sorted(MODELLED))
def test_botocore_reads_each_modelled_error(error_type, operation):
    message = 'Something "odd" happened: é ✓'
    status, headers, body = codec.serialize_error(DECLARED[error_type](message), "req-1234")
    assert status == MODELLED[error_type].metadata["error"]["httpStatusCode"]
    parsed = _botocore_error(MODEL.operation(operation), status, headers, body, "req-1234")
    assert parsed["Error"] == {"Code": error_type, "Message": message}
    assert parsed["ResponseMetadata"]["HTTPStatusCode"] == status
    assert parsed["ResponseMetadata"]["RequestId"] == "req-1234"
    assert parsed["RequestID"] == "req-1234" and parsed["Message"] == message  # the modelled members


def test_authentication_errors_are_read_with_their_code():
    for error_type in ("MissingAuthenticationTokenException", "InvalidSignatureException"):
        status, headers, body = codec.serialize_error(DECLARED[error_type]("no"), "req-9")
        parsed = _botocore_error(MODEL.operation("GetApps"), status, headers, body, "req-9")
        assert (status, parsed["Error"]["Code"], parsed["Error"]["Message"]) == (403, error_type, "no")


def _botocore_error(op, status: int, headers: list, body: bytes, request_id: str) -> dict:
    """Parse as botocore's endpoint does: the generic error, then the modelled error's members."""
    parser = botocore.parsers.create_parser("rest-json")
    # The gateway adds x-amzn-RequestId to every answer (checked against live servers elsewhere).
    response = {"status_code": status, "body": body,
                "headers": {k.decode(): v.decode() for k, v in headers} | {"x-amzn-requestid": request_id}}
    parsed = parser.parse(response, op.output_shape)
    shape = MODEL.service.shape_for_error_code(parsed["Error"]["Code"])
    if shape is not None:
        parsed.update(parser.parse(response, shape))
    return parsed
