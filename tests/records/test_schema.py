"""The database itself refuses changes to a signed note, its parts and the visit's vitals, and impossible vitals."""
from __future__ import annotations

import psycopg
import pytest

from portal.actor import Actor
from portal.extensions import db
from portal.models import VitalSign
from portal.records import services
from tests.helpers import admin_connection

from .helpers import doctor, nurse, signed, started

FROZEN = "cannot be"


@pytest.fixture
def signed_visit(app, staff, visit, icd, services_list):
    """A signed consultation with a diagnosis, a prescription, a service and a vitals reading."""
    consultation_id = started(app, staff, visit)
    with app.app_context():
        services.record_vitals(visit, {"temperature_c": 37, "pulse_bpm": 80}, nurse(staff))
        services.add_diagnosis(consultation_id, "I10", None, True, doctor(staff))
        services.add_prescription(consultation_id, {"drug": "Amlodipine", "strength": "5 mg", "dose": "1 tablet",
                                                    "route": "oral", "frequency": "daily", "duration": "30 days",
                                                    "quantity": 30, "instructions": None}, False, doctor(staff))
        services.add_service(consultation_id, services_list[0], 1, doctor(staff))
        services.save_note(consultation_id, 1, {"subjective": "Headaches", "objective": "BP 160/100",
                                                "assessment": "Hypertension", "plan": "Amlodipine"}, doctor(staff))
        services.sign(consultation_id, "k" * 20, doctor(staff))
    return consultation_id


@pytest.mark.parametrize("statement", [
    "UPDATE consultation SET plan = 'changed' WHERE id = %(c)s",
    "DELETE FROM consultation WHERE id = %(c)s",
    "UPDATE consultation SET status = 'draft' WHERE id = %(c)s",
    "UPDATE diagnosis SET text = 'changed' WHERE consultation_id = %(c)s",
    "DELETE FROM diagnosis WHERE consultation_id = %(c)s",
    "INSERT INTO diagnosis (consultation_id, text) VALUES (%(c)s, 'added later')",
    "UPDATE prescription SET quantity = 90 WHERE consultation_id = %(c)s",
    "DELETE FROM prescription WHERE consultation_id = %(c)s",
    "UPDATE consultation_service SET quantity = 5 WHERE consultation_id = %(c)s",
    "DELETE FROM consultation_service WHERE consultation_id = %(c)s",
    "UPDATE vital_sign SET pulse_bpm = 60",
    "DELETE FROM vital_sign",
])
def test_signed_rows_refuse_changes_even_through_raw_sql(database_url, signed_visit, statement):
    with admin_connection(database_url) as conn:
        with pytest.raises(psycopg.errors.IntegrityConstraintViolation, match=FROZEN):
            conn.execute(statement, {"c": signed_visit})
        conn.rollback()
        plan = conn.execute("SELECT plan FROM consultation WHERE id = %s", (signed_visit,)).fetchone()[0]
        assert plan == "Amlodipine"
        assert conn.execute("SELECT count(*) FROM diagnosis").fetchone()[0] == 1
        assert conn.execute("SELECT count(*) FROM vital_sign").fetchone()[0] == 1


def test_addenda_are_insert_only(app, database_url, staff, visit):
    consultation_id = signed(app, staff, visit)
    with app.app_context():
        services.add_addendum(consultation_id, "Lab result came back", "CRP normal.", doctor(staff))
    with admin_connection(database_url) as conn:
        for statement in ("UPDATE addendum SET text = 'x'", "DELETE FROM addendum"):
            with pytest.raises(psycopg.errors.RestrictViolation, match="addendum rows are never changed"):
                conn.execute(statement)
            conn.rollback()
        assert conn.execute("SELECT text FROM addendum").fetchone()[0] == "CRP normal."


def test_a_draft_can_still_change(database_url, app, staff, visit):
    consultation_id = started(app, staff, visit)
    with admin_connection(database_url) as conn:
        conn.execute("UPDATE consultation SET plan = 'ok' WHERE id = %s", (consultation_id,))
        conn.commit()
        assert conn.execute("SELECT plan FROM consultation").fetchone()[0] == "ok"


@pytest.mark.parametrize("column, value", [("temperature_c", 50), ("pulse_bpm", 400), ("spo2_pct", 101),
                                           ("pain_score", 11), ("weight_kg", 0)])
def test_the_table_refuses_impossible_vitals(app, database_url, staff, visit, patient, column, value):
    with admin_connection(database_url) as conn:
        with pytest.raises(psycopg.errors.CheckViolation):
            conn.execute(f"INSERT INTO vital_sign (appointment_id, patient_id, {column}) VALUES (%s, %s, %s)",
                         (visit, patient, value))


def test_check_in_records_the_arrival_time(app, staff, doctors, patient):
    from portal.models import Appointment
    from portal.schedule import services as schedule

    from .conftest import make_appointment
    appointment_id = make_appointment(app, patient, doctors[0], status="booked")
    with app.app_context():
        schedule.change_status(appointment_id, "checked_in", Actor(staff["nurse"], "nurse"))
        appointment = db.session.get(Appointment, appointment_id)
        assert appointment.arrived_at is not None and appointment.arrived_at == appointment.status_changed_at
        assert db.session.query(VitalSign).count() == 0
