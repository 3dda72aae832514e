"""The database layer against real PostgreSQL: timeouts, pool limits, pre-ping, transactions, paging."""
from __future__ import annotations

import ast
import os
import time
import uuid

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import exc as sa_exc
from sqlalchemy import select, text

from portal import ROOT
from portal.db import fetch, fetch_page, page_size, pool_status, transaction
from portal.extensions import db
from portal.models import LoginEvent, StaffUser
from tests.helpers import add_route, admin_connection, count_rows


def sample(name: str) -> float:
    return REGISTRY.get_sample_value(name) or 0.0


def engine_of(app):
    """The app's one engine (requests below run outside this app context, as in production)."""
    with app.app_context():
        return db.engine


def query_route(app):
    """GET /_test/query runs one query on the app's pool."""
    def query():
        return str(db.session.execute(text("SELECT 41 + 1")).scalar())
    return add_route(app, "/_test/query", query)


# ---- timeouts --------------------------------------------------------------

def test_statement_timeout_cancels_the_query_and_answers_503(make_app):
    app = make_app(DB_STATEMENT_TIMEOUT_MS=200)

    def sleep():
        db.session.execute(text("SELECT pg_sleep(5)"))
        return "finished"
    add_route(app, "/_test/sleep", sleep)
    client = app.test_client()

    busy_before = REGISTRY.get_sample_value("kliniki_db_errors_total", {"kind": "busy"}) or 0
    started = time.monotonic()
    response = client.get("/_test/sleep")
    elapsed = time.monotonic() - started

    assert response.status_code == 503
    assert "Busy, try again" in response.get_data(as_text=True)
    assert 0.19 <= elapsed < 1.5, f"cancelled after {elapsed:.2f}s, configured 0.2s"
    assert REGISTRY.get_sample_value("kliniki_db_errors_total", {"kind": "busy"}) == busy_before + 1
    assert engine_of(app).pool.checkedout() == 0

    fragment = client.get("/_test/sleep", headers={"HX-Request": "true"})
    assert fragment.status_code == 503
    assert fragment.headers["HX-Retarget"] == "#flash"
    assert fragment.get_data(as_text=True).startswith('<p class="alert alert-error"')


def test_exhausted_pool_answers_503_within_the_pool_timeout(make_app):
    app = make_app(DB_POOL_SIZE=1, DB_MAX_OVERFLOW=0, DB_POOL_TIMEOUT_S=0.5)
    query_route(app)
    client = app.test_client()
    assert client.get("/_test/query").get_data(as_text=True) == "42"

    held = engine_of(app).connect()  # the pool's only connection, held outside any request
    held.execute(text("SELECT 1"))
    try:
        waits, timeouts = (sample("kliniki_db_pool_checkout_waits_total"),
                           sample("kliniki_db_pool_checkout_timeouts_total"))
        started = time.monotonic()
        response = client.get("/_test/query")
        elapsed = time.monotonic() - started
        assert response.status_code == 503
        assert "Busy, try again" in response.get_data(as_text=True)
        assert 0.45 <= elapsed < 0.5 + 0.7, f"answered after {elapsed:.2f}s"
        assert sample("kliniki_db_pool_checkout_waits_total") == waits + 1
        assert sample("kliniki_db_pool_checkout_timeouts_total") == timeouts + 1
        assert engine_of(app).pool.checkedout() == 1  # only the one this test holds
        figures = client.get("/metrics").get_data(as_text=True)
        assert "kliniki_db_pool_checked_out 1.0" in figures
        assert f"kliniki_db_pool_checkout_timeouts_total {timeouts + 1}" in figures
    finally:
        held.close()
    assert engine_of(app).pool.checkedout() == 0
    assert "kliniki_db_pool_checked_out 0.0" in client.get("/metrics").get_data(as_text=True)
    assert client.get("/_test/query").status_code == 200


def pool_gauges() -> tuple[float, float, float]:
    return (sample("kliniki_db_pool_connections_open"), sample("kliniki_db_pool_checked_out"),
            sample("kliniki_db_pool_overflow_in_use"))


