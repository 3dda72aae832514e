"""Signing a consultation puts its billable services on the visit's bill, in the same transaction."""
from __future__ import annotations

import pytest

from portal.actor import Actor
from portal.domain import DomainError
from portal.extensions import db
from portal.idempotency import new_key
from portal.models import Service
from portal.records import services as records
from tests.helpers import count_rows


@pytest.fixture
def priced(app):
    """Two services on the price list; returns their ids."""
    with app.app_context():
        consult = Service(code="CONS", name="Consultation", category="consultation", price_cents=250_000)
        dressing = Service(code="DRS", name="Wound dressing", category="procedure", price_cents=80_000)
        db.session.add_all([consult, dressing])
        db.session.commit()
        return consult.id, dressing.id


def _sign_with_services(app, visit, staff, services, key):
    doctor = Actor(staff["doctor"], "doctor")
    with app.app_context():
        consultation_id = records.start_consultation(visit, doctor).id
        for service_id, quantity in services:
            records.add_service(consultation_id, service_id, quantity, doctor)
        records.save_note(consultation_id, 1, {"assessment": "Healing well", "plan": "Review"}, doctor)
        result = records.sign(consultation_id, key, doctor)
        db.session.remove()
        return consultation_id, result


def test_signing_bills_the_visit_once_even_when_repeated(app, database_url, visit, staff, priced):
    consult, dressing = priced
    key = new_key()
    consultation_id, first = _sign_with_services(app, visit, staff, [(consult, 1), (dressing, 2)], key)
    with app.app_context():
        again = records.sign(consultation_id, key, Actor(staff["doctor"], "doctor"))  # a double tap
        db.session.remove()
    assert again == first
    assert count_rows(database_url, "bill") == 1
    from tests.helpers import admin_connection
    with admin_connection(database_url) as conn:
        lines = conn.execute("SELECT name, quantity, unit_cents, source, source_id FROM bill_line "
                             "ORDER BY name").fetchall()
        balance = conn.execute("SELECT balance_cents FROM bill").fetchone()[0]
    assert [(name, quantity, price) for name, quantity, price, _, _ in lines] == [
        ("Consultation", 1, 250_000), ("Wound dressing", 2, 80_000)]
    assert {(source, source_id) for *_, source, source_id in lines} == {("consultation", consultation_id)}
    assert balance == 410_000


def test_a_note_whose_services_cannot_be_billed_is_not_signed(app, database_url, visit, staff, priced):
    consult, _ = priced
    doctor = Actor(staff["doctor"], "doctor")
    with app.app_context():
        consultation_id = records.start_consultation(visit, doctor).id
        records.add_service(consultation_id, consult, 1, doctor)
        records.save_note(consultation_id, 1, {"plan": "Review"}, doctor)
        db.session.execute(db.text("UPDATE service SET is_active = false"))  # withdrawn from the price list
        db.session.commit()
        with pytest.raises(DomainError):
            records.sign(consultation_id, new_key(), doctor)
        db.session.remove()
    assert count_rows(database_url, "bill_line") == 0
    with app.app_context():
        assert db.session.scalar(db.text("SELECT status FROM consultation")) == "draft"
