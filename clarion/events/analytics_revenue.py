"""Revenue from `_monetization.purchase` events (Pinpoint's monetization events, reference §2.3).

A purchase carries attributes `_product_id`, `_currency` and metrics `_item_price` (unit price)
and `_quantity`. Its revenue is `_item_price` × `_quantity` (quantity 1 when absent, revenue 0
when the price is absent). Currencies are not converted: by default every purchase is summed, as
Pinpoint's console did, and `currencies` shows what the sum is made of; pass `currency` to keep
one (purchases without `_currency` count under none of them).

Per day and for the whole range (`total`): `revenue`, `purchases` (events), `units` (Σ quantity),
`paying` (distinct actors who purchased), `active` (actors active, see `analytics`),
`revenue_per_active` (ARPDAU in a day's row, ARPU over the range) and `revenue_per_paying` (ARPPU).
"""

from __future__ import annotations

from datetime import date

from .analytics_base import Scope, active_ctes, day_series, iso_day, query, ratio

PURCHASE = "_monetization.purchase"


def revenue(source, app_id: str, start: date, end: date, *, currency: str | None = None,
            by_user: bool = False, tz: str | None = None) -> dict:
    """Revenue, purchases, paying actors and revenue per active actor for every day of [start, end]."""
    scope = Scope(app_id, start, end, by_user, tz)
    lo, hi = scope.bounds()
    params = {"app": app_id}
    where = f"app_id = $app AND event_type = '{PURCHASE}' AND {scope.in_range()}"
    if currency is not None:
        where += " AND attributes['_currency'] = $currency"
        params["currency"] = currency
    buys = f"""SELECT {scope.day()} AS day, {scope.actor()} AS actor, attributes['_currency'] AS currency,
                      coalesce(metrics['_quantity'], 1) AS units,
                      coalesce(metrics['_item_price'], 0) * coalesce(metrics['_quantity'], 1) AS revenue
               FROM events WHERE {where}"""
    sql = f"""
        WITH {active_ctes(scope, lo, hi)},
        sales AS (SELECT day, sum(revenue) AS revenue, count(*) AS purchases, sum(units) AS units,
                         count(DISTINCT actor) AS paying
                  FROM ({buys}) GROUP BY GROUPING SETS ((day), ()))
        SELECT s.day, coalesce(a.active, 0) AS active, coalesce(b.revenue, 0) AS revenue,
               coalesce(b.purchases, 0) AS purchases, coalesce(b.units, 0) AS units, coalesce(b.paying, 0) AS paying
        FROM ({day_series(scope)} UNION ALL SELECT NULL) s
        LEFT JOIN active a ON a.day IS NOT DISTINCT FROM s.day
        LEFT JOIN sales b ON b.day IS NOT DISTINCT FROM s.day
        ORDER BY s.day NULLS LAST"""
    found = [_row(r) for r in query(source, sql, params)]
    total = found.pop()
    del total["date"]
    currencies = query(source, f"""SELECT currency, sum(revenue) AS revenue, count(*) AS purchases FROM ({buys})
                               GROUP BY currency ORDER BY revenue DESC, currency NULLS LAST""", params)
    return {"days": found, "total": total,
            "currencies": [{"currency": c["currency"], "revenue": round(float(c["revenue"]), 6),
                            "purchases": c["purchases"]}
                           for c in currencies]}


def _row(r: dict) -> dict:
    revenue = round(float(r["revenue"]), 6)  # sums of prices: no 990.8600000000008
    return {"date": iso_day(r["day"]) if r["day"] is not None else None, "revenue": revenue,
            "purchases": r["purchases"], "units": round(float(r["units"]), 6), "paying": r["paying"],
            "active": r["active"],
            "revenue_per_active": ratio(revenue, r["active"]), "revenue_per_paying": ratio(revenue, r["paying"])}