def test_pool_gauges_follow_checkouts_returns_and_overflow(make_app):
    engine = engine_of(make_app(DB_POOL_SIZE=1, DB_MAX_OVERFLOW=1))
    first = engine.connect()
    first.execute(text("SELECT 1"))
    assert pool_gauges() == (1, 1, 0)
    second = engine.connect()  # beyond the pool size: an overflow connection
    second.execute(text("SELECT 1"))
    assert pool_gauges() == (2, 2, 1)
    second.close()  # kept idle: the pool has room for one
    assert pool_gauges() == (2, 1, 1)
    first.close()  # the pool is full again: this one is closed, the overflow is gone
    assert pool_gauges() == (1, 0, 0)


def test_exhausted_pool_gives_a_signed_in_user_503_not_500(make_app, staff):
    app = make_app(DB_POOL_SIZE=1, DB_MAX_OVERFLOW=0, DB_POOL_TIMEOUT_S=0.5)
    client = app.test_client()
    from tests.helpers import login
    assert login(client, "admin1").status_code == 302
    held = engine_of(app).connect()
    held.execute(text("SELECT 1"))
    try:
        started = time.monotonic()
        page = client.get("/admin/staff")
        elapsed = time.monotonic() - started
        fragment = client.get("/admin/staff", headers={"HX-Request": "true"})
    finally:
        held.close()
    assert engine_of(app).pool.checkedout() == 0
    assert page.status_code == 503 and fragment.status_code == 503
    assert "Busy, try again" in page.get_data(as_text=True)
    assert elapsed < 0.5 + 0.7, f"answered after {elapsed:.2f}s (the user must be loaded only once)"
    assert client.get("/admin/staff").status_code == 200


def test_session_idle_in_transaction_is_ended_by_the_server(make_app, database_url):
    app = make_app(DB_IDLE_IN_TX_TIMEOUT_MS=300)
    with app.app_context():
        conn = db.engine.connect()
        pid = conn.execute(text("SELECT pg_backend_pid()")).scalar()  # a transaction is now open
        with admin_connection(database_url, autocommit=True) as admin:
            deadline = time.monotonic() + 5
            while admin.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", [pid]).fetchone():
                assert time.monotonic() < deadline, "the server left the idle transaction open"
                time.sleep(0.1)
        with pytest.raises(sa_exc.DBAPIError):
            conn.execute(text("SELECT 1"))
        conn.invalidate()
        conn.close()
        assert pool_status()["checked_out"] == 0


def test_idle_session_outside_a_transaction_is_kept(make_app, database_url):
    app = make_app(DB_IDLE_IN_TX_TIMEOUT_MS=300)
    with app.app_context():
        with db.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
            conn.commit()
            time.sleep(0.6)
            assert conn.execute(text("SELECT 2")).scalar() == 2


def test_lock_timeout_answers_409(make_app, staff, database_url):
    app = make_app(DB_LOCK_TIMEOUT_MS=200)

    def lock(user_id):
        db.session.execute(select(StaffUser).where(StaffUser.id == user_id).with_for_update())
        return "locked"
    add_route(app, "/_test/lock/<int:user_id>", lock)
    client = app.test_client()
    with admin_connection(database_url) as holder:
        holder.execute("SELECT 1 FROM staff_user WHERE id = %s FOR UPDATE", [staff["admin"]])
        started = time.monotonic()
        response = client.get(f"/_test/lock/{staff['admin']}")
        elapsed = time.monotonic() - started
        fragment = client.get(f"/_test/lock/{staff['admin']}", headers={"HX-Request": "true"})
        holder.rollback()
    assert response.status_code == 409
    assert "Someone else got there first" in response.get_data(as_text=True)
    assert elapsed < 1.5
    assert fragment.status_code == 409 and fragment.headers["HX-Retarget"] == "#flash"
    assert client.get(f"/_test/lock/{staff['admin']}").status_code == 200


# ---- one database budget per request -------------------------------------------------

def retrying_lock_route(app, user_id: int, attempts: int = 6):
    """GET /_test/retry-lock: tries a row lock again and again in savepoints, as code that
    catches "someone else holds it" and goes on would; every attempt waits on the held lock."""
    from portal.db import LOCKED, classify_db_error

    def retry_lock():
        tried = 0
        with transaction() as session:
            for _ in range(attempts):
                tried += 1
                try:
                    with transaction():
                        session.execute(select(StaffUser.id).where(StaffUser.id == user_id).with_for_update())
                except sa_exc.DBAPIError as error:
                    if classify_db_error(error) != LOCKED:
                        raise
        return f"gave up after {tried} waits"
    return add_route(app, "/_test/retry-lock", retry_lock)


