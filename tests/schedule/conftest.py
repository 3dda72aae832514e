"""Schedule fixtures: doctors, patients, tomorrow's slots, the invariant check, racing apps."""
from __future__ import annotations

from datetime import datetime, time, timedelta

import pytest
from sqlalchemy import text

from portal import clinic_time
from portal.extensions import db
from portal.models import Doctor, Patient, Slot

SLOTS_PER_DOCTOR = 16


@pytest.fixture
def doctors(app, staff):
    """Two active doctors; the first is linked to the doctor1 login. Returns their ids."""
    with app.app_context():
        first = Doctor(user_id=staff["doctor"], name="Dr. Test One", licence_number="KMPDC-T1",
                       specialisation="General surgery")
        second = Doctor(name="Dr. Test Two", licence_number="KMPDC-T2", specialisation="Aesthetics")
        db.session.add_all([first, second])
        db.session.commit()
        return [first.id, second.id]


@pytest.fixture
def patients(app):
    """Forty patients; returns their ids."""
    with app.app_context():
        people = [Patient(first_name=f"Pat{i}", last_name="Tester", date_of_birth=datetime(1990, 1, 1).date(),
                          sex="female", phone=f"+2547120000{i:02d}") for i in range(40)]
        db.session.add_all(people)
        db.session.commit()
        return [p.id for p in people]


def make_slots(app, doctor_id: int, day_offset: int = 1, count: int = SLOTS_PER_DOCTOR,
               minutes: int = 30) -> list[int]:
    """Open consecutive slots from 08:00 clinic time `day_offset` days from today."""
    with app.app_context():
        zone = clinic_time.zone()
        start = datetime.combine(clinic_time.today() + timedelta(days=day_offset), time(8), tzinfo=zone)
        rows = [Slot(doctor_id=doctor_id, starts_at=start + timedelta(minutes=minutes * i),
                     ends_at=start + timedelta(minutes=minutes * (i + 1))) for i in range(count)]
        db.session.add_all(rows)
        db.session.commit()
        return [row.id for row in rows]


@pytest.fixture
def slots(app, doctors):
    """Tomorrow's 16 slots per doctor: {doctor_id: [slot ids in order]}."""
    return {doctor_id: make_slots(app, doctor_id) for doctor_id in doctors}


@pytest.fixture
def racing_app(make_app):
    """An app whose pool gives each of 20 threads its own real connection."""
    return make_app(DB_POOL_SIZE=24, DB_MAX_OVERFLOW=0, DB_POOL_TIMEOUT_S=10)


INVARIANTS = {
    "doctor with overlapping active appointments": """
        SELECT count(*) FROM appointment a JOIN appointment b ON a.doctor_id = b.doctor_id AND a.id < b.id
        WHERE a.status <> 'cancelled' AND b.status <> 'cancelled'
          AND a.starts_at < b.ends_at AND b.starts_at < a.ends_at""",
    "patient with overlapping active appointments": """
        SELECT count(*) FROM appointment a JOIN appointment b ON a.patient_id = b.patient_id AND a.id < b.id
        WHERE a.status <> 'cancelled' AND b.status <> 'cancelled'
          AND a.starts_at < b.ends_at AND b.starts_at < a.ends_at""",
    "booked slot not held by an active appointment of its doctor and time": """
        SELECT count(*) FROM slot s LEFT JOIN appointment a ON a.id = s.appointment_id
        WHERE s.status = 'booked' AND (a.id IS NULL OR a.status = 'cancelled' OR a.doctor_id <> s.doctor_id
              OR s.starts_at < a.starts_at OR s.ends_at > a.ends_at)""",
    "slot pointing at an appointment but not booked": """
        SELECT count(*) FROM slot WHERE appointment_id IS NOT NULL AND status <> 'booked'""",
    "active appointment whose slots do not cover it exactly": """
        SELECT count(*) FROM appointment a
        LEFT JOIN LATERAL (SELECT min(s.starts_at) AS first, max(s.ends_at) AS last,
                                  sum(s.ends_at - s.starts_at) AS total
                           FROM slot s WHERE s.appointment_id = a.id) c ON true
        WHERE a.status <> 'cancelled'
          AND (c.first IS DISTINCT FROM a.starts_at OR c.last IS DISTINCT FROM a.ends_at
               OR c.total IS DISTINCT FROM a.ends_at - a.starts_at)""",
    "cancelled appointment still holding slots": """
        SELECT count(*) FROM slot s JOIN appointment a ON a.id = s.appointment_id WHERE a.status = 'cancelled'""",
}


def assert_invariants(app) -> None:
    """No double booking of doctor or patient; slots and appointments agree both ways."""
    with app.app_context():
        broken = {name: db.session.scalar(text(sql)) for name, sql in INVARIANTS.items()}
        db.session.remove()
    assert {name: n for name, n in broken.items() if n} == {}


def count(app, sql: str, **params) -> int:
    with app.app_context():
        value = db.session.scalar(text(sql), params)
        db.session.remove()
        return value
