"""Test helpers that are not fixtures: the test server and settings, signing in, CSRF, real HTTP,
counting rows, running a service in an app context, and the schedule's invariants.

Test modules import these from here, never from a conftest.py or from another test module.
"""
from __future__ import annotations

import http.cookiejar
import os
import re
import threading
import urllib.error
import urllib.parse
import urllib.request
import uuid
from contextlib import contextmanager
from types import SimpleNamespace

import psycopg
import pytest
from sqlalchemy import inspect as sa_inspect
from sqlalchemy import text
from werkzeug.serving import make_server

from portal import ROOT
from portal.extensions import db
from tests.factories import PASSWORD, ROLES

__all__ = ["AUDIT_TRUNCATE_TRIGGER", "INSTANCE", "PASSWORD", "ROLES", "TEST_CONFIG", "HttpSession", "add_route",
           "admin_connection", "assert_invariants", "call", "count", "count_rows", "csrf_from", "dummy_url", "login",
           "race", "run",
           "running", "server_url", "with_database"]

INSTANCE = os.path.join(ROOT, "instance")
AUDIT_TRUNCATE_TRIGGER = "audit_event_never_truncated"  # the tests' cleanup turns it off in its transaction

TEST_CONFIG = {
    "TESTING": True,
    "SECRET_KEY": "test-secret",
    "DB_POOL_SIZE": 5,
    "DB_MAX_OVERFLOW": 2,
    "DB_POOL_TIMEOUT_S": 2,
    "DAY_GRID_FRESH_S": 0,  # every poll reads the day (tests/schedule/test_views.py checks the window)
    "WAITING_ROOM_FRESH_S": 0,  # every poll reads the room (tests/records/test_waiting_room.py checks the window)
}


# ---- the test server -----------------------------------------------------------------------

def server_url() -> str:
    """A libpq URL of the server to test on: TEST_DATABASE_URL, else the embedded one (started if need be)."""
    if os.environ.get("TEST_DATABASE_URL"):
        return os.environ["TEST_DATABASE_URL"]
    from portal.embedded import embedded_server
    return embedded_server(INSTANCE).get_uri("postgres")


def with_database(url: str, name: str) -> str:
    """The same server URL pointing at database `name`."""
    base, _, query = url.partition("?")
    base = re.sub(r"/[^/]*$", "", base.replace("postgresql+psycopg://", "postgresql://"))
    return f"{base}/{name}" + (f"?{query}" if query else "")


def admin_connection(database_url: str, **kwargs):
    """A plain psycopg connection from the test itself (locks, pg_stat_activity, row counts)."""
    return psycopg.connect(database_url, **kwargs)


def count_rows(database_url: str, table: str) -> int:
    """Rows in a table, counted on a connection of its own."""
    with admin_connection(database_url) as conn:
        return conn.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0]


def run(app, fn, *args, **kw):
    """Run a service in its own app context; an ORM result comes back as a plain snapshot."""
    with app.app_context():
        try:
            result = fn(*args, **kw)
            if hasattr(result, "__table__"):
                result = SimpleNamespace(**{c.key: getattr(result, c.key)
                                            for c in sa_inspect(result).mapper.column_attrs})
            return result
        finally:
            db.session.remove()


call = run


def count(app, sql: str, **params):
    """The one value a SQL query returns, read in an app context of its own."""
    with app.app_context():
        value = db.session.scalar(text(sql), params)
        db.session.remove()
        return value


# ---- the schedule's invariants -------------------------------------------------------------

INVARIANTS = {
    "doctor with overlapping active appointments": """
        SELECT count(*) FROM appointment a JOIN appointment b ON a.doctor_id = b.doctor_id AND a.id < b.id
        WHERE a.status <> 'cancelled' AND b.status <> 'cancelled'
          AND a.starts_at < b.ends_at AND b.starts_at < a.ends_at""",
    "patient with overlapping active appointments": """
        SELECT count(*) FROM appointment a JOIN appointment b ON a.patient_id = b.patient_id AND a.id < b.id
        WHERE a.status <> 'cancelled' AND b.status <> 'cancelled'
          AND a.starts_at < b.ends_at AND b.starts_at < a.ends_at""",
    "booked slot not held by an active appointment of its doctor and time": """
        SELECT count(*) FROM slot s LEFT JOIN appointment a ON a.id = s.appointment_id
        WHERE s.status = 'booked' AND (a.id IS NULL OR a.status = 'cancelled' OR a.doctor_id <> s.doctor_id
              OR s.starts_at < a.starts_at OR s.ends_at > a.ends_at)""",
    "slot pointing at an appointment but not booked": """
        SELECT count(*) FROM slot WHERE appointment_id IS NOT NULL AND status <> 'booked'""",
    "active appointment whose slots do not cover it exactly": """
        SELECT count(*) FROM appointment a
        LEFT JOIN LATERAL (SELECT min(s.starts_at) AS first, max(s.ends_at) AS last,
                                  sum(s.ends_at - s.starts_at) AS total
                           FROM slot s WHERE s.appointment_id = a.id) c ON true
        WHERE a.status <> 'cancelled'
          AND (c.first IS DISTINCT FROM a.starts_at OR c.last IS DISTINCT FROM a.ends_at
               OR c.total IS DISTINCT FROM a.ends_at - a.starts_at)""",
    "cancelled appointment still holding slots": """
        SELECT count(*) FROM slot s JOIN appointment a ON a.id = s.appointment_id WHERE a.status = 'cancelled'""",
}