def test_many_lock_waits_in_one_request_end_at_the_request_deadline(make_app, staff, database_url):
    """Before the budget each of the six statements waited its full lock_timeout in turn."""
    app = make_app(DB_LOCK_TIMEOUT_MS=400, DB_REQUEST_DEADLINE_MS=1000)
    retrying_lock_route(app, staff["admin"])
    client = app.test_client()
    with admin_connection(database_url) as holder:
        holder.execute("LOCK TABLE staff_user IN ACCESS EXCLUSIVE MODE")  # a table lock held
        started = time.monotonic()
        response = client.get("/_test/retry-lock")
        elapsed = time.monotonic() - started
        fragment = client.get("/_test/retry-lock", headers={"HX-Request": "true"})
        holder.rollback()
    assert response.status_code == 503, response.get_data(as_text=True)[:200]
    assert "Busy, try again" in response.get_data(as_text=True)
    assert 0.9 <= elapsed < 1.0 + 0.5, f"answered after {elapsed:.2f}s; 6 x 0.4 s without a deadline"
    assert fragment.status_code == 503 and fragment.headers["HX-Retarget"] == "#flash"
    assert engine_of(app).pool.checkedout() == 0
    assert client.get("/_test/retry-lock").get_data(as_text=True) == "gave up after 6 waits"


def test_a_lock_wait_longer_than_the_request_budget_answers_409_at_the_budget(make_app, staff, database_url):
    app = make_app(DB_LOCK_TIMEOUT_MS=3000, DB_REQUEST_DEADLINE_MS=600)

    def lock_once():
        db.session.execute(select(StaffUser.id).where(StaffUser.id == staff["admin"]).with_for_update())
        return "locked"
    add_route(app, "/_test/lock-once", lock_once)
    with admin_connection(database_url) as holder:
        holder.execute("SELECT 1 FROM staff_user WHERE id = %s FOR UPDATE", [staff["admin"]])
        started = time.monotonic()
        response = app.test_client().get("/_test/lock-once")
        elapsed = time.monotonic() - started
        holder.rollback()
    assert response.status_code == 409 and "Someone else got there first" in response.get_data(as_text=True)
    assert 0.55 <= elapsed < 0.6 + 0.5, f"answered after {elapsed:.2f}s; lock_timeout alone is 3 s"


def test_slow_statements_in_one_transaction_share_one_budget(make_app):
    app = make_app(DB_STATEMENT_TIMEOUT_MS=5000, DB_REQUEST_DEADLINE_MS=1000)

    def slow_steps():
        with transaction() as session:
            for _ in range(10):
                session.execute(text("SELECT pg_sleep(0.25)"))
        return "all ten"
    add_route(app, "/_test/slow-steps", slow_steps)
    started = time.monotonic()
    response = app.test_client().get("/_test/slow-steps")
    elapsed = time.monotonic() - started
    assert response.status_code == 503
    assert 0.9 <= elapsed < 1.0 + 0.5, f"answered after {elapsed:.2f}s; 2.5 s without a deadline"


def test_the_budget_is_set_per_transaction_and_the_pooled_connection_keeps_its_settings(make_app):
    """SET LOCAL only: the next request on the same connection (or a PgBouncer client) sees the
    configured timeouts, and a request with its budget untouched sends no SET at all."""
    app = make_app(DB_POOL_SIZE=1, DB_MAX_OVERFLOW=0, DB_STATEMENT_TIMEOUT_MS=600,
                   DB_LOCK_TIMEOUT_MS=400, DB_REQUEST_DEADLINE_MS=700)

    def settings():
        row = db.session.execute(text(
            "SELECT current_setting('statement_timeout'), current_setting('lock_timeout'), "
            "pg_backend_pid()")).one()
        return "|".join(map(str, row))

    def spend_most():
        db.session.execute(text("SELECT pg_sleep(0.5)"))
        return settings()
    add_route(app, "/_test/settings", settings)
    add_route(app, "/_test/spend-most", spend_most)
    client = app.test_client()
    fresh = client.get("/_test/settings").get_data(as_text=True).split("|")
    assert fresh[:2] == ["600ms", "400ms"]
    lowered = client.get("/_test/spend-most").get_data(as_text=True).split("|")
    left = int(lowered[1].removesuffix("ms"))
    assert lowered[2] == fresh[2] and 0 < left <= 200, lowered  # same connection, lowered in this transaction
    assert client.get("/_test/settings").get_data(as_text=True).split("|") == fresh


