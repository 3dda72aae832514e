"""Patient fixtures: register patients through the service, as reception would."""
from __future__ import annotations

from datetime import date

import pytest

from portal.actor import Actor
from portal.patients import services
from portal.patients.forms import parse_patient_form


def patient_form(**overrides) -> dict:
    """A valid registration form, with overrides."""
    form = {"first_name": "Wanjiru", "middle_name": "", "last_name": "Nyambura",
            "date_of_birth": "1990-05-17", "sex": "female", "phone": "0712 345 678",
            "email": "", "national_id": "", "address": "", "next_of_kin_name": "",
            "next_of_kin_phone": "", "next_of_kin_relation": "", "allergies": "",
            "insurance_provider": "", "insurance_member_number": "",
            "consent_data_processing": "on"}
    form.update(overrides)
    return form


@pytest.fixture
def register(app):
    """Register a patient from form values (valid unless overridden); returns the Patient."""

    def make(reason: str = "", **overrides):
        parsed = parse_patient_form(patient_form(**overrides), date(2026, 11, 24))
        assert parsed.ok, parsed.errors
        with app.test_request_context():
            patient = services.register_patient(parsed.clean, Actor.system(), reason)
            return patient.id, patient.file_number

    return make
