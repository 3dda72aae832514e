"""With thousands of visits loaded and analysed, every records list is an index scan, and the
timeline sends as many statements for ten visits as for two."""
from __future__ import annotations

from contextlib import contextmanager

import pytest
from sqlalchemy import event, text

from portal.actor import Actor
from portal.extensions import db
from portal.records import queries, services

from .conftest import make_appointment, make_patient
from .helpers import doctor, signed

SEED_SQL = """
INSERT INTO patient (first_name, last_name, date_of_birth, sex, phone)
SELECT 'P' || g, 'Seeded', date '1980-01-01' + (g % 9000), 'female', '+2547' || lpad(g::text, 8, '0')
FROM generate_series(1, 30000) g;
INSERT INTO appointment (patient_id, doctor_id, starts_at, ends_at, status)
SELECT p.id, CASE WHEN p.id % 4 = 0 THEN :doctor ELSE :other END,
       now() - make_interval(mins => ((p.id * 6 + g) * 30)::int),
       now() - make_interval(mins => ((p.id * 6 + g) * 30)::int) + interval '30 min',
       'completed'
FROM patient p CROSS JOIN generate_series(1, 6) g WHERE p.last_name = 'Seeded' AND p.id <= 3000;
INSERT INTO consultation (appointment_id, patient_id, doctor_id, status, plan, created_at, updated_at)
SELECT a.id, a.patient_id, a.doctor_id, 'draft', 'Plan ' || a.id, a.starts_at, a.starts_at FROM appointment a;
INSERT INTO diagnosis (consultation_id, text) SELECT id, 'Seeded diagnosis' FROM consultation;
INSERT INTO prescription (consultation_id, drug) SELECT id, 'Paracetamol' FROM consultation;
INSERT INTO vital_sign (appointment_id, patient_id, recorded_at, pulse_bpm)
SELECT a.id, a.patient_id, a.starts_at, 70 + a.id % 20 FROM appointment a;
INSERT INTO allergy (patient_id, substance) SELECT id, 'Dust ' || g FROM patient CROSS JOIN generate_series(1, 2) g;
INSERT INTO service (code, name, category, price_cents) VALUES ('CONS', 'Consultation', 'consultation', 250000);
INSERT INTO consultation_service (consultation_id, service_id)
SELECT c.id, s.id FROM consultation c CROSS JOIN service s;
INSERT INTO addendum (consultation_id, reason, text) SELECT id, 'Seeded', 'More' FROM consultation;
INSERT INTO record_access_grant (user_id, patient_id, reason) SELECT :nurse, id, 'Seeded' FROM patient;
"""


LARGE_TABLES = ("patient", "appointment", "consultation", "diagnosis", "prescription", "vital_sign", "addendum",
                "allergy", "consultation_service", "record_access_grant", "icd10_code", "follow_up")


@contextmanager
def sent_statements(app):
    """Every (statement, parameters) the app sends while the block runs."""
    with app.app_context():
        engine = db.engine
    sent: list = []

    def record(conn, cursor, statement, parameters, context, executemany):
        sent.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        event.remove(engine, "before_cursor_execute", record)


def plan(app, statement: str, parameters) -> str:
    with app.app_context():
        rows = db.session.connection().exec_driver_sql("EXPLAIN " + statement, parameters)
        text_plan = "\n".join(row[0] for row in rows)
        db.session.rollback()
    return text_plan


@pytest.fixture
def loaded(app, staff, doctors):
    with app.app_context():
        for statement in filter(str.strip, SEED_SQL.split(";")):
            db.session.execute(text(statement), {"doctor": doctors[0], "other": doctors[1],
                                                          "nurse": staff["nurse"]})
        db.session.commit()
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM (ANALYZE)"))
        patient_id = db.session.execute(text("SELECT id FROM patient WHERE first_name = 'P1500'")).scalar()
        appointment_id = db.session.execute(text("SELECT min(id) FROM appointment WHERE patient_id = :p"),
                                            {"p": patient_id}).scalar()
    return patient_id, appointment_id


def assert_indexed(app, sent, expected_index: str | None = None):
    assert sent, "no statement seen"
    plans = [plan(app, statement, parameters) for statement, parameters in sent
             if statement.lstrip().upper().startswith("SELECT")]
    for text_plan in plans:
        for table in LARGE_TABLES:  # the doctors and the staff are a handful of rows: a scan is right
            assert f"Seq Scan on {table} " not in text_plan, text_plan
    if expected_index:
        assert any(expected_index in p for p in plans), "\n\n".join(plans)


def test_the_timeline_pages_use_indexes(app, loaded):
    patient_id, _ = loaded
    with sent_statements(app) as sent, app.app_context():
        page = queries.timeline(db.session(), patient_id, None, 3, True)
        assert len(page.items) == 3 and page.has_more
    assert_indexed(app, sent, "ix_consultation_patient_created")
    with sent_statements(app) as sent, app.app_context():
        rest = queries.timeline(db.session(), patient_id, page.next_cursor, 3, True)
        assert len(rest.items) == 3 and not rest.has_more
        assert not {v.consultation.id for v in rest.items} & {v.consultation.id for v in page.items}
    assert_indexed(app, sent, "ix_consultation_patient_created")


