"""Pinpoint's pagination: `page-size` (a string on the wire) and an opaque `token`."""

from __future__ import annotations

import base64

import orjson

from ..protocol.errors import BadRequest

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000


def page_size(value: str | None, default: int = DEFAULT_PAGE_SIZE, maximum: int = MAX_PAGE_SIZE) -> int:
    if value is None or value == "":
        return default
    try:
        size = int(value)
    except ValueError:
        raise BadRequest(f"Invalid page-size '{value}': expected a whole number") from None
    if not 1 <= size <= maximum:
        raise BadRequest(f"Invalid page-size {size}: expected 1 to {maximum}")
    return size


def encode_token(position) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(position)).decode().rstrip("=")


def decode_token(token: str | None):
    """The keyset position a token stands for, or None for the first page."""
    if not token:
        return None
    try:
        return orjson.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (ValueError, orjson.JSONDecodeError):
        raise BadRequest("Invalid pagination token") from None


def split_page(rows: list, limit: int, position) -> tuple[list, str | None]:
    """Given up to `limit + 1` rows, the page and the token for the next one (None at the end)."""
    if len(rows) <= limit:
        return rows, None
    page = rows[:limit]
    return page, encode_token(position(page[-1]))
