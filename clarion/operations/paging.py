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
    return whole_number(value, "page-size", 1, maximum)


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


def fetch_page(page_size_value: str | None, token: str | None, fetch, position) -> tuple[list, str | None]:
    """One page of a listing: `fetch(limit, after)` reads up to `limit` rows after the token's
    position; `position(item)` is what the next token records."""
    limit = page_size(page_size_value)
    return split_page(fetch(limit + 1, decode_token(token)), limit, position)


def listing(items: list, next_token: str | None) -> dict:
    """Pinpoint's list shape: `Item`, and `NextToken` while there are more."""
    return {"Item": items, **({"NextToken": next_token} if next_token else {})}


def whole_number(value: str, what: str, minimum: int = 1, maximum: int | None = None) -> int:
    """A number that arrives as a string (a version in the path, a query parameter)."""
    try:
        number = int(value)
    except ValueError:
        raise BadRequest(f"Invalid {what} '{value}': expected a whole number") from None
    if number < minimum or (maximum is not None and number > maximum):
        bound = f"{minimum} to {maximum}" if maximum is not None else f"at least {minimum}"
        raise BadRequest(f"Invalid {what} {number}: expected {bound}")
    return number
