"""A seeded generator of realistic event histories, for tests, benchmarks and demos.

`generate(con, app_id, seed=..., users=..., days=60)` appends to the `events` table of a DuckDB
connection the history of an app's users over `days` days: users with one to three devices
(iOS, Android, web), some anonymous (no user id), spread over countries and time zones, who
arrive over the period, come back on some days and churn; each active device-day holds one to
three sessions (`_session.start` ... `_session.stop` with ids, start, stop and duration), and
inside them sign-ins, item views, add-to-cart, checkout and `_monetization.purchase` events in
that order (a funnel), and game-like `level_complete` events with metrics. App versions move
forward during the period, endpoints carry custom attributes (`plan`, `interests`), and a few
service-generated `_email.send` events reach endpoints on days they did nothing.

It is written in DuckDB SQL, columnar: every random choice is a hash of (seed, what, where), so
the same seed gives the same history whatever the thread count; 10 million events take under a
minute on a 2-core machine, most of it DuckDB storing the rows. `read_events(con, app_id)` gives the history back as plain dicts (the list the tests
compute their independent answers from).
"""

from __future__ import annotations

from datetime import date

_GEO = [  # (country, region, city, time zone, locale), repeated by weight
    ("US", "NY", "New York", "America/New_York", "en_US"),
    ("US", "NY", "New York", "America/New_York", "en_US"),
    ("US", "CA", "Los Angeles", "America/Los_Angeles", "en_US"),
    ("US", "CA", "San Francisco", "America/Los_Angeles", "es_US"),
    ("GB", "ENG", "London", "Europe/London", "en_GB"),
    ("DE", "BE", "Berlin", "Europe/Berlin", "de_DE"),
    ("FR", "IDF", "Paris", "Europe/Paris", "fr_FR"),
    ("IN", "KA", "Bengaluru", "Asia/Kolkata", "en_IN"),
    ("JP", "13", "Tokyo", "Asia/Tokyo", "ja_JP"),
    ("BR", "SP", "Sao Paulo", "America/Sao_Paulo", "pt_BR"),
    ("AU", "NSW", "Sydney", "Australia/Sydney", "en_AU"),
]
_DEVICES = [  # (platform, make, model, os versions, channel, sdk)
    ("iOS", "Apple", "iPhone15,2", ["17.1", "17.2", "16.6"], "APNS", "aws-sdk-iOS"),
    ("iOS", "Apple", "iPhone14,5", ["17.2", "16.6"], "APNS", "aws-sdk-iOS"),
    ("iOS", "Apple", "iPad13,4", ["17.1"], "APNS", "aws-sdk-iOS"),
    ("Android", "samsung", "SM-S911B", ["14", "13"], "GCM", "aws-sdk-android"),
    ("Android", "samsung", "SM-A546B", ["14", "13"], "GCM", "aws-sdk-android"),
    ("Android", "Google", "Pixel 8", ["14"], "GCM", "aws-sdk-android"),
    ("Android", "Xiaomi", "23049PCD8G", ["13", "12"], "GCM", "aws-sdk-android"),
    ("Web", "Mozilla", "Firefox", ["121"], "CUSTOM", "aws-amplify-js"),
    ("Web", "Google", "Chrome", ["120", "119"], "CUSTOM", "aws-amplify-js"),
]
_CATEGORIES = ["shoes", "hats", "books", "games"]
_INTERESTS = ["sports", "music", "news", "travel"]

# Event slots inside a session, in time order (slot 9 closes the session).
_SLOTS = 10


def _struct_list(rows: list[tuple], names: list[str]) -> str:
    def literal(v):
        if isinstance(v, list):
            return "[" + ", ".join(literal(x) for x in v) + "]"
        return "'" + str(v).replace("'", "''") + "'"

    items = ["{" + ", ".join(f"'{n}': {literal(v)}" for n, v in zip(names, row)) + "}" for row in rows]
    return "[" + ", ".join(items) + "]"


def _pick(list_sql: str, r: str) -> str:
    """One element of a list literal, uniformly by the random number `r` in [0, 1)."""
    return f"({list_sql})[1 + floor({r} * len({list_sql}))::INTEGER]"


def _macros(con, seed: int) -> None:
    # Uniform in [0, 1) from a hash: deterministic per (seed, a, b, c).
    con.execute(f"CREATE OR REPLACE TEMP MACRO g_rnd(a, b, c) AS "
                f"hash(hash({int(seed)}, a, b, c))::DOUBLE / 18446744073709551616.0")
    con.execute(f"CREATE OR REPLACE TEMP MACRO g_hex(a, b, c) AS "
                f"printf('%016x%016x', hash(hash({int(seed)}, a, b, c)), hash(hash(c, b, a, {int(seed)})))")


