"""Bad input on every records form: a clear message (422/404/409), nothing saved, never a 500."""
from __future__ import annotations

import pytest

from tests.helpers import admin_connection, csrf_from

from .helpers import signed, started

HUGE = "x" * 100_000
TABLES = ("vital_sign", "diagnosis", "prescription", "consultation_service", "addendum", "allergy",
          "record_access_grant")


def snapshot(database_url) -> dict:
    with admin_connection(database_url) as conn:
        counts = {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES}
        counts["note"] = conn.execute("SELECT array_agg(version || coalesce(plan, '') ORDER BY id) "
                                      "FROM consultation").fetchone()[0]
    return counts


@pytest.fixture
def draft(app, staff, visit, icd, services_list):
    return started(app, staff, visit)


def forms(visit, draft, patient):
    c = f"/records/consultations/{draft}"
    return [
        (f"/records/appointments/{visit}/vitals", {"temperature_c": HUGE}),
        (f"/records/appointments/{visit}/vitals", {"pulse_bpm": "8\x000"}),
        (f"/records/appointments/{visit}/vitals", {"spo2_pct": "-5"}),
        (f"/records/appointments/{visit}/vitals", {"weight_kg": "1e3"}),
        (f"/records/appointments/{visit}/vitals", {"height_cm": "١٧٠"}),
        (f"{c}/note", {"version": "1", "subjective": HUGE}),
        (f"{c}/note", {"version": "1", "plan": "\x00"}),
        (f"{c}/note", {"version": "99999999999999999999"}),
        (f"{c}/note", {"version": ""}),
        (f"{c}/note", {"version": "7", "plan": "stale"}),
        (f"{c}/diagnoses", {"code": "I10\x00"}),
        (f"{c}/diagnoses", {"code": "Z99.99"}),
        (f"{c}/diagnoses", {"code": "' OR 1=1 --"}),
        (f"{c}/diagnoses", {"text": HUGE}),
        (f"{c}/diagnoses", {}),
        (f"{c}/diagnoses", {"code": "I10", "rank": "tertiary"}),
        (f"{c}/prescriptions", {"drug": ""}),
        (f"{c}/prescriptions", {"drug": HUGE}),
        (f"{c}/prescriptions", {"drug": "Paracetamol", "quantity": "0"}),
        (f"{c}/prescriptions", {"drug": "Paracetamol", "quantity": "10\x00"}),
        (f"{c}/prescriptions", {"drug": "Paracetamol", "instructions": HUGE}),
        (f"{c}/services", {"service_id": "-1"}),
        (f"{c}/services", {"service_id": "99999999999999999999"}),
        (f"{c}/services", {"service_id": "987654"}),
        (f"{c}/services", {"service_id": "1", "quantity": "0"}),
        (f"{c}/addenda", {"reason": "Draft", "text": "not signed yet"}),
        (f"/records/patients/{patient}/allergies", {"substance": ""}),
        (f"/records/patients/{patient}/allergies", {"substance": "Latex", "severity": "deadly"}),
        (f"/records/patients/{patient}/allergies", {"substance": "Latex", "reaction": HUGE}),
        ("/records/patients/987654/allergies", {"substance": "Latex"}),
        ("/records/appointments/987654/vitals", {"pulse_bpm": "80"}),
        ("/records/consultations/987654/diagnoses", {"code": "I10"}),
        ("/records/consultations/987654/sign", {"key": "k" * 20}),
        (f"{c}/sign", {"key": "short"}),
        (f"{c}/sign", {"key": "k" * 20}),  # an empty note is not signed
    ]


@pytest.mark.parametrize("htmx", [False, True])
def test_every_form_refuses_bad_input_and_saves_nothing(app, client, login_as, staff, visit, draft, patient,
                                                        database_url, htmx):
    login_as("doctor")
    token = csrf_from(client.get(f"/records/appointments/{visit}").get_data(as_text=True))
    before = snapshot(database_url)
    for url, data in forms(visit, draft, patient):
        headers = {"X-CSRFToken": token, **({"HX-Request": "true"} if htmx else {})}
        response = client.post(url, data=data, headers=headers)
        body = response.get_data(as_text=True)
        assert response.status_code in (404, 409, 422), (url, data.keys(), response.status_code, body[:300])
        assert 'role="alert"' in body or "alert-error" in body or 'data-status="' in body, (url, body[:300])
        assert snapshot(database_url) == before, (url, data.keys())


def test_signed_note_refuses_every_change_with_a_clear_message(app, client, login_as, staff, visit, icd,
                                                               database_url):
    consultation_id = signed(app, staff, visit)
    login_as("doctor")
    token = csrf_from(client.get(f"/records/appointments/{visit}").get_data(as_text=True))
    before = snapshot(database_url)
    c = f"/records/consultations/{consultation_id}"
    for url, data in [(f"{c}/note", {"version": "2", "plan": "x"}), (f"{c}/diagnoses", {"code": "I10"}),
                      (f"{c}/prescriptions", {"drug": "Ibuprofen"}), (f"/records/appointments/{visit}/vitals",
                                                                      {"pulse_bpm": "70"})]:
        response = client.post(url, data=data, headers={"X-CSRFToken": token, "HX-Request": "true"})
        assert response.status_code == 409, (url, response.status_code)
        assert "signed" in response.get_data(as_text=True)
    assert snapshot(database_url) == before
