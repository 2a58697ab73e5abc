"""Where import files come from and export files go: `s3://bucket/key` or `file:///path`.

S3 goes through boto3 with its usual credentials chain and endpoint settings, so
`AWS_ENDPOINT_URL_S3` points Clarion at MinIO, moto or any S3-compatible store. A URL names
one object (a file) or a prefix (every object under it, sub-folders included). The job's
`RoleArn` is kept but not assumed: Clarion uses the credentials of its own environment.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlparse


class LocationError(ValueError):
    """A URL Clarion cannot read or write; the message is for the API caller."""


@dataclass(frozen=True)
class Location:
    scheme: str  # s3 | file
    bucket: str  # empty for file://
    path: str  # key or prefix (s3), absolute path (file)

    @classmethod
    def parse(cls, url: str) -> "Location":
        parts = urlparse(url)
        if parts.scheme == "s3":
            if not parts.netloc:
                raise LocationError(f"{url} names no bucket: use s3://bucket/key")
            return cls("s3", parts.netloc, parts.path.lstrip("/"))
        if parts.scheme == "file":
            if parts.netloc not in ("", "localhost"):
                raise LocationError(f"{url}: file URLs name a local path, file:///path")
            return cls("file", "", unquote(parts.path))
        raise LocationError(f"Unsupported URL {url!r}: use s3://bucket/key or file:///path")

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.path}" if self.scheme == "s3" else f"file://{self.path}"

    def child(self, name: str) -> "Location":
        joined = self.path.rstrip("/") + "/" + name if self.path else name
        return Location(self.scheme, self.bucket, joined)


def _s3():
    import boto3

    return boto3.client("s3")


def list_files(location: Location) -> list[Location]:
    """The object itself if it exists, else every object under it as a prefix, sorted."""
    if location.scheme == "file":
        root = Path(location.path)
        if root.is_file():
            return [location]
        if root.is_dir():
            return [Location("file", "", str(p)) for p in sorted(root.rglob("*")) if p.is_file()]
        return []
    client = _s3()
    found = []
    paginator = client.get_paginator("list_objects_v2")
    try:
        for page in paginator.paginate(Bucket=location.bucket, Prefix=location.path):
            found += [Location("s3", location.bucket, o["Key"]) for o in page.get("Contents", [])
                      if not o["Key"].endswith("/")]
    except client.exceptions.NoSuchBucket:
        raise LocationError(f"The bucket {location.bucket} does not exist") from None
    exact = [f for f in found if f.path == location.path]
    return exact or sorted(found, key=lambda f: f.path)


def open_binary(location: Location) -> io.BufferedIOBase:
    """A streaming reader: large files are never read whole into memory."""
    if location.scheme == "file":
        return open(location.path, "rb")
    body = _s3().get_object(Bucket=location.bucket, Key=location.path)["Body"]
    return io.BufferedReader(_StreamingBody(body), buffer_size=1 << 20)


class _StreamingBody(io.RawIOBase):
    def __init__(self, body):
        self.body = body

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        chunk = self.body.read(len(buffer))
        buffer[: len(chunk)] = chunk
        return len(chunk)


def write_bytes(location: Location, data: bytes) -> None:
    if location.scheme == "file":
        path = Path(location.path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".partial")
        tmp.write_bytes(data)
        tmp.replace(path)  # a reader never sees half a file
        return
    _s3().put_object(Bucket=location.bucket, Key=location.path, Body=data)