def assert_invariants(app) -> None:
    """No double booking of doctor or patient; slots and appointments agree both ways."""
    with app.app_context():
        broken = {name: db.session.scalar(text(sql)) for name, sql in INVARIANTS.items()}
        db.session.remove()
    assert {name: n for name, n in broken.items() if n} == {}


_QUARTER = "date_bin('15 minutes', {row}.created_at, TIMESTAMPTZ '2000-01-01 00:00+00')"
# Each summary the money triggers keep (summed over its shards), next to a recount of the rows it summarises.
MONEY_SUMMARIES = {
    "by method": (f"""
        SELECT {_QUARTER.format(row="p")}, p.method, 'payment', count(*), sum(p.amount_cents)::bigint
        FROM payment p GROUP BY 1, 2, 3
        UNION ALL
        SELECT {_QUARTER.format(row="r")}, r.method, r.kind, count(*), sum(r.amount_cents)::bigint
        FROM payment_reversal r GROUP BY 1, 2, 3""",
        "SELECT quarter, method, kind, sum(moves)::bigint, sum(cents)::bigint FROM money_quarter_total "
        "GROUP BY 1, 2, 3"),
    "by doctor": (f"""
        SELECT {_QUARTER.format(row="p")}, coalesce(a.doctor_id, 0), count(*), sum(p.amount_cents)::bigint
        FROM payment p JOIN bill b ON b.id = p.bill_id LEFT JOIN appointment a ON a.id = b.appointment_id
        GROUP BY 1, 2""",
        "SELECT quarter, doctor_id, sum(payments)::bigint, sum(cents)::bigint FROM money_doctor_quarter_total "
        "GROUP BY 1, 2"),
    "by service": (f"""
        SELECT {_QUARTER.format(row="l")}, l.code, sum(l.quantity)::bigint, sum(l.line_cents)::bigint
        FROM bill_line l WHERE NOT EXISTS (SELECT 1 FROM bill_line_void v WHERE v.bill_line_id = l.id)
        GROUP BY 1, 2""",
        "SELECT quarter, code, sum(quantity)::bigint, sum(cents)::bigint FROM charge_quarter_total GROUP BY 1, 2 "
        "HAVING sum(quantity) <> 0 OR sum(cents) <> 0"),
    "by service and day": ("""
        SELECT day, service_id, sum(quantity)::bigint, sum(charged)::bigint, sum(discounted)::bigint FROM (
            SELECT (l.created_at AT TIME ZONE 'UTC')::date AS day, l.service_id, l.quantity, l.line_cents AS charged,
                   0 AS discounted
            FROM bill_line l JOIN bill b ON b.id = l.bill_id WHERE b.status <> 'void'
            UNION ALL
            SELECT (d.created_at AT TIME ZONE 'UTC')::date, coalesce(l.service_id, 0), 0, 0, d.amount_cents
            FROM bill_discount d JOIN bill b ON b.id = d.bill_id LEFT JOIN bill_line l ON l.id = d.bill_line_id
            WHERE b.status <> 'void'
            UNION ALL
            SELECT (v.created_at AT TIME ZONE 'UTC')::date, l.service_id, -l.quantity, -l.line_cents,
                   -(SELECT coalesce(sum(x.amount_cents), 0) FROM bill_discount x WHERE x.bill_line_id = l.id)
            FROM bill_line_void v JOIN bill_line l ON l.id = v.bill_line_id JOIN bill b ON b.id = v.bill_id
            WHERE b.status <> 'void') m
        GROUP BY 1, 2 HAVING sum(quantity) <> 0 OR sum(charged) <> 0 OR sum(discounted) <> 0""",
        "SELECT day, service_id, sum(quantity)::bigint, sum(charged_cents)::bigint, sum(discount_cents)::bigint "
        "FROM service_day_total GROUP BY 1, 2 "
        "HAVING sum(quantity) <> 0 OR sum(charged_cents) <> 0 OR sum(discount_cents) <> 0"),
    "outstanding": ("""
        SELECT count(*), coalesce(sum(balance_cents), 0)::bigint FROM bill
        WHERE status IN ('open', 'partly_paid') AND balance_cents > 0""",
        "SELECT coalesce(sum(bills), 0)::bigint, coalesce(sum(cents), 0)::bigint FROM outstanding_total"),
}


