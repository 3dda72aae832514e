"""The audit trail is append-only in the database and hash-chained; `flask audit verify` finds a tampered row."""
from __future__ import annotations

import threading
import uuid

import psycopg
import pytest
from flask_migrate import upgrade
from sqlalchemy import text

from portal import create_app
from portal.actor import Actor
from portal.audit import record_access, record_audit, verify_chain
from portal.db import transaction
from portal.extensions import db
from portal.models import AuditChainHead
from tests.helpers import TEST_CONFIG, admin_connection, with_database


def write_events(app, count: int, role: str = "reception") -> None:
    with app.app_context():
        for n in range(count):
            record_access(Actor(None, role, "10.0.0.7"), "patient.view", [1000 + n], detail={"n": n})


def verify(app):
    with app.app_context():
        return verify_chain(batch=3)  # small batches: the walk crosses several


def cli_verify(app):
    return app.test_cli_runner().invoke(args=["audit", "verify", "--batch", "2"])


def as_tamperer(database_url, *statements):
    """A superuser who turns the triggers off for the session and changes the table."""
    with admin_connection(database_url, autocommit=True) as conn:
        conn.execute("SET session_replication_role = replica")
        for statement in statements:
            conn.execute(statement)


@pytest.mark.parametrize("statement", ["UPDATE audit_event SET action = 'nothing'", "DELETE FROM audit_event",
                                       "TRUNCATE audit_event"])
def test_the_audit_trail_refuses_changes_even_through_raw_sql(app, database_url, statement):
    write_events(app, 2)
    with admin_connection(database_url) as conn:
        with pytest.raises(psycopg.errors.RestrictViolation, match="audit_event rows are never changed"):
            conn.execute(statement)
        conn.rollback()
        assert conn.execute("SELECT count(*) FROM audit_event WHERE action = 'patient.view'").fetchone()[0] == 2


def test_events_are_chained_and_verify(app, database_url):
    write_events(app, 7)
    with admin_connection(database_url) as conn:
        rows = conn.execute("SELECT id, role, length(hash) FROM audit_event ORDER BY id").fetchall()
        head = conn.execute("SELECT last_id FROM audit_chain_head").fetchone()[0]
    assert [row[0] for row in rows] == list(range(1, 8)) and head == 7
    assert {(row[1], row[2]) for row in rows} == {("reception", 32)}
    report = verify(app)
    assert report.ok and report.checked == 7
    result = cli_verify(app)
    assert result.exit_code == 0 and "audit chain OK: 7 events" in result.output


def test_an_empty_trail_verifies(app):
    result = cli_verify(app)
    assert result.exit_code == 0 and "audit chain OK: 0 events" in result.output


@pytest.mark.parametrize("change", [
    "UPDATE audit_event SET patient_id = 9 WHERE id = 4",
    "UPDATE audit_event SET detail = '{\"n\": 99}' WHERE id = 4",
    "UPDATE audit_event SET at = at + interval '1 microsecond' WHERE id = 4",
    "UPDATE audit_event SET ip = NULL WHERE id = 4",
])
def test_a_row_changed_by_a_superuser_is_named(app, database_url, change):
    write_events(app, 8)
    as_tamperer(database_url, change)
    report = verify(app)
    assert (report.ok, report.broken_id, report.checked) == (False, 4, 3)
    result = cli_verify(app)
    assert result.exit_code == 1
    assert "audit chain BROKEN at event 4: its hash does not follow from its content" in result.output


def test_a_changed_row_with_a_recomputed_hash_breaks_the_next_link(app, database_url):
    write_events(app, 8)
    as_tamperer(database_url, "UPDATE audit_event SET patient_id = 9 WHERE id = 4",
                "UPDATE audit_event e SET hash = sha256(p.hash || convert_to(kliniki_audit_content(e), 'UTF8')) "
                "FROM audit_event p WHERE e.id = 4 AND p.id = 3")
    assert verify(app).broken_id == 5


def test_a_deleted_row_is_found_at_the_row_after_it(app, database_url):
    write_events(app, 8)
    as_tamperer(database_url, "DELETE FROM audit_event WHERE id = 5")
    report = verify(app)
    assert report.broken_id == 6 and "ids 5 to 5 are missing" in report.problem


