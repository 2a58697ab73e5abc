"""What botocore would send for an operation, captured right before the network (test helper)."""

from __future__ import annotations

from urllib.parse import urlsplit

import botocore.config
import botocore.session
from botocore import xform_name


class Captured(Exception):
    """Raised from `before-send` to stop botocore right before the network."""

    def __init__(self, request):
        super().__init__("captured")
        self.request = request


def _capture(request, **_):
    raise Captured(request)


def capturing_client():
    """A botocore Pinpoint client whose calls raise `Captured` instead of sending."""
    client = botocore.session.get_session().create_client(
        "pinpoint", region_name="us-east-1", endpoint_url="http://clarion.test",
        aws_access_key_id="AKIDREFEREE", aws_secret_access_key="referee-secret",
        config=botocore.config.Config(retries={"max_attempts": 1}))
    client.meta.events.register("before-send.pinpoint", _capture)
    return client


def wire_request(client, operation: str, params: dict) -> tuple[str, str, str, bytes]:
    """The request botocore would send for `params`: method, raw path, raw query, body bytes."""
    try:
        getattr(client, xform_name(operation))(**params)
    except Captured as captured:
        request = captured.request
    else:
        raise AssertionError("botocore sent nothing")
    url = urlsplit(request.url)
    body = request.body or b""
    return request.method, url.path, url.query, body.encode() if isinstance(body, str) else body
