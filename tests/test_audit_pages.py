"""The admin's audit pages: who opened a patient's record, and a staff member's activity."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import text

from portal.actor import Actor
from portal.admin.queries import patient_access_statement, user_activity_statement
from portal.audit import record_access
from portal.db import MAX_PAGE_SIZE, time_cursor
from portal.extensions import db
from tests.factories import make_patient
from tests.helpers import admin_connection

REASON = re.compile(r"<td>reason (\d+)</td>")


def opened(app, user_id: int, role: str, patient_id: int, count: int) -> None:
    with app.app_context():
        for n in range(count):
            record_access(Actor(user_id, role, "10.1.2.3"), "records.consultation.view", [patient_id],
                          detail={"reason": f"reason {n}"})


def reasons(body: str) -> list[int]:
    return [int(n) for n in REASON.findall(body)]


def older_link(body: str) -> str | None:
    found = re.search(r'<a href="([^"]+)" role="button" class="secondary outline">Older</a>', body)
    return found.group(1).replace("&amp;", "&") if found else None


def test_a_patients_record_access_pages_newest_first_and_writes_its_own_event(app, login_as, staff, database_url):
    patient = make_patient(app, first_name="Achieng", last_name="Odhiambo")
    opened(app, staff["doctor"], "doctor", patient, 120)
    client = login_as("admin")
    seen, url, pages = [], f"/admin/patients/{patient}/access", 0
    while url:
        answer = client.get(url)
        assert answer.status_code == 200
        body = answer.get_data(as_text=True)
        seen += reasons(body)
        url, pages = older_link(body), pages + 1
    assert seen == list(range(119, -1, -1)) and pages == 3  # 50 + 50 + 20, each once
    assert "doctor1" in body and "10.1.2.3" in body and "<code>records.consultation.view</code>" in body
    with admin_connection(database_url) as conn:
        events = conn.execute("SELECT user_id, role, detail FROM audit_event WHERE action = 'audit.patient_access' "
                              "AND patient_id = %s ORDER BY id", (patient,)).fetchall()
    assert len(events) == 3 and events[0][:2] == (staff["admin"], "admin") and "cursor" in events[1][2]


def test_the_page_size_has_the_hard_maximum(app, login_as, staff):
    patient = make_patient(app)
    opened(app, staff["nurse"], "nurse", patient, MAX_PAGE_SIZE + 5)
    body = login_as("admin").get(f"/admin/patients/{patient}/access?limit=100000").get_data(as_text=True)
    assert len(reasons(body)) == MAX_PAGE_SIZE and older_link(body)


def test_a_staff_members_activity_names_patients_and_counts_lists(app, login_as, staff):
    patient = make_patient(app, first_name="Wanjiku", last_name="Kariuki")
    others = [make_patient(app, first_name=f"Other{n}") for n in range(3)]
    opened(app, staff["nurse"], "nurse", patient, 60)
    with app.app_context():
        record_access(Actor(staff["nurse"], "nurse", "10.9.9.9"), "patient.search", others)
    client = login_as("admin")
    first = client.get(f"/admin/staff/{staff['nurse']}/activity")
    body = first.get_data(as_text=True)
    assert first.status_code == 200
    assert "a list of 3 patients" in body and "Other0" not in body  # a list's names are not shown
    assert body.count("Wanjiku Kariuki") == 49 and older_link(body)
    second = client.get(older_link(body)).get_data(as_text=True)
    assert second.count("Wanjiku Kariuki") == 11 and older_link(second) is None
    nobody = client.get(f"/admin/staff/{staff['reception']}/activity").get_data(as_text=True)
    assert "No activity recorded" in nobody


@pytest.mark.parametrize("role", ["reception", "nurse", "doctor"])
def test_only_admin_sees_the_audit_pages(app, login_as, staff, role):
    patient = make_patient(app)
    client = login_as(role)
    assert client.get(f"/admin/patients/{patient}/access").status_code == 403
    assert client.get(f"/admin/staff/{staff['nurse']}/activity").status_code == 403
    assert "Who opened this record" not in client.get(f"/patients/{patient}").get_data(as_text=True)


def test_admin_reaches_them_from_the_patient_page_and_the_staff_list(app, login_as, staff):
    patient = make_patient(app)
    client = login_as("admin")
    assert f'href="/admin/patients/{patient}/access"' in client.get(f"/patients/{patient}").get_data(as_text=True)
    assert f'href="/admin/staff/{staff["nurse"]}/activity"' in client.get("/admin/staff").get_data(as_text=True)
    assert client.get("/admin/patients/987654/access").status_code == 404
    assert client.get("/admin/staff/987654/activity").status_code == 404


def plan_of(stmt) -> str:
    compiled = stmt.compile(dialect=db.engine.dialect)
    rows = db.session.connection().exec_driver_sql("EXPLAIN " + str(compiled), compiled.params)
    return "\n".join(row[0] for row in rows)


def test_both_pages_read_their_index(app, staff):
    with app.app_context():
        # 40,000 events over 2,000 patients and the staff, analysed as autovacuum would.
        db.session.execute(text("SET LOCAL statement_timeout = 0"))  # a loaded machine: through the trigger
        db.session.execute(text(
            "INSERT INTO audit_event (user_id, role, action, entity, patient_id, at) "
            "SELECT (ARRAY[:a, :b, :c, :d])[1 + n % 4], 'nurse', 'patient.view', 'patient', 1 + n % 2000, "
            "now() - n * interval '1 minute' FROM generate_series(1, 40000) AS n"),
            {"a": staff["admin"], "b": staff["nurse"], "c": staff["doctor"], "d": staff["reception"]})
        db.session.commit()
        db.session.execute(text("SET LOCAL statement_timeout = 0"))
        db.session.execute(text("ANALYZE audit_event"))
        cursor = time_cursor(db.session.execute(text("SELECT now() - interval '1 day'")).scalar(), 10)
        for stmt, index in ((patient_access_statement(7, None, 51), "ix_audit_event_patient_at"),
                            (patient_access_statement(7, cursor, 51), "ix_audit_event_patient_at"),
                            (user_activity_statement(staff["nurse"], None, 51), "ix_audit_event_user_at"),
                            (user_activity_statement(staff["nurse"], cursor, 51), "ix_audit_event_user_at")):
            plan = plan_of(stmt)
            assert index in plan and "Seq Scan on audit_event" not in plan, plan
        db.session.rollback()