def test_deleted_last_rows_are_found_against_the_chain_head(app, database_url):
    write_events(app, 8)
    as_tamperer(database_url, "DELETE FROM audit_event WHERE id >= 7")
    report = verify(app)
    assert (report.broken_id, report.checked) == (7, 6)
    assert "head names event 8 as the last" in report.problem


def test_concurrent_writers_from_16_threads_form_one_chain(app, database_url, make_app):
    writer = make_app(DB_POOL_SIZE=16, DB_MAX_OVERFLOW=0)
    barrier = threading.Barrier(16)
    errors: list[BaseException] = []

    def write(worker: int) -> None:
        try:
            with writer.app_context():
                barrier.wait()
                for n in range(10):
                    record_access(Actor(None, "nurse", f"10.0.1.{worker}"), "patient.view", [worker * 100 + n])
        except BaseException as error:  # noqa: B036 - reported by the main thread
            errors.append(error)

    threads = [threading.Thread(target=write, args=(worker,)) for worker in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with admin_connection(database_url) as conn:
        ids = [row[0] for row in conn.execute("SELECT id FROM audit_event ORDER BY id")]
    assert ids == list(range(1, 161))
    report = verify(app)
    assert report.ok and report.checked == 160


def test_the_migration_chains_the_rows_written_before_it(postgres_server):
    name = f"kliniki_chain_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(with_database(postgres_server, "postgres"), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = with_database(postgres_server, name)
    try:
        app = create_app({**TEST_CONFIG, "SQLALCHEMY_DATABASE_URI": url})
        with app.app_context():
            upgrade(revision="0010")
            with admin_connection(url, autocommit=True) as conn:
                for n in (1, 2, 3):
                    conn.execute("INSERT INTO audit_event (action, entity, patient_id, detail) "
                                 "VALUES ('patient.view', 'patient', %s, '{\"old\": true}')", (n,))
                conn.execute("SELECT setval('audit_event_id_seq', 40)")  # a gap, as rolled-back inserts leave
                conn.execute("INSERT INTO audit_event (action, entity) VALUES ('patient.view', 'patient')")
            upgrade()
            record_access(Actor(None, "admin"), "patient.view", [7])
            report = verify_chain()
            with admin_connection(url) as conn:
                ids = [row[0] for row in conn.execute("SELECT id FROM audit_event ORDER BY id")]
            db.engine.dispose()
        assert ids == [1, 2, 3, 41, 42]
        assert report.ok and report.checked == 5
    finally:
        with psycopg.connect(with_database(postgres_server, "postgres"), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_an_event_is_inserted_last_so_the_chain_head_is_free_until_the_commit(app, database_url):
    write_events(app, 1)
    with app.app_context():
        with transaction() as session:
            record_audit(session, Actor(None, "admin"), "patient.update", "patient", 1, 1)
            session.execute(text("SELECT 1"))  # the transaction goes on after recording
            with admin_connection(database_url) as other:  # nobody holds the head yet
                other.execute("SELECT * FROM audit_chain_head FOR UPDATE NOWAIT")
        assert db.session.get(AuditChainHead, 1).last_id == 2


def test_events_of_a_rolled_back_savepoint_are_not_written(app, database_url):
    with app.app_context():
        with transaction() as session:
            record_audit(session, Actor(None, "admin"), "kept.before", "patient")
            with pytest.raises(RuntimeError):
                with transaction() as inner:
                    record_audit(inner, Actor(None, "admin"), "dropped", "patient")
                    raise RuntimeError
            with transaction() as inner:
                record_audit(inner, Actor(None, "admin"), "kept.released", "patient")
        with pytest.raises(RuntimeError):
            with transaction() as session:
                record_audit(session, Actor(None, "admin"), "dropped.outer", "patient")
                raise RuntimeError
        session = db.session()
        record_audit(session, Actor(None, "admin"), "dropped.closed", "patient")
        session.execute(text("SELECT 1"))
        session.close()
        with transaction():
            pass
    with admin_connection(database_url) as conn:
        actions = [row[0] for row in conn.execute("SELECT action FROM audit_event ORDER BY id")]
    assert actions == ["kept.before", "kept.released"]
    assert verify(app).ok
