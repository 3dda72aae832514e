"""Kliniki behind PgBouncer in transaction mode: what breaks without the pooler settings, and that nothing
one client sets reaches another. The area tests marked `pgbouncer` run through it too (make test)."""
from __future__ import annotations

import os

import psycopg
import pytest
from sqlalchemy import text

from portal.db import engine_options, transaction
from portal.extensions import db
from tests.helpers import TEST_CONFIG, run

pytestmark = pytest.mark.pgbouncer

REPEATS = 8  # psycopg prepares a statement after 5 executions on a connection


def _swap_server_connection(url: str, prepare_threshold) -> None:
    """Run one query enough times to be prepared, then again while another client holds its server connection."""
    with psycopg.connect(url, prepare_threshold=prepare_threshold) as client, psycopg.connect(url) as other:
        for i in range(REPEATS):
            client.execute("SELECT %s::int + 1", (i,)).fetchone()
            client.commit()
        other.execute("SELECT 1")  # other's open transaction now holds the server connection client used
        assert client.execute("SELECT %s::int + 1", (1,)).fetchone() == (2,)
        client.commit()
        other.commit()


def test_psycopg_prepared_statements_break_in_transaction_mode(pgbouncer_url):
    with pytest.raises(psycopg.errors.InvalidSqlStatementName, match="prepared statement .* does not exist"):
        _swap_server_connection(pgbouncer_url, prepare_threshold=5)  # psycopg's default


def test_without_prepared_statements_the_same_queries_work(pgbouncer_url):
    _swap_server_connection(pgbouncer_url, prepare_threshold=None)


def test_pgbouncer_refuses_the_options_startup_parameter_so_the_app_sends_none(pgbouncer_url):
    direct = engine_options({**_defaults(), "DATABASE_POOLER": ""})["connect_args"]
    with pytest.raises(psycopg.OperationalError, match="unsupported startup parameter: options"):
        psycopg.connect(pgbouncer_url, options=direct["options"])
    pooled = engine_options({**_defaults(), "DATABASE_POOLER": "pgbouncer"})["connect_args"]
    assert "options" not in pooled and pooled["prepare_threshold"] is None


def _defaults() -> dict:
    from portal.config import Config
    return {**vars(Config("instance")), **TEST_CONFIG}


def test_the_apps_timeouts_hold_in_its_transactions_and_leak_to_no_other_client(make_app, pgbouncer_url):
    pooled = make_app(SQLALCHEMY_DATABASE_URI=pgbouncer_url, DATABASE_POOLER="pgbouncer",
                      DB_STATEMENT_TIMEOUT_MS=4321, DB_LOCK_TIMEOUT_MS=1234, DB_POOL_SIZE=1, DB_MAX_OVERFLOW=0)

    def settings():
        with transaction() as session:
            return tuple(session.execute(text("SELECT current_setting('statement_timeout'), "
                                              "current_setting('lock_timeout'), current_setting('TimeZone')")).one())

    for _ in range(REPEATS):  # enough repeats for psycopg to have prepared them, if it prepared
        assert run(pooled, settings) == ("4321ms", "1234ms", "UTC")
    with pooled.app_context():
        db.engine.dispose()
    # The one server connection the app used is the one this client gets: it carries none of the app's settings.
    with psycopg.connect(pgbouncer_url, prepare_threshold=None) as client:
        assert client.execute("SELECT current_setting('statement_timeout'), current_setting('lock_timeout')"
                              ).fetchone() == ("0", "0")


def test_a_slow_statement_is_cancelled_behind_the_pooler_too(make_app, pgbouncer_url):
    pooled = make_app(SQLALCHEMY_DATABASE_URI=pgbouncer_url, DATABASE_POOLER="pgbouncer", DB_STATEMENT_TIMEOUT_MS=200)

    def sleep():
        with transaction() as session:
            session.execute(text("SELECT pg_sleep(2)"))

    with pytest.raises(Exception, match="statement timeout"):
        run(pooled, sleep)


def test_with_kliniki_test_pooler_the_test_apps_go_through_pgbouncer(app, app_settings, database_url):
    through_pgbouncer = os.environ.get("KLINIKI_TEST_POOLER") == "pgbouncer"
    assert (app.config["DATABASE_POOLER"] == "pgbouncer") == through_pgbouncer
    assert ("kliniki-pgb-" in app.config["SQLALCHEMY_DATABASE_URI"]) == through_pgbouncer
    assert "options" not in engine_options(app.config)["connect_args"] or not through_pgbouncer
