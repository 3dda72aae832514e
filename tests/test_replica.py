"""Reports from a read replica: a streaming standby of the test server (pg_basebackup -R with the embedded
server's own binaries). Dashboards and the payments day report read from it; clinical screens and writes
use the primary; when it lags or is down the page says so and the figures come from the primary."""
from __future__ import annotations

import csv
import io
import time

import psycopg
import pytest
from sqlalchemy import text

from portal.db import dispose_replica, report_session, report_source
from portal.extensions import db
from tests import factories, servers
from tests.helpers import login

pytestmark = pytest.mark.replica


@pytest.fixture(scope="module")
def standby(app, postgres_server):
    """One standby for the module (the test database and its schema exist before the copy)."""
    with servers.standby(postgres_server) as replica:
        yield replica


@pytest.fixture
def replica_url(standby, database_url):
    return standby.url(servers.database_name(database_url))


@pytest.fixture
def reporting_app(make_app, replica_url):
    """An app whose reports read the standby (retrying it at once after a failure, for the test)."""
    made = []

    def build(**overrides):
        made.append(make_app(DATABASE_REPLICA_URL=replica_url, DB_REPLICA_RETRY_S=0, **overrides))
        return made[-1]

    yield build
    for app in made:
        dispose_replica(app)


def _replay(replica_url: str, sql: str):
    with psycopg.connect(replica_url, autocommit=True) as conn:
        return conn.execute(sql).fetchone()


def _caught_up(replica_url: str, primary_url: str) -> None:
    """Wait until the standby has replayed everything the primary has written."""
    with psycopg.connect(primary_url, autocommit=True) as conn:
        target = conn.execute("SELECT pg_current_wal_lsn()").fetchone()[0]
    deadline = time.monotonic() + 30
    while _replay(replica_url, f"SELECT pg_last_wal_replay_lsn() >= '{target}'")[0] is not True:
        assert time.monotonic() < deadline, "the standby did not catch up"
        time.sleep(0.05)


def _received_unreplayed(replica_url: str) -> None:
    deadline = time.monotonic() + 30
    while not _replay(replica_url, "SELECT pg_last_wal_receive_lsn() > pg_last_wal_replay_lsn()")[0]:
        assert time.monotonic() < deadline, "the standby received nothing new"
        time.sleep(0.05)


def _new_patients(client) -> int:
    response = client.get("/dashboard/new-patients.csv")
    assert response.status_code == 200
    rows = {row[0]: row[1] for row in csv.reader(io.StringIO(response.get_data(as_text=True)))}
    return int(rows["total"])


def _signed_in(app, username: str):
    client = app.test_client()
    assert login(client, username).status_code == 302
    return client


def test_reports_read_the_standby_and_everything_else_the_primary(reporting_app, staff, replica_url, database_url):
    app = reporting_app()
    with app.test_request_context():
        assert report_session().scalar(text("SELECT pg_is_in_recovery()")) is True
        assert report_source().replica
        assert db.session.scalar(text("SELECT pg_is_in_recovery()")) is False
    _caught_up(replica_url, database_url)
    admin = _signed_in(app, "admin1")
    page = admin.get("/dashboard/")
    assert page.status_code == 200
    assert "Figures as of " in page.get_data(as_text=True)
    desk = _signed_in(app, "reception1")
    report = desk.get("/payments/report")
    assert report.status_code == 200 and "Figures as of " in report.get_data(as_text=True)
    patients = desk.get("/patients/")
    assert patients.status_code == 200 and "Figures as of" not in patients.get_data(as_text=True)


def test_a_lagging_standby_is_shown_as_behind_and_past_the_limit_the_primary_answers(
        reporting_app, staff, replica_url, database_url):
    app, strict = reporting_app(), reporting_app(DB_REPLICA_MAX_LAG_S=0.5)
    admin, strict_admin, desk = _signed_in(app, "admin1"), _signed_in(strict, "admin1"), _signed_in(app, "reception1")
    factories.register_patient(app, first_name="Before", last_name="Pause")
    _caught_up(replica_url, database_url)
    assert _new_patients(admin) == 1
    _replay(replica_url, "SELECT pg_wal_replay_pause()")
    try:
        factories.register_patient(app, first_name="During", last_name="Pause", date_of_birth="1991-02-03",
                                   phone="0722 000 111")
        _received_unreplayed(replica_url)
        time.sleep(1.1)
        # The clinical screen reads the primary: the new patient is there at once.
        found = desk.get("/patients/?q=During")
        assert found.status_code == 200 and "During" in found.get_data(as_text=True)
        # The report reads the standby, which has not replayed the registration, and says how far behind it is.
        assert _new_patients(admin) == 1
        page = admin.get("/dashboard/").get_data(as_text=True)
        assert "s behind the main database" in page and "Figures as of" in page
        # Further behind than the limit: the primary's figures, and the page says why.
        assert _new_patients(strict_admin) == 2
        page = strict_admin.get("/dashboard/")
        assert page.status_code == 200
        assert "The reporting copy is" in page.get_data(as_text=True)
        assert "behind: these figures were read from the main database" in page.get_data(as_text=True)
    finally:
        _replay(replica_url, "SELECT pg_wal_replay_resume()")
    _caught_up(replica_url, database_url)
    assert _new_patients(admin) == 2


def test_a_standby_that_is_down_sends_reports_to_the_primary_and_breaks_nothing(
        reporting_app, staff, standby, replica_url):
    app = reporting_app()
    admin, desk = _signed_in(app, "admin1"), _signed_in(app, "reception1")
    assert admin.get("/dashboard/").status_code == 200  # a pooled connection to the standby now exists
    standby.stop()
    try:
        factories.register_patient(app, first_name="While", last_name="Down", phone="0733 000 222")
        assert _new_patients(admin) == 1
        page = admin.get("/dashboard/")
        assert page.status_code == 200
        assert "The reporting copy is unavailable: these figures were read from the main database." \
            in page.get_data(as_text=True)
        report = desk.get("/payments/report")
        assert report.status_code == 200 and "unavailable" in report.get_data(as_text=True)
        with app.test_request_context():
            report_session()
            assert report_source() is not None and not report_source().replica
    finally:
        standby.start()
