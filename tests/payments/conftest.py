"""Payments fixtures: a patient with a checked-in visit, a price list, a bill, open shifts, racing apps."""
from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import text

from portal.actor import Actor
from portal.extensions import db
from portal.idempotency import new_key
from portal.models import Appointment, Doctor, Patient, Service
from portal.payments import services
from portal.payments.forms import PaymentInput
from tests.factories import today_at


@pytest.fixture
def desk(staff):
    """Actors for each role: {'admin': Actor, 'reception': Actor, ...}."""
    return {role: Actor(user_id, role, "127.0.0.1") for role, user_id in staff.items()}


@pytest.fixture
def visit(app, staff):
    """A patient's checked-in appointment: {'patient_id', 'appointment_id', 'doctor_id', 'file_number'}."""
    with app.app_context():
        doctor = Doctor(user_id=staff["doctor"], name="Dr. Pay One", licence_number="KMPDC-P1",
                        specialisation="General practice")
        patient = Patient(first_name="Amina", last_name="Wanjiru", date_of_birth=date(1990, 1, 1), sex="female",
                          phone="+254712000001")
        db.session.add_all([doctor, patient])
        db.session.flush()
        start = today_at(-1)
        visit = Appointment(patient_id=patient.id, doctor_id=doctor.id, starts_at=start,
                            ends_at=start + timedelta(minutes=30), status="checked_in")
        db.session.add(visit)
        db.session.commit()
        return {"patient_id": patient.id, "appointment_id": visit.id, "doctor_id": doctor.id,
                "file_number": patient.file_number}


@pytest.fixture
def prices(app):
    """A small price list: {'consult': id, 'dressing': id (variable 500-2000), 'old': id (inactive)}."""
    with app.app_context():
        rows = {
            "consult": Service(code="CONS", name="Consultation", category="consultation", price_cents=150000),
            "dressing": Service(code="DRS", name="Wound dressing", category="procedure", price_cents=100000,
                                min_cents=50000, max_cents=200000),
            "lab": Service(code="FBC", name="Full blood count", category="laboratory", price_cents=80050),
            "old": Service(code="OLD", name="Retired test", category="laboratory", price_cents=1000,
                           is_active=False),
        }
        db.session.add_all(rows.values())
        db.session.commit()
        return {name: row.id for name, row in rows.items()}


@pytest.fixture
def shifts(app, desk):
    """An open shift for reception and for admin (float Ksh 1,000): {'reception': id, 'admin': id}."""
    with app.app_context():
        return {role: services.open_shift(desk[role], 100000) for role in ("reception", "admin")}


@pytest.fixture
def bill(app, visit, prices, desk):
    """The visit's bill with one consultation charged (Ksh 1,500.00); returns its id."""
    with app.app_context():
        bill_id = services.open_bill(visit["patient_id"], visit["appointment_id"], desk["reception"])
        services.add_line(bill_id, prices["consult"], 1, None, desk["reception"], new_key())
        return bill_id


def pay(bill_id: int, cents: int, actor: Actor, method: str = "cash", key: str | None = None, **details) -> dict:
    """Post a payment through the service (its own key unless given)."""
    return services.post_payment(bill_id, PaymentInput(method, cents, **details), actor, key or new_key())


def figures(app, bill_id: int):
    """The bill's figures from the bill_balance view."""
    with app.app_context():
        row = db.session.execute(text("SELECT * FROM bill_balance WHERE bill_id = :b"), {"b": bill_id}).one()
        db.session.rollback()
        return row


def scalar(app, sql: str, **params):
    with app.app_context():
        value = db.session.execute(text(sql), params).scalar()
        db.session.rollback()
        return value


@pytest.fixture
def racing_app(make_app):
    """An app whose pool gives each of up to 100 threads a real connection."""
    return make_app(DB_POOL_SIZE=20, DB_MAX_OVERFLOW=20, DB_POOL_TIMEOUT_S=30, DB_LOCK_TIMEOUT_MS=20000,
                    DB_STATEMENT_TIMEOUT_MS=30000)