def test_vitals_allergies_visit_and_access_checks_use_indexes(app, staff, loaded):
    patient_id, appointment_id = loaded
    with sent_statements(app) as sent, app.app_context():
        session = db.session()
        assert len(queries.vitals_trend(session, patient_id)) == 6
        queries.visit_vitals(session, appointment_id)
        queries.allergies(session, patient_id)
        consultation = queries.consultation_of(session, appointment_id)
        queries.note_view(session, consultation)
        assert services.treats(session, doctor(staff), patient_id)
        assert services.treats(session, Actor(staff["nurse"], "doctor"), patient_id)  # the seeded grant
        assert not services.treats(session, Actor(staff["admin"], "doctor"), patient_id)
    assert_indexed(app, sent, "ix_vital_sign_patient_recorded")


def test_the_waiting_room_uses_indexes(app, loaded):
    with sent_statements(app) as sent, app.app_context():
        queries.waiting_room(db.session())
        queries.expected_today(db.session())
        queries.waiting_room_version(db.session())  # what each 10-second poll reads
    assert_indexed(app, sent, "ix_appointment_starts_at")


def test_a_notes_follow_ups_use_indexes(app, loaded):
    _, appointment_id = loaded
    with app.app_context():  # every seeded visit got a follow-up (its own appointment stands in for it)
        db.session.execute(text("INSERT INTO follow_up (consultation_id, appointment_id) "
                                "SELECT id, appointment_id FROM consultation"))
        db.session.commit()
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("ANALYZE follow_up"))
    with sent_statements(app) as sent, app.app_context():
        consultation = queries.consultation_of(db.session(), appointment_id)
        assert len(queries.follow_ups(db.session(), consultation.id)) == 1
    assert_indexed(app, sent, "ix_follow_up_consultation_id")


def _statements_for(app, client, url: str) -> int:
    with sent_statements(app) as sent:
        response = client.get(url, headers={"HX-Request": "true"})
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    return len(sent)


def test_the_timeline_statement_count_does_not_grow_with_its_rows(app, client, login_as, staff, doctors):
    few = make_patient(app, "Few")
    many = make_patient(app, "Many")
    for patient_id, visits in ((few, 2), (many, 10)):
        for i in range(visits):
            appointment_id = make_appointment(app, patient_id, doctors[0], hours_from_now=-24 * (i + 1) - visits)
            with app.app_context():
                services.record_vitals(appointment_id, {"pulse_bpm": 70 + i}, doctor(staff))
            signed(app, staff, appointment_id)
    login_as("doctor")
    assert _statements_for(app, client, f"/records/patients/{few}/clinical") == \
        _statements_for(app, client, f"/records/patients/{many}/clinical")
    body = client.get(f"/records/patients/{many}/clinical", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert body.count('class="timeline-visit"') == 10


def test_the_notes_list_uses_indexes_for_each_filter(app, staff, doctors, loaded):
    from datetime import date, timedelta
    patient_id, _ = loaded
    for filters, index in [({"doctor_id": doctors[0]}, "ix_consultation_doctor_created"),
                           ({"patient_id": patient_id}, "ix_consultation_patient_created"),
                           ({}, "ix_consultation_created"),
                           ({"day_from": date.today() - timedelta(days=30), "day_to": date.today()},
                            "ix_consultation_created")]:
        arguments = {"doctor_id": None, "patient_id": None, "day_from": None, "day_to": None, **filters}
        with sent_statements(app) as sent, app.app_context():
            page = queries.notes_page(db.session(), cursor=None, limit=500, **arguments)
            assert 0 < len(page.items) <= 100
        assert_indexed(app, sent, index)


def test_the_visit_page_statement_count_does_not_grow_with_its_rows(app, staff, doctors, icd):
    from tests.helpers import login
    counts = []
    for name, lines in (("Small", 1), ("Large", 8)):
        patient_id = make_patient(app, name)
        appointment_id = make_appointment(app, patient_id, doctors[0], hours_from_now=-lines)
        consultation_id = None
        with app.app_context():
            for i in range(lines):
                services.record_vitals(appointment_id, {"pulse_bpm": 70 + i}, doctor(staff))
            consultation_id = services.start_consultation(appointment_id, doctor(staff)).id
            for i in range(lines):
                services.add_diagnosis(consultation_id, None, f"Finding {i}", i == 0, doctor(staff))
                services.add_prescription(consultation_id, {"drug": f"Drug{i}", "strength": None, "dose": None,
                                                            "route": None, "frequency": None, "duration": None,
                                                            "quantity": None, "instructions": None}, False,
                                          doctor(staff))
            services.save_note(consultation_id, 1, {"subjective": "x", "objective": None, "assessment": "y",
                                                    "plan": "z"}, doctor(staff))
            services.sign(consultation_id, f"visit-page-key-{name}-0001", doctor(staff))
            for i in range(lines):
                services.add_addendum(consultation_id, f"Reason {i}", "More", doctor(staff))
        fresh = app.test_client()
        assert login(fresh, "doctor1").status_code == 302
        with sent_statements(app) as sent:
            response = fresh.get(f"/records/appointments/{appointment_id}")
        assert response.status_code == 200 and response.get_data(as_text=True).count("data-addendum=") == lines
        counts.append(len(sent))
    assert counts[0] == counts[1], counts