def _users(con, users: int, days: int) -> None:
    geo = _struct_list(_GEO, ["country", "region", "city", "tz", "locale"])
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE g_users AS
        SELECT u,
               CASE WHEN g_rnd(u, 1, 0) < 0.15 THEN NULL ELSE printf('user-%07d', u) END AS user_id,
               {_pick(geo, 'g_rnd(u, 2, 0)')} AS geo,
               floor(pow(g_rnd(u, 3, 0), 1.2) * {days})::INTEGER AS first_day,
               0.08 + 0.6 * g_rnd(u, 4, 0) AS engagement,
               ceil(-ln(1 - g_rnd(u, 5, 0)) * 25)::INTEGER AS lifetime,
               CASE WHEN g_rnd(u, 6, 0) < 0.7 THEN 1 WHEN g_rnd(u, 6, 0) < 0.92 THEN 2 ELSE 3 END AS n_devices,
               CASE WHEN g_rnd(u, 7, 0) < 0.2 THEN 'pro' ELSE 'free' END AS plan
        FROM range({users}) t(u)""")


def _devices(con) -> None:
    """One row per device (endpoint) with everything about it that events carry."""
    dev = _struct_list(_DEVICES, ["platform", "make", "model", "versions", "channel", "sdk"])
    interests = "['" + "', '".join(_INTERESTS) + "']"
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE g_devices AS
        SELECT u, k, user_id, engagement, lifetime, dev_first, upgrade_lag, endpoint_id,
               dev.channel AS channel_type, dev.platform AS platform,
               dev.versions[1 + floor(os_pick * len(dev.versions))::INTEGER] AS platform_version,
               dev.make AS make, dev.model AS model, dev.sdk AS sdk_name,
               geo.country AS country, geo.region AS region, geo.city AS city, geo.locale AS locale,
               geo.tz AS timezone, CASE dev.platform WHEN 'iOS' THEN 0 WHEN 'Android' THEN 1 ELSE 2 END AS store,
               CASE WHEN len(interests) = 0 THEN MAP {{'plan': [plan]}}
                    ELSE MAP {{'plan': [plan], 'interests': interests}} END AS endpoint_attributes
        FROM (SELECT u.*, k, g_hex(u.u, k, 11) AS endpoint_id, {_pick(dev, 'g_rnd(u.u, k, 12)')} AS dev,
                     g_rnd(u.u, k, 13) AS os_pick,
                     u.first_day + CASE WHEN k = 0 THEN 0 ELSE floor(g_rnd(u.u, k, 14) * 12)::INTEGER END AS dev_first,
                     floor(g_rnd(u.u, k, 15) * 10)::INTEGER AS upgrade_lag,
                     list_filter({interests}, lambda x, i: g_rnd(u.u, k * 10 + i, 16) < 0.35) AS interests
              FROM g_users u, range(3) t(k)
              WHERE k < CASE WHEN u.user_id IS NULL THEN 1 ELSE u.n_devices END)""")


def _sessions(con, days: int, start: date) -> None:
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE g_device_days AS
        SELECT u, k, day FROM (
            SELECT *, unnest(range(dev_first, least({days}, dev_first + lifetime + 1))) AS day FROM g_devices)
        WHERE day = dev_first
           OR g_rnd(u, k * 1000 + day, 20) < engagement * CASE WHEN k = 0 THEN 1.0 ELSE 0.45 END""")
    # Sessions of a day sit in separate local-time slots (the last may cross local midnight).
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE g_sessions AS
        SELECT u, k, s, sk, user_id IS NOT NULL AS known, store, s_start,
               s_start + to_milliseconds((s_seconds * 1000)::BIGINT) AS s_stop,
               g_hex(u, k * 1000 + day, 200 + s) AS session_id,
               '2.' || greatest(0, (day - upgrade_lag) // 14)::INTEGER || '.0' AS app_version
        FROM (
            SELECT *, timezone('UTC', timezone(timezone, local_start)) AS s_start,
                   (20 + pow(g_rnd(u, k * 1000 + day, 100 + s), 2) * 1800) AS s_seconds
            FROM (SELECT d.*, dd.day, s, hash(d.u, d.k, dd.day, s) AS sk,
                         DATE '{start.isoformat()}' + dd.day::INTEGER + to_milliseconds(
                             ((7 + s * 5.5 + g_rnd(d.u, d.k * 1000 + dd.day, 30 + s) * 5) * 3600e3)::BIGINT)
                         AS local_start
                  FROM (SELECT *, unnest(range(1 + floor(g_rnd(u, k * 1000 + day, 22) * 3)::INTEGER)) AS s
                        FROM g_device_days) dd JOIN g_devices d USING (u, k)))
        ORDER BY s_start""")


