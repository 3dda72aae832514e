"""Records fixtures: doctors, a patient with an allergy, today's checked-in appointment, ICD-10 codes."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from portal.extensions import db
from portal.models import Doctor, Service
from tests import factories

ICD_SAMPLE = [("I10", "Essential (primary) hypertension"),
              ("I11", "Hypertensive heart disease"),
              ("I11.0", "Hypertensive heart disease with (congestive) heart failure"),
              ("J06.9", "Acute upper respiratory infection, unspecified"),
              ("E11", "Type 2 diabetes mellitus")]


@pytest.fixture
def doctors(app, staff):
    """Two doctors: the first is doctor1's login, the second has no login. Returns their ids."""
    with app.app_context():
        first = Doctor(user_id=staff["doctor"], name="Dr. Test One", licence_number="KMPDC-R1",
                       specialisation="General practice")
        second = Doctor(name="Dr. Test Two", licence_number="KMPDC-R2", specialisation="Paediatrics")
        db.session.add_all([first, second])
        db.session.commit()
        return [first.id, second.id]


def make_patient(app, first_name: str = "Amina", allergies: str | None = "Penicillin (rash)") -> int:
    """A patient with an allergy on record."""
    return factories.make_patient(app, first_name, "Otieno", date(1985, 3, 1), phone="+254712000111",
                                  allergies=allergies)


def make_appointment(app, patient_id: int, doctor_id: int, status: str = "checked_in",
                     hours_from_now: float = 0) -> int:
    """An appointment `hours_from_now` (within an hour: kept today), arrived when checked in or in consultation."""
    start = factories.today_at(hours_from_now) if abs(hours_from_now) <= 1 else \
        datetime.now(timezone.utc).replace(microsecond=0) + timedelta(hours=hours_from_now)
    arrived = start if status in ("checked_in", "in_consultation") else None
    return factories.make_appointment(app, patient_id, doctor_id, start, status=status, arrived_at=arrived)


@pytest.fixture
def patient(app):
    return make_patient(app)


@pytest.fixture
def visit(app, doctors, patient):
    """Today's appointment of the patient with doctor1, checked in; returns its id."""
    return make_appointment(app, patient, doctors[0])


@pytest.fixture
def icd(app):
    """A few ICD-10 codes (the full list is loaded by `records load-icd10`)."""
    from portal.records.services import load_icd10
    with app.app_context():
        load_icd10(ICD_SAMPLE)


@pytest.fixture
def services_list(app):
    """Two priced services; returns their ids."""
    with app.app_context():
        rows = [Service(code="CONS", name="Consultation", category="consultation", price_cents=250000),
                Service(code="ECG", name="Electrocardiogram", category="procedure", price_cents=180000)]
        db.session.add_all(rows)
        db.session.commit()
        return [row.id for row in rows]
