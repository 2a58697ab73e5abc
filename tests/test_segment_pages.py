"""Reading an audience in pages (`store.segments.endpoint_pages`): every member once, in key
order, resumable from any page's last key, however the key-range windows fall; on both backends."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from clarion.domain import segments as seg
from clarion.store import segments as segment_store

from .test_segments import seeded_app

NOW = datetime(2026, 6, 1, tzinfo=timezone.utc)
FRANCE = {"Location": {"Country": {"Values": ["FR"]}}}


@pytest.fixture
def audience(service):
    """An app with 250 generated endpoints; (service, app id, stored endpoints by key)."""
    app_id = seeded_app(service, 250, seed=11)
    with service.store.read() as conn:
        stored = {r["Id"].lower(): r for page in segment_store.endpoint_pages(conn, app_id, seg.EVERYONE)
                  for r in page}
    assert len(stored) == 250
    return service, app_id, stored


def read_all(service, app_id, plan, page_size, after=None, **kw) -> list[list[str]]:
    with service.store.read() as conn:
        return [[e["Id"].lower() for e in page]
                for page in segment_store.endpoint_pages(conn, app_id, plan, after=after, page_size=page_size, **kw)]


@pytest.mark.parametrize("window", [1, 7, 64, 5000])
@pytest.mark.parametrize("page_size", [1, 10, 33, 1000])
def test_pages_hold_every_member_once_in_key_order(audience, monkeypatch, window, page_size):
    service, app_id, stored = audience
    monkeypatch.setattr(segment_store, "WINDOW", window)
    plan = seg.dimensions(FRANCE, NOW)
    expected = sorted(k for k, e in stored.items() if e["Location"]["Country"] == "FR")
    pages = read_all(service, app_id, plan, page_size)
    assert [k for page in pages for k in page] == expected
    assert all(len(page) == page_size for page in pages[:-1]) and 0 < len(pages[-1]) <= page_size


@pytest.mark.parametrize("window", [3, 5000])
def test_resuming_after_any_page_gives_the_rest(audience, monkeypatch, window):
    service, app_id, stored = audience
    monkeypatch.setattr(segment_store, "WINDOW", window)
    plan = seg.dimensions(FRANCE, NOW)
    pages = read_all(service, app_id, plan, 9, eligible_only=True)
    expected = sorted(k for k, e in stored.items() if e["Location"]["Country"] == "FR"
                      and e["OptOut"] != "ALL" and e["EndpointStatus"] == "ACTIVE")
    assert [k for page in pages for k in page] == expected
    for n, page in enumerate(pages):
        rest = read_all(service, app_id, plan, 9, after=page[-1], eligible_only=True)
        assert [k for p in rest for k in p] == expected[expected.index(page[-1]) + 1:]
        assert len(rest) == len(pages) - n - 1


def test_an_empty_audience_has_no_pages(audience, monkeypatch):
    service, app_id, _ = audience
    monkeypatch.setattr(segment_store, "WINDOW", 10)
    nobody = seg.dimensions({"Location": {"Country": {"Values": ["XX"]}}}, NOW)
    assert read_all(service, app_id, nobody, 10) == []
    assert read_all(service, app_id, seg.EVERYONE, 10, after="~") == []  # after the last key