def money_summaries_off(app) -> dict[str, tuple[set, set]]:
    """The money summaries that differ from a recount: name -> (recounted rows, kept rows) not in the other."""
    with app.app_context():
        off = {}
        for name, (recount_sql, kept_sql) in MONEY_SUMMARIES.items():
            recount = {tuple(row) for row in db.session.execute(text(recount_sql))}
            kept = {tuple(row) for row in db.session.execute(text(kept_sql))}
            if recount != kept:
                off[name] = (recount - kept, kept - recount)
        db.session.remove()
    return off


# ---- signing in and CSRF -------------------------------------------------------------------

def csrf_from(html: str) -> str:
    """The CSRF token in a rendered page."""
    match = re.search(r'name="csrf_token" value="([^"]+)"', html) or \
        re.search(r'"X-CSRFToken": "([^"]+)"', html)
    assert match, "no CSRF token on the page"
    return match.group(1)


def login(client, username: str, password: str = PASSWORD, **request_options):
    """Sign in through the real login form (CSRF included); options go to both requests."""
    page = client.get("/login", **request_options)
    token = csrf_from(page.get_data(as_text=True))
    return client.post("/login", data={"username": username, "password": password,
                                       "csrf_token": token}, **request_options)


# ---- routes --------------------------------------------------------------------------------

def add_route(app, rule: str, view, methods=("GET",), access=None):
    """Register a test-only view on an app that has not served a request yet (public by default)."""
    from portal.auth.access import public
    app.add_url_rule(rule, view.__name__, (access or public)(view), methods=list(methods))
    return view


CANDIDATE_VALUES = ["987654", "2030-01-15", str(uuid.UUID(int=987654)), "1.5", "dummy"]
SKIPPED_METHODS = {"HEAD", "OPTIONS"}


def dummy_url(app, rule) -> str:
    """A URL for `rule` with dummy values that the rule's converters accept and that routes back to it."""
    from flask import url_for
    from werkzeug.exceptions import HTTPException
    from werkzeug.routing import ValidationError

    values = {}
    for argument in sorted(rule.arguments):
        converter = rule._converters[argument]
        candidates = list(getattr(converter, "items", ())) + CANDIDATE_VALUES
        for candidate in candidates:
            try:
                converter.to_python(candidate)
            except (ValidationError, ValueError, TypeError):
                continue
            if converter.regex and not re.fullmatch(converter.regex, candidate):
                continue
            values[argument] = candidate
            break
        else:
            pytest.fail(f"no dummy value fits <{argument}> of {rule.rule}")
    with app.test_request_context():
        url = url_for(rule.endpoint, **values)
    adapter = app.url_map.bind("localhost")
    method = sorted(rule.methods - SKIPPED_METHODS)[0]
    try:
        endpoint, _ = adapter.match(url.split("?")[0], method=method)
    except HTTPException as error:
        pytest.fail(f"{url} does not route back to {rule.endpoint}: {error}")
    assert endpoint == rule.endpoint, f"{url} routes to {endpoint}, not {rule.endpoint}"
    return url


# ---- real HTTP -----------------------------------------------------------------------------

class HttpSession:
    """A tiny real-HTTP client with its own cookies (standard library only); no redirects followed."""

    class _NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    def __init__(self):
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()), self._NoRedirect())

    def request(self, url: str, data: dict | None = None, headers: dict | None = None,
                timeout: float = 30):
        """Return (status, body text, headers) for a GET, or a form POST when data is given."""
        body = urllib.parse.urlencode(data).encode() if data is not None else None
        req = urllib.request.Request(url, data=body, headers=headers or {})
        try:
            with self.opener.open(req, timeout=timeout) as response:
                return response.status, response.read().decode(), response.headers
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode(), error.headers


@contextmanager
def running(app):
    """Serve `app` over real HTTP on a free loopback port, in a thread."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(5)


def race(app, calls, connect_first: bool = True, timeout_s: float = 120):
    """Run each call in its own thread and app context (own session and connection), all at once."""
    barrier = threading.Barrier(len(calls))
    outcomes: list = [None] * len(calls)

    def run_one(index, call):
        with app.app_context():
            try:
                if connect_first:  # else the pool hands out connections as they free up
                    db.session.connection()
                barrier.wait()
                outcomes[index] = call()
            except Exception as error:  # collected and asserted on by the test
                outcomes[index] = error
            finally:
                db.session.remove()

    threads = [threading.Thread(target=run_one, args=(i, c)) for i, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout_s)
    return outcomes
