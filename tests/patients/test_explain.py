"""With thousands of patients loaded and analysed, every search path is an index lookup."""
import pytest
from sqlalchemy import select, text

from portal.db import time_cursor
from portal.extensions import db
from portal.models import Patient
from portal.patients.search import MAX_RESULTS, search_patients, search_statements
from portal.seeding import seed_clinic

PATIENTS = 10_000


def plan_of(stmt) -> str:
    compiled = stmt.limit(50).compile(dialect=db.engine.dialect)
    rows = db.session.connection().exec_driver_sql("EXPLAIN " + str(compiled), compiled.params)
    return "\n".join(row[0] for row in rows)


@pytest.fixture
def loaded(app):
    """A few thousand seeded patients (and appointments), analysed like production."""
    with app.app_context():
        seed_clinic(PATIENTS, 20_000, doctors=8, seed=7, say=lambda _: None, signed=0, payments=0)
        # The seeder ends with VACUUM (ANALYZE); say it here too, as production's autovacuum would.
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM (ANALYZE) patient"))
        # The seeded names change with the day the test runs: take the first patient whose surname's
        # first four letters find less than a page of results, so that the prefix search must show them.
        candidates = db.session.scalars(select(Patient).order_by(Patient.id).limit(500)).all()
        yield next(p for p in candidates if len(search_patients(p.last_name[:4])) < MAX_RESULTS)


def search_terms(patient) -> dict[str, str]:
    national = "0" + patient.phone[4:]
    return {
        "name prefix": patient.last_name[:4],
        "two names": f"{patient.last_name} {patient.first_name}",
        "name with date of birth": f"{patient.first_name[:3]} {patient.date_of_birth:%d/%m/%Y}",
        "phone in full": f"{national[:4]} {national[4:7]} {national[7:]}",
        "phone from its start": national[:7],
        "phone ending": patient.phone[-5:],
        "file number": patient.file_number,
        "date of birth": patient.date_of_birth.isoformat(),
    }


def test_every_search_path_uses_an_index(loaded):
    for kind, term in search_terms(loaded).items():
        statements = search_statements(term)
        assert statements, kind
        for stmt in statements:
            plan = plan_of(stmt)
            assert "Seq Scan" not in plan, f"{kind} ({term!r}) scans:\n{plan}"
            assert "Index" in plan, f"{kind} ({term!r}):\n{plan}"


def test_lists_and_profile_tabs_use_indexes(loaded):
    from datetime import datetime, timedelta, timezone

    from portal.patients import services
    now = datetime.now(timezone.utc)
    cursor = time_cursor(now - timedelta(days=30), 10**9)
    statements = {
        "pending": services.list_statement(services.ListFilters(pending=True), None),
        "assigned to me": services.list_statement(
            services.ListFilters(assigned_to_id=loaded.assigned_to_id or 1), cursor),
        "registered between": services.list_statement(
            services.ListFilters(registered_from=now - timedelta(days=60),
                                 registered_before=now - timedelta(days=30)), None),
        "next page": services.list_statement(services.ListFilters(), cursor),
        "upcoming": services.appointments_statement(loaded.id, True, None),
        "past, next page": services.appointments_statement(loaded.id, False, cursor),
    }
    for kind, stmt in statements.items():
        plan = plan_of(stmt)
        big_scans = [line for line in plan.splitlines()
                     if "Seq Scan on patient" in line or "Seq Scan on appointment" in line]
        assert not big_scans and "Index" in plan, f"{kind}:\n{plan}"  # doctor (tens of rows) may be scanned


def test_search_finds_the_seeded_patient_every_way(loaded):
    for kind, term in search_terms(loaded).items():
        assert loaded.id in [p.id for p in search_patients(term)], kind


AUDIT_INDEXES = {
    # Phase 5 of the audit: what patients, appointments and doctors are searched and sorted by.
    "patient": [("phone",), ("last_name",), ("first_name", "last_name"), ("created_at",),
                ("file_number",), ("assigned_to_id",), ("date_of_birth",), ("search_vector",)],
    "appointment": [("patient_id", "starts_at"), ("doctor_id", "starts_at"), ("starts_at",),
                    ("created_at",), ("updated_at",), ("reviewed_by_id",)],
    "doctor": [("name",), ("phone",), ("user_id",), ("licence_number",)],
}


def test_indexes_the_audit_lists_exist(app):
    with app.app_context():
        rows = db.session.execute(text("""
            SELECT t.relname, array_agg(a.attname ORDER BY k.n) AS columns
            FROM pg_index i JOIN pg_class t ON t.oid = i.indrelid
            CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, n)
            JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum
            WHERE t.relname IN ('patient', 'appointment', 'doctor')
            GROUP BY t.relname, i.indexrelid""")).all()
    leading = {(table, tuple(cols[:n])) for table, cols in rows for n in range(1, len(cols) + 1)}
    for table, wanted in AUDIT_INDEXES.items():
        for columns in wanted:
            assert (table, columns) in leading, f"no index on {table}{columns}"