def _slot_exists() -> str:
    """Whether event slot `slot` happens in a session: the funnel view -> cart -> checkout -> buy."""
    r = "g_rnd(sk, 0, 40 + {})"
    view = f"{r.format(2)} < 0.8"
    cart = f"({view}) AND {r.format(5)} < 0.35"
    checkout = f"({cart}) AND {r.format(6)} < 0.6"
    return f"""CASE slot
        WHEN 0 THEN true
        WHEN 1 THEN s = 0 AND known AND {r.format(1)} < 0.3
        WHEN 2 THEN {view}
        WHEN 3 THEN ({view}) AND {r.format(3)} < 0.5
        WHEN 4 THEN ({view}) AND {r.format(4)} < 0.3
        WHEN 5 THEN {cart}
        WHEN 6 THEN {checkout}
        WHEN 7 THEN ({checkout}) AND {r.format(7)} < 0.7
        WHEN 8 THEN {r.format(8)} < 0.4
        ELSE true END"""


_TYPES = """CASE slot WHEN 0 THEN '_session.start' WHEN 1 THEN '_userauth.sign_in'
    WHEN 2 THEN 'view_item' WHEN 3 THEN 'view_item' WHEN 4 THEN 'view_item' WHEN 5 THEN 'add_to_cart'
    WHEN 6 THEN 'checkout' WHEN 7 THEN '_monetization.purchase' WHEN 8 THEN 'level_complete'
    ELSE '_session.stop' END"""


