"""Fixtures: a throwaway PostgreSQL database built by the migrations, apps, clients, staff."""
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

import psycopg
import pytest
from flask_migrate import upgrade
from sqlalchemy import text
from werkzeug.serving import make_server

from portal import ROOT, create_app
from portal.auth.passwords import hash_password
from portal.extensions import db
from portal.models import StaffUser

PASSWORD = "correct-horse-battery"
ROLES = ("admin", "reception", "doctor", "nurse")


INSTANCE = os.path.join(ROOT, "instance")


def _server_url() -> str:
    """A libpq URL of the server to test on: TEST_DATABASE_URL, else the embedded one."""
    if os.environ.get("TEST_DATABASE_URL"):
        return os.environ["TEST_DATABASE_URL"]
    from portal.embedded import embedded_server
    return embedded_server(INSTANCE).get_uri("postgres")


def _with_database(url: str, name: str) -> str:
    """The same server URL pointing at database `name`."""
    base, _, query = url.partition("?")
    base = re.sub(r"/[^/]*$", "", base.replace("postgresql+psycopg://", "postgresql://"))
    return f"{base}/{name}" + (f"?{query}" if query else "")


@pytest.fixture(scope="session")
def database_url():
    """Create a fresh database for this test run and drop it afterwards."""
    from portal.embedded import server_running, stop_server
    started_here = not os.environ.get("TEST_DATABASE_URL") and not server_running(INSTANCE)
    server = _server_url()
    name = f"kliniki_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(_with_database(server, "postgres"), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield _with_database(server, name)
    with psycopg.connect(_with_database(server, "postgres"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        in_use = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' "
                              "AND pid <> pg_backend_pid()").fetchone()[0]
    if started_here and not in_use:  # leave no idle server behind that this run started (fresh CI clone)
        stop_server(INSTANCE)


TEST_CONFIG = {
    "TESTING": True,
    "SECRET_KEY": "test-secret",
    "DB_POOL_SIZE": 5,
    "DB_MAX_OVERFLOW": 2,
    "DB_POOL_TIMEOUT_S": 2,
}


@pytest.fixture(scope="session")
def app(database_url):
    """The app on the test database, schema built by the migrations (not create_all)."""
    app = create_app({**TEST_CONFIG, "SQLALCHEMY_DATABASE_URI": database_url})
    with app.app_context():
        upgrade()
    yield app
    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def make_app(database_url):
    """Build another app on the same database with different settings (pool, timeouts)."""
    made = []

    def build(**overrides):
        extra = create_app({**TEST_CONFIG, "SQLALCHEMY_DATABASE_URI": database_url, **overrides})
        made.append(extra)
        return extra

    yield build
    for extra in made:
        with extra.app_context():
            db.engine.dispose()


@pytest.fixture(autouse=True)
def clean_tables(app):
    """Empty every table after each test, so tests do not see each other's rows."""
    yield
    with app.app_context():
        db.session.remove()
        tables = ", ".join(f'"{t.name}"' for t in db.metadata.sorted_tables)
        db.session.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        db.session.commit()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def staff(app):
    """One active staff member per role, all with PASSWORD; returns {role: user id}."""
    password_hash = hash_password(PASSWORD)
    with app.app_context():
        users = [StaffUser(username=f"{role}1", full_name=f"Test {role.title()}", role=role,
                           password_hash=password_hash) for role in ROLES]
        db.session.add_all(users)
        db.session.commit()
        return {user.role: user.id for user in users}


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


@pytest.fixture
def login_as(client, staff):
    """Sign the client in as a role; returns the client."""

    def sign_in(role: str):
        response = login(client, f"{role}1")
        assert response.status_code == 302, response.get_data(as_text=True)
        return client

    return sign_in


def add_route(app, rule: str, view, methods=("GET",), access=None):
    """Register a test-only view on an app that has not served a request yet (public by default)."""
    from portal.auth.access import public
    app.add_url_rule(rule, view.__name__, (access or public)(view), methods=list(methods))
    return view


def admin_connection(database_url: str, **kwargs):
    """A plain psycopg connection from the test itself (locks, pg_stat_activity, row counts)."""
    return psycopg.connect(database_url, **kwargs)


def count_rows(database_url: str, table: str) -> int:
    """Rows in a table, counted on a connection of its own."""
    with admin_connection(database_url) as conn:
        return conn.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0]


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


@pytest.fixture
def live_server(app):
    """The test app served over real HTTP; yields its base URL."""
    with running(app) as url:
        yield url