def test_a_request_without_a_budget_waits_as_before(make_app, staff, database_url):
    """The contrast: DB_REQUEST_DEADLINE_MS=0 turns the budget off and every wait takes its own time."""
    app = make_app(DB_LOCK_TIMEOUT_MS=200, DB_REQUEST_DEADLINE_MS=0)
    retrying_lock_route(app, staff["admin"], attempts=4)
    with admin_connection(database_url) as holder:
        holder.execute("SELECT 1 FROM staff_user WHERE id = %s FOR UPDATE", [staff["admin"]])
        started = time.monotonic()
        response = app.test_client().get("/_test/retry-lock")
        elapsed = time.monotonic() - started
        holder.rollback()
    assert response.get_data(as_text=True) == "gave up after 4 waits" and elapsed >= 0.8


def _warm_and_terminate(app, database_url, connections: int = 3) -> int:
    with app.app_context():
        held = [db.engine.connect() for _ in range(connections)]
        for conn in held:
            conn.execute(text("SELECT 1"))
            conn.close()
        assert pool_status()["checked_in"] == connections
    name = app.config["DB_APPLICATION_NAME"]
    with admin_connection(database_url, autocommit=True) as admin:
        killed = admin.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = %s",
            [name]).fetchone()[0]
        deadline = time.monotonic() + 5
        while admin.execute("SELECT 1 FROM pg_stat_activity WHERE application_name = %s", [name]).fetchone():
            assert time.monotonic() < deadline
            time.sleep(0.05)
    return killed


def test_after_every_backend_is_terminated_the_next_request_succeeds(make_app, database_url):
    app = make_app(DB_APPLICATION_NAME=f"kliniki-test-{uuid.uuid4().hex[:8]}", DB_POOL_SIZE=3)
    query_route(app)
    assert _warm_and_terminate(app, database_url) == 3
    client = app.test_client()
    for _ in range(4):
        response = client.get("/_test/query")
        assert response.status_code == 200, response.get_data(as_text=True)


def test_without_pre_ping_a_terminated_backend_reaches_the_user(make_app, database_url):
    """The contrast that shows the pre-ping test above can fail."""
    app = make_app(DB_APPLICATION_NAME=f"kliniki-test-{uuid.uuid4().hex[:8]}", DB_POOL_SIZE=1,
                   DB_POOL_PRE_PING=False)
    query_route(app)
    assert _warm_and_terminate(app, database_url, connections=1) == 1
    client = app.test_client()
    assert client.get("/_test/query").status_code == 503
    assert client.get("/_test/query").status_code == 200  # the dead connection was discarded


def test_connections_carry_the_configured_settings(make_app):
    app = make_app(DB_STATEMENT_TIMEOUT_MS=1234, DB_LOCK_TIMEOUT_MS=567,
                   DB_IDLE_IN_TX_TIMEOUT_MS=8910, DB_APPLICATION_NAME="kliniki-settings")
    with app.app_context(), db.engine.connect() as conn:
        settings = dict(conn.execute(text(
            "SELECT name, setting FROM pg_settings WHERE name IN ('statement_timeout', "
            "'lock_timeout', 'idle_in_transaction_session_timeout', 'application_name', 'TimeZone')")).all())
    assert settings == {"statement_timeout": "1234", "lock_timeout": "567",
                        "idle_in_transaction_session_timeout": "8910",
                        "application_name": "kliniki-settings", "TimeZone": "UTC"}
    options = app.config["SQLALCHEMY_ENGINE_OPTIONS"]
    assert options["pool_pre_ping"] is True and options["connect_args"]["connect_timeout"] == 5


# ---- transactions ----------------------------------------------------------

