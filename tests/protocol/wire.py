"""Raw, SigV4-signed HTTP requests against a live server (test helper).

botocore's own signer signs them, so what the server checks is what every SDK sends; `httpx`
sends them byte for byte, which lets a test change a request after it was signed.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx
import orjson
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from clarion.protocol.model import load


@dataclass
class Prepared:
    method: str
    url: str
    headers: dict[str, str]
    body: bytes


def sign(method: str, url: str, body: bytes, key: tuple[str, str], *, region: str = "us-east-1",
         headers: dict[str, str] | None = None) -> Prepared:
    request = AWSRequest(method=method, url=url, data=body, headers=dict(headers or {}))
    SigV4Auth(Credentials(*key), "mobiletargeting", region).add_auth(request)
    prepared = request.prepare()
    return Prepared(prepared.method, prepared.url, dict(prepared.headers.items()), prepared.body or b"")


class Wire:
    """Sends signed requests to one live server, with its root key unless told otherwise."""

    def __init__(self, server):
        self.server = server
        self.http = httpx.Client(timeout=60)

    def close(self) -> None:
        self.http.close()

    def prepare(self, method: str, path: str, query: str = "", body=b"", *, key=None,
                region: str = "us-east-1", headers: dict[str, str] | None = None) -> Prepared:
        if not isinstance(body, bytes):
            body = orjson.dumps(body)
        url = f"{self.server.url}{path}" + (f"?{query}" if query else "")
        headers = dict(headers or {})
        if body and not any(k.lower() == "content-type" for k in headers):
            headers["Content-Type"] = "application/json"
        return sign(method, url, body, key or self.server.service.root_credentials, region=region,
                    headers=headers)

    def send(self, prepared: Prepared) -> httpx.Response:
        return self.http.request(prepared.method, prepared.url, headers=prepared.headers,
                                 content=prepared.body)

    def request(self, method: str, path: str, query: str = "", body=b"", **kwargs) -> httpx.Response:
        return self.send(self.prepare(method, path, query, body, **kwargs))


def error_of(response: httpx.Response, allowed_types: set[str] | None = None) -> tuple[str, str]:
    """Check an error answer has the shape boto3 needs; return (error type, message)."""
    allowed_types = allowed_types if allowed_types is not None else set(load().error_shapes())
    where = f"{response.request.method} {response.request.url} -> {response.status_code} {response.text[:300]}"
    assert 400 <= response.status_code < 500, where
    assert response.headers["content-type"].startswith("application/json"), where
    body = orjson.loads(response.content)
    assert set(body) == {"Message", "RequestID"} and body["Message"], where
    assert body["RequestID"] == response.headers["x-amzn-requestid"], where
    error_type = response.headers["x-amzn-errortype"]
    assert error_type in allowed_types, where
    return error_type, body["Message"]
