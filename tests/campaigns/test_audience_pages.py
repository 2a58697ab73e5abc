"""A run's audience pages (`runtime.campaigns.audience.read_page`, which reads the JSON
columns raw and decodes each once) hold exactly what `store.segments.endpoint_pages` gives:
the same endpoints, with their users' attributes, in the same pages; on both backends."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from clarion.domain import segments as seg
from clarion.runtime.campaigns.audience import read_page
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
def test_raw_pages_equal_the_segment_store_pages(audience, monkeypatch, window, page_size, plan):
    service, app_id = audience
    monkeypatch.setattr(segment_store, "WINDOW", window)
    raw = pages(service, app_id, plan, page_size, lambda conn, after: read_page(conn, app_id, plan, after, page_size))
    stored = pages(service, app_id, plan, page_size, lambda conn, after: next(
        segment_store.endpoint_pages(conn, app_id, plan, after=after, page_size=page_size), []))
    assert raw == stored and raw
    endpoints = [e for page in raw for e in page]
    assert any(e.get("User", {}).get("UserAttributes") for e in endpoints)  # the users' attributes are there
    assert any(e.get("User") and "UserAttributes" not in e["User"] for e in endpoints)