def test_transaction_commits_on_success_and_rolls_back_on_error(app, database_url):
    with app.app_context():
        with transaction() as session:
            session.add(LoginEvent(username="kept", ip="127.0.0.1", success=False))
        with pytest.raises(RuntimeError):
            with transaction() as session:
                session.add(LoginEvent(username="dropped", ip="127.0.0.1", success=False))
                session.flush()
                raise RuntimeError("boom")
        db.session.remove()
    with admin_connection(database_url) as conn:
        names = [row[0] for row in conn.execute("SELECT username FROM login_event")]
    assert names == ["kept"]


def test_a_nested_transaction_is_a_savepoint_and_only_the_outer_block_commits(app, database_url):
    with app.app_context():
        with transaction() as session:
            session.add(LoginEvent(username="outer", ip="127.0.0.1", success=False))
            with transaction():
                session.add(LoginEvent(username="inner", ip="127.0.0.1", success=False))
            assert count_rows(database_url, "login_event") == 0  # nothing committed yet
            with pytest.raises(ValueError):
                with transaction():
                    session.add(LoginEvent(username="failed", ip="127.0.0.1", success=False))
                    session.flush()
                    raise ValueError("undo only this part")
        with pytest.raises(RuntimeError):
            with transaction() as session:
                with transaction():
                    session.add(LoginEvent(username="lost", ip="127.0.0.1", success=False))
                raise RuntimeError("the outer block fails: the inner work goes too")
        db.session.remove()
    with admin_connection(database_url) as conn:
        names = [row[0] for row in conn.execute("SELECT username FROM login_event ORDER BY id")]
    assert names == ["outer", "inner"]


def test_fetch_runs_in_the_unit_of_work_and_fails_like_any_statement(app, database_url):
    """The hot paths' psycopg shortcut: same transaction, named rows, SQLAlchemy's errors."""
    insert = ("INSERT INTO login_event (username, ip, success) VALUES (:name, '10.0.0.1', false) "
              "RETURNING id, username, '100%' AS sign, CAST(:name AS text)::varchar AS again")
    with app.app_context():
        with pytest.raises(RuntimeError):
            with transaction() as session:
                row, = fetch(session, insert, {"name": "undone"})
                assert (row.username, row.sign, row.again) == ("undone", "100%", "undone")
                raise RuntimeError("roll back what fetch wrote")
        with transaction() as session:
            fetch(session, insert, {"name": "kept"})
            assert fetch(session, "SELECT 1 AS one WHERE false", {}) == []
            assert fetch(session, "UPDATE login_event SET success = false WHERE false", {}) == []
        with pytest.raises(sa_exc.IntegrityError) as refused:
            with transaction() as session:
                fetch(session, "INSERT INTO login_event (id, username, ip, success) "
                               "SELECT id, 'twin', ip, success FROM login_event LIMIT 1", {})
        assert refused.value.orig.diag.constraint_name == "pk_login_event"
        db.session.remove()
    with admin_connection(database_url) as conn:
        names = [row[0] for row in conn.execute("SELECT username FROM login_event ORDER BY id")]
    assert names == ["kept"]


# ---- bounded paging --------------------------------------------------------

@pytest.mark.parametrize("raw, expected", [
    ("100000", 100), ("100", 100), ("7", 7), ("0", 1), ("-5", 1), ("", 25), (None, 25),
    ("abc", 25), ("1e9", 25), (" 12 ", 12), ("9" * 400, 100),
])
def test_page_size_is_clamped(raw, expected):
    assert page_size(raw) == expected


def test_fetch_page_never_returns_more_than_100_rows(app):
    with app.app_context():
        db.session.execute(text(
            "INSERT INTO login_event (username, ip, success) "
            "SELECT 'u' || g, '10.0.0.1', false FROM generate_series(1, 150) g"))
        db.session.commit()
        stmt = select(LoginEvent).order_by(LoginEvent.id)
        page = fetch_page(db.session, stmt, 100000, cursor_of=lambda event: event.id)
        assert len(page.items) == 100 and page.has_more and page.next_cursor == page.items[-1].id
        rest = fetch_page(db.session, stmt.where(LoginEvent.id > page.next_cursor), 100,
                          cursor_of=lambda event: event.id)
        assert len(rest.items) == 50 and not rest.has_more