def _variants(con) -> None:
    """Every attribute and metric map an event can carry, keyed by a number: building a DuckDB
    MAP costs about a microsecond, so events look theirs up instead of building 10 million."""
    cats = "['" + "', '".join(_CATEGORIES) + "']"
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE g_attributes AS
        SELECT 0 AS attr_key, CAST(MAP {{}} AS MAP(VARCHAR, VARCHAR)) AS attributes
        UNION ALL SELECT 1 + i, MAP {{'method': ['password', 'google'][1 + i]}} FROM range(2) t(i)
        UNION ALL SELECT 100 + i, MAP {{'category': {cats}[1 + i // 50], 'item_id': 'item-' || (i % 50)}}
                  FROM range(200) t(i)
        UNION ALL SELECT 300 + i, MAP {{'category': {cats}[1 + i]}} FROM range(4) t(i)
        UNION ALL SELECT 400 + i, MAP {{'_product_id': 'sku-' || (i // 6), '_currency': ['USD', 'EUR'][1 + i // 3 % 2],
                                       '_store': ['AppStore', 'PlayStore', 'Web'][1 + i % 3]}} FROM range(48) t(i)
        UNION ALL SELECT 500 + i, MAP {{'level': (1 + i // 2)::VARCHAR, 'difficulty': ['easy', 'hard'][1 + i % 2]}}
                  FROM range(40) t(i)""")
    con.execute("""
        CREATE OR REPLACE TEMP TABLE g_metrics AS
        SELECT 0 AS metric_key, CAST(MAP {} AS MAP(VARCHAR, DOUBLE)) AS metrics
        UNION ALL SELECT 1 + i, MAP {'position': (1 + i)::DOUBLE} FROM range(10) t(i)
        UNION ALL SELECT 100 + i, MAP {'_item_price': [0.99, 4.99, 9.99, 19.99][1 + i // 3],
                                      '_quantity': (1 + i % 3)::DOUBLE} FROM range(12) t(i)
        UNION ALL SELECT 1000 + i, MAP {'score': (i // 121 * 10)::DOUBLE, 'time_spent': (5 + i % 121)::DOUBLE}
                  FROM range(101 * 121) t(i)""")


def _keys() -> str:
    """The attribute and metric variant of each event slot (see `_variants`)."""
    def r(what: int, slot: str = "slot") -> str:
        return f"g_rnd(sk, {slot}, {what})"

    cat = f"floor({r(60)} * 4)::INTEGER"
    view_cat = f"floor({r(60, '2')} * 4)::INTEGER"
    attr = f"""CASE WHEN slot = 1 THEN 1 + ({r(61)} < 0.4)::INTEGER
        WHEN slot BETWEEN 2 AND 4 THEN 100 + {cat} * 50 + floor({r(62)} * 50)::INTEGER
        WHEN slot IN (5, 6) THEN 300 + {view_cat}
        WHEN slot = 7 THEN 400 + floor({r(63)} * 8)::INTEGER * 6 + ({r(64)} >= 0.85)::INTEGER * 3 + store
        WHEN slot = 8 THEN 500 + floor({r(66)} * 20)::INTEGER * 2 + ({r(67)} >= 0.7)::INTEGER
        ELSE 0 END AS attr_key"""
    metric = f"""CASE WHEN slot BETWEEN 2 AND 4 THEN 1 + floor({r(70)} * 10)::INTEGER
        WHEN slot = 7 THEN 100 + floor({r(71)} * 4)::INTEGER * 3 + floor(pow({r(72)}, 3) * 3)::INTEGER
        WHEN slot = 8 THEN 1000 + floor({r(73)} * 101)::INTEGER * 121 + floor({r(74)} * 121)::INTEGER
        ELSE 0 END AS metric_key"""
    return f"{attr}, {metric}"


def _session_events(con, app_id: str) -> None:
    app = app_id.replace("'", "''")
    con.execute(f"""
        INSERT INTO events BY NAME
        SELECT '{app}' AS app_id, session_id || '-' || slot AS event_id, {_TYPES} AS event_type,
               event_time, event_time + to_milliseconds((g_rnd(sk, slot, 81) * 120000)::BIGINT) AS arrival_time,
               d.endpoint_id, d.user_id, d.channel_type, d.platform, d.platform_version, d.make, d.model,
               e.app_version, d.country, d.region, d.city, d.locale, d.timezone,
               e.session_id, s_start AS session_start,
               CASE WHEN slot = 9 THEN s_stop END AS session_stop,
               CASE WHEN slot = 9 THEN epoch_ms(s_stop) - epoch_ms(s_start) END AS session_duration,
               'com.example.shop' AS app_package, 'Example Shop' AS app_title, d.sdk_name,
               '2.0.0' AS client_sdk_version, a.attributes, m.metrics, d.endpoint_attributes
        FROM (SELECT *, s_start + to_milliseconds((epoch_ms(s_stop) - epoch_ms(s_start)) * slot // {_SLOTS - 1})
                        AS event_time, {_keys()}
              FROM g_sessions, range({_SLOTS}) t(slot)
              WHERE {_slot_exists()}) e
        JOIN g_devices d USING (u, k)
        JOIN g_attributes a USING (attr_key)
        JOIN g_metrics m USING (metric_key)""")


def _email_events(con, app_id: str, days: int, start: date) -> None:
    """Service-generated `_email.send` events to users' email endpoints: never app activity."""
    app = app_id.replace("'", "''")
    con.execute(f"""
        INSERT INTO events BY NAME
        SELECT '{app}' AS app_id, g_hex(u, 0, 90) AS event_id, '_email.send' AS event_type,
               event_time, event_time AS arrival_time, g_hex(u, 9, 11) AS endpoint_id, user_id,
               'EMAIL' AS channel_type, geo.country AS country, geo.locale AS locale, geo.tz AS timezone,
               MAP {{'campaign_id': 'welcome'}} AS attributes, CAST(MAP {{}} AS MAP(VARCHAR, DOUBLE)) AS metrics,
               MAP {{'plan': [plan]}} AS endpoint_attributes
        FROM (SELECT *, TIMESTAMP '{start.isoformat()} 15:00:00'
                        + to_milliseconds((floor(g_rnd(u, 0, 91) * {days}) * 86400000)::BIGINT) AS event_time
              FROM g_users WHERE user_id IS NOT NULL AND g_rnd(u, 0, 92) < 0.3)
        ORDER BY event_time""")


def generate(con, app_id: str, *, seed: int = 1, users: int = 500, days: int = 60,
             start: date = date(2024, 1, 1)) -> int:
    """Append a generated history to `con`'s `events` table; return how many events it added."""
    before = con.execute("SELECT count(*) FROM events").fetchone()[0]
    _macros(con, seed)
    _users(con, users, days)
    _devices(con)
    _sessions(con, days, start)
    _variants(con)
    _session_events(con, app_id)
    _email_events(con, app_id, days, start)
    for table in ("g_metrics", "g_attributes", "g_sessions", "g_device_days", "g_devices", "g_users"):
        con.execute(f"DROP TABLE {table}")
    return con.execute("SELECT count(*) FROM events").fetchone()[0] - before


def users_for(events: int) -> int:
    """About how many generated users give `events` events over 60 days (for benchmarks)."""
    return max(1, round(events / 78))


def read_events(con, app_id: str) -> list[dict]:
    """The app's events as plain dicts (maps as dicts), in event-time order."""
    cursor = con.execute("SELECT * FROM events WHERE app_id = ? ORDER BY event_time, event_id", [app_id])
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row)) for row in cursor.fetchall()]
