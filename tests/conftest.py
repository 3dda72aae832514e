"""Fixtures: a throwaway PostgreSQL database built by the migrations, apps, clients, staff, doctors,
patients, slots and the clock. The rows come from tests/factories.py, other helpers from tests/helpers.py.

A test that asks for no database fixture (directly or through another fixture) neither starts
PostgreSQL nor empties its tables.
"""
from __future__ import annotations

import os
import uuid

import psycopg
import pytest
from flask_migrate import upgrade
from sqlalchemy import text

from portal import clinic_time, create_app
from portal.extensions import db
from tests import factories, servers
from tests.helpers import (
    AUDIT_TRUNCATE_TRIGGER,
    INSTANCE,
    PASSWORD,
    ROLES,
    TEST_CONFIG,
    HttpSession,
    add_route,
    admin_connection,
    count_rows,
    csrf_from,
    login,
    running,
    server_url,
    with_database,
)

# Older test modules import these from here; new code imports them from tests.helpers / tests.factories.
__all__ = ["PASSWORD", "ROLES", "TEST_CONFIG", "HttpSession", "add_route", "admin_connection", "count_rows",
           "csrf_from", "login", "running", "_server_url", "_with_database"]
_server_url, _with_database = server_url, with_database


# ---- the database ------------------------------------------------------------------------

@pytest.fixture(scope="session")
def postgres_server():
    """The server's libpq URL (TEST_DATABASE_URL, else the embedded server, started here if it was not up).

    An embedded server this run started is stopped at the end, unless something else still uses it.
    """
    from portal.embedded import server_running, stop_server
    started_here = not os.environ.get("TEST_DATABASE_URL") and not server_running(INSTANCE)
    server = server_url()
    yield server
    if started_here:
        with psycopg.connect(with_database(server, "postgres"), autocommit=True) as conn:
            in_use = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' "
                                  "AND pid <> pg_backend_pid()").fetchone()[0]
        if not in_use:  # leave no idle server behind that this run started (fresh CI clone)
            stop_server(INSTANCE)


@pytest.fixture(scope="session")
def database_url(postgres_server):
    """Create a fresh database for this test run and drop it afterwards."""
    name = f"kliniki_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(with_database(postgres_server, "postgres"), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield with_database(postgres_server, name)
    with psycopg.connect(with_database(postgres_server, "postgres"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def pgbouncer_url(database_url):
    """The test database through a PgBouncer in transaction mode that this run starts."""
    if servers.pgbouncer_binary() is None:
        pytest.skip("PgBouncer is not installed (make test installs it: .ci/ensure-pgbouncer)")
    with servers.pgbouncer(database_url, servers.database_name(database_url)) as url:
        yield url


@pytest.fixture(scope="session")
def app_settings(request, database_url):
    """How the apps reach the test database: directly, or through PgBouncer with KLINIKI_TEST_POOLER=pgbouncer."""
    if os.environ.get("KLINIKI_TEST_POOLER") == "pgbouncer":
        return {"SQLALCHEMY_DATABASE_URI": request.getfixturevalue("pgbouncer_url"), "DATABASE_POOLER": "pgbouncer"}
    return {"SQLALCHEMY_DATABASE_URI": database_url}


@pytest.fixture(scope="session")
def app(database_url, app_settings):
    """The app on the test database, schema built by the migrations (not create_all)."""
    app = create_app({**TEST_CONFIG, **app_settings})
    with app.app_context():
        upgrade()
    yield app
    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def make_app(database_url, app_settings):
    """Build another app on the same database with different settings (pool, timeouts)."""
    made = []

    def build(**overrides):
        extra = create_app({**TEST_CONFIG, **app_settings, **overrides})
        made.append(extra)
        return extra

    yield build
    for extra in made:
        with extra.app_context():
            db.engine.dispose()


def _uses_database(request) -> bool:
    """True when the test asked for the database, directly, through a fixture, or by getfixturevalue."""
    return "database_url" in request.fixturenames


def _truncate_statements() -> list[str]:
    """Empty every table in one transaction; the audit trail refuses TRUNCATE, so its trigger is off meanwhile."""
    tables = ", ".join(f'"{t.name}"' for t in db.metadata.sorted_tables)
    return [f"ALTER TABLE audit_event DISABLE TRIGGER {AUDIT_TRUNCATE_TRIGGER}",
            f"TRUNCATE {tables} RESTART IDENTITY CASCADE",
            f"ALTER TABLE audit_event ENABLE TRIGGER {AUDIT_TRUNCATE_TRIGGER}"]


@pytest.fixture(autouse=True)
def real_clock_after():
    """A test that leaves the clock fixed fails here, instead of every later test seeing its day."""
    yield
    if clinic_time.is_fixed():
        clinic_time.set_clock(None)
        pytest.fail("the test left clinic_time's clock fixed")


@pytest.fixture(autouse=True)
def clean_tables(request):
    """Empty every table after each test that used the database, so tests do not see each other's rows."""
    app = request.getfixturevalue("app") if _uses_database(request) else None
    yield
    if app is not None:
        with app.app_context():
            db.session.remove()
            for statement in _truncate_statements():
                db.session.execute(text(statement))
            db.session.commit()
    elif _uses_database(request):  # asked for later, by getfixturevalue: empty it without an app
        with admin_connection(request.getfixturevalue("database_url")) as conn:
            for statement in _truncate_statements():
                conn.execute(statement)


# ---- apps, clients, people ---------------------------------------------------------------

@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def staff(app):
    """One active staff member per role, all with PASSWORD; returns {role: user id}."""
    return factories.make_staff_per_role(app)


@pytest.fixture
def login_as(client, staff):
    """Sign the client in as a role; returns the client."""

    def sign_in(role: str):
        response = login(client, f"{role}1")
        assert response.status_code == 302, response.get_data(as_text=True)
        return client

    return sign_in


@pytest.fixture
def doctors(app, staff):
    """Two active doctors; the first is linked to the doctor1 login. Returns their ids."""
    return factories.make_test_doctors(app, staff["doctor"])


@pytest.fixture
def patients(app):
    """Forty patients, Pat0 Tester .. Pat39 Tester; returns their ids."""
    return factories.make_patients(app, 40)


@pytest.fixture
def slots(app, doctors):
    """Tomorrow's 16 slots per doctor: {doctor_id: [slot ids in order]}."""
    return {doctor_id: factories.make_slots(app, doctor_id) for doctor_id in doctors}


@pytest.fixture
def register(app):
    """Register a patient from form values (valid unless overridden); returns (id, file number)."""

    def make(reason: str = "", **overrides):
        return factories.register_patient(app, reason, **overrides)

    return make


@pytest.fixture
def clock():
    """The settable clock, fixed at the real "now" until the test sets it; back to the real clock after."""
    fixed = factories.Clock()
    fixed.set(fixed.now())
    yield fixed
    fixed.reset()


@pytest.fixture
def live_server(app):
    """The test app served over real HTTP; yields its base URL."""
    with running(app) as url:
        yield url