def test_staff_page_with_a_huge_limit_shows_at_most_100(login_as, app, database_url):
    client = login_as("admin")
    with admin_connection(database_url) as conn:
        conn.execute("INSERT INTO staff_user (username, full_name, role, password_hash) "
                     "SELECT 'bulk' || lpad(g::text, 3, '0'), 'Bulk ' || g, 'nurse', 'x' "
                     "FROM generate_series(1, 130) g")
    html = client.get("/admin/staff?limit=100000").get_data(as_text=True)
    assert html.count("<tr class=") == 100
    assert "Next staff" in html
    assert count_rows(database_url, "staff_user") == 134


# ---- one engine ------------------------------------------------------------

ENGINE_BUILDERS = {"create_engine", "create_async_engine", "engine_from_config", "sessionmaker",
                   "async_sessionmaker", "scoped_session", "create_pool_from_url"}
RAW_CONNECTION_MODULES = {"psycopg", "psycopg2", "asyncpg", "pg8000"}


def forbidden_calls(source: str) -> list[str]:
    """Calls that open an engine, a session factory or a raw connection, found in `source`."""
    found = []
    tree = ast.parse(source)
    imported_connect = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in RAW_CONNECTION_MODULES:
            imported_connect |= {alias.asname or alias.name for alias in node.names
                                 if alias.name in {"connect", "Connection", "AsyncConnection"}}
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        if name in ENGINE_BUILDERS or name == "SQLAlchemy":
            found.append(name)
        elif name in imported_connect:
            found.append(name)
        elif name == "connect" and isinstance(func, ast.Attribute):
            owner = ast.unparse(func.value)
            if owner.split(".")[0] in RAW_CONNECTION_MODULES:
                found.append(f"{owner}.connect")
    return found


def test_the_scanner_finds_what_it_must():
    source = ("import psycopg\nfrom sqlalchemy import create_engine\nfrom psycopg import connect as c\n"
              "e = create_engine('x')\nS = sessionmaker()\npsycopg.connect('x')\n"
              "psycopg.Connection.connect('x')\nc('x')\nSQLAlchemy()\n")
    assert sorted(forbidden_calls(source)) == sorted(
        ["create_engine", "sessionmaker", "psycopg.connect", "psycopg.Connection.connect", "c",
         "SQLAlchemy"])
    assert forbidden_calls("db.engine.connect()\nsession.connection()\n") == []


def test_only_portal_db_builds_engines_and_only_extensions_builds_sqlalchemy():
    offenders = {}
    sqlalchemy_instances = 0
    for relative, source in portal_sources():
        if relative == os.path.join("portal", "db.py"):
            continue
        calls = forbidden_calls(source)
        if relative == os.path.join("portal", "extensions.py"):
            sqlalchemy_instances += calls.count("SQLAlchemy")
            calls = [call for call in calls if call != "SQLAlchemy"]
        if calls:
            offenders[relative] = calls
    assert offenders == {}, f"only portal/db.py may open engines or connections: {offenders}"
    assert sqlalchemy_instances == 1


def portal_sources():
    """(relative path, source) of every Python module in portal/."""
    for folder, _, files in os.walk(os.path.join(ROOT, "portal")):
        for name in sorted(files):
            if name.endswith(".py"):
                path = os.path.join(folder, name)
                with open(path, encoding="utf-8") as handle:
                    yield os.path.relpath(path, ROOT), handle.read()


def test_only_transaction_commits():
    """Service code commits through transaction() alone, so no multi-step change half-commits."""
    commits = {path: [node.lineno for node in ast.walk(ast.parse(source))
                      if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                      and node.func.attr == "commit"]
               for path, source in portal_sources() if path != os.path.join("portal", "db.py")}
    assert {path: lines for path, lines in commits.items() if lines} == {}


def test_time_cursor_round_trips_and_junk_starts_from_the_top():
    from datetime import datetime, timezone

    from portal.db import parse_time_cursor, time_cursor

    at = datetime(2026, 11, 25, 5, 30, tzinfo=timezone.utc)
    assert parse_time_cursor(time_cursor(at, 42)) == (at, 42)
    assert parse_time_cursor("2026-11-25T05:30:00|7") == (at, 7)  # naive is read as UTC
    for junk in (None, "", "x|1", "2026-11-25|abc", "2026-11-25|0", f"2026-11-25|{2**63}", "9" * 500):
        assert parse_time_cursor(junk) is None, junk
