"""Audience pages (`store.segments.endpoint_pages`, which reads the JSON columns raw and
decodes each once, as a campaign run reads its audience) hold each endpoint exactly as
GetEndpoint gives it, its user's attributes included, in key order; on both backends."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from clarion.domain import segments as seg
from clarion.store import endpoints as endpoint_store
from clarion.store import segments as segment_store

from ..test_segments import seeded_app

NOW = datetime(2026, 6, 1, tzinfo=timezone.utc)


@pytest.fixture
def audience(service):
    """An app with 250 generated endpoints, most with a user, some users with attributes."""
    app_id = seeded_app(service, 250, seed=5)
    return service, app_id


def pages(service, app_id, plan, page_size, reader) -> list[list[dict]]:
    found, after = [], None
    while True:
        with service.store.read() as conn:
            page = reader(conn, after)
        if not page:
            return found
        found.append(page)
        after = page[-1]["Id"].lower()


@pytest.mark.parametrize("window", [7, 5000])
@pytest.mark.parametrize("page_size", [1, 33, 1000])
@pytest.mark.parametrize("plan", [seg.EVERYONE, seg.dimensions({"Location": {"Country": {"Values": ["FR"]}}}, NOW)],
                         ids=["everyone", "france"])
def test_pages_hold_each_endpoint_as_get_endpoint_gives_it(audience, monkeypatch, window, page_size, plan):
    service, app_id = audience
    monkeypatch.setattr(segment_store, "WINDOW", window)
    found = pages(service, app_id, plan, page_size, lambda conn, after: next(
        segment_store.endpoint_pages(conn, app_id, plan, after=after, page_size=page_size), []))
    assert found and all(len(page) == page_size for page in found[:-1])
    endpoints = [e for page in found for e in page]
    keys = [e["Id"].lower() for e in endpoints]
    assert keys == sorted(set(keys))
    assert endpoints == [endpoint_store.response(service.store, app_id, key) for key in keys]
    assert any(e.get("User", {}).get("UserAttributes") for e in endpoints)  # the users' attributes are there
    assert any(e.get("User") and "UserAttributes" not in e["User"] for e in endpoints)
