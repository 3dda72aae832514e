"""The visit over HTTP: vitals, starting, autosave, diagnoses, prescriptions, services, signing, addenda, prints."""
from __future__ import annotations

import re

import pytest

from portal.extensions import db
from portal.models import Appointment, Consultation
from tests.helpers import admin_connection, count_rows, csrf_from

from .helpers import signed, started

pytestmark = pytest.mark.pgbouncer  # run again through PgBouncer by make test

HX = {"HX-Request": "true"}


def page(client, url: str):
    response = client.get(url)
    return response, response.get_data(as_text=True)


def post(client, url: str, data: dict, htmx: bool = True, token: str | None = None):
    headers = dict(HX) if htmx else {}
    if token:
        headers["X-CSRFToken"] = token
    return client.post(url, data=data, headers=headers)


def token_for(client, url: str) -> str:
    return csrf_from(client.get(url).get_data(as_text=True))


def test_nurse_records_vitals_abnormal_flagged_impossible_refused(app, client, login_as, staff, visit, database_url):
    login_as("nurse")
    url = f"/records/appointments/{visit}"
    response, body = page(client, url)
    assert response.status_code == 200 and "Penicillin (rash)" in body and "Record vital signs" in body
    token = csrf_from(body)
    ok = post(client, f"{url}/vitals", {"temperature_c": "38,6", "pulse_bpm": "88", "systolic_mmhg": "120",
                                        "diastolic_mmhg": "80", "spo2_pct": "97", "weight_kg": "70",
                                        "height_cm": "175"}, token=token)
    text = ok.get_data(as_text=True)
    assert ok.status_code == 200 and "38.6" in text and "abnormal-high" in text and "22.9" in text  # BMI
    for bad, message in [({"temperature_c": "60"}, "not possible"), ({"pulse_bpm": "١٢٠"}, "whole number"),
                         ({"temperature_c": "37\x00"}, "number"), ({"systolic_mmhg": "80", "diastolic_mmhg": "120"},
                                                                   "higher than the diastolic"),
                         ({"systolic_mmhg": "120"}, "both"), ({}, "at least one"),
                         ({"weight_kg": "9" * 5000}, "number"), ({"pain_score": "11"}, "not possible")]:
        refused = post(client, f"{url}/vitals", bad, token=token)
        assert refused.status_code == 422, (bad, refused.status_code)
        assert message in refused.get_data(as_text=True), (bad, refused.get_data(as_text=True)[:400])
    assert count_rows(database_url, "vital_sign") == 1
    second = post(client, f"{url}/vitals", {"pulse_bpm": "72"}, token=token)
    assert second.status_code == 200 and count_rows(database_url, "vital_sign") == 2
    with admin_connection(database_url) as conn:
        row = conn.execute("SELECT temperature_c, pulse_bpm, recorded_by_id FROM vital_sign "
                           "ORDER BY id LIMIT 1").fetchone()
        assert str(row[0]) == "38.6" and row[1] == 88 and row[2] == staff["nurse"]
        actions = [r[0] for r in conn.execute("SELECT action FROM audit_event ORDER BY id")]
    assert actions.count("records.vitals.create") == 2 and actions.count("records.visit.view") == 1


def test_doctor_consultation_from_start_to_signature(app, client, login_as, staff, visit, icd, services_list,
                                                     database_url):
    login_as("doctor")
    url = f"/records/appointments/{visit}"
    response, body = page(client, url)
    assert response.status_code == 200 and "Start consultation" in body and "Penicillin (rash)" in body
    token = csrf_from(body)
    start = post(client, f"{url}/start", {}, token=token)
    assert start.status_code == 204 and start.headers["HX-Redirect"].startswith(url)
    with app.app_context():
        assert db.session.get(Appointment, visit).status == "in_consultation"
        consultation_id = db.session.query(Consultation.id).scalar()
    response, body = page(client, url)
    assert 'id="note-form"' in body and 'value="1"' in body
    note_url = f"/records/consultations/{consultation_id}"
    saved = post(client, f"{note_url}/note", {"version": "1", "subjective": "Headache for a week",
                                              "assessment": "Hypertension", "plan": "Amlodipine"}, token=token)
    assert saved.status_code == 200 and "Saved at" in saved.get_data(as_text=True)
    assert 'id="note-version" value="2"' in saved.get_data(as_text=True)
    stale = post(client, f"{note_url}/note", {"version": "1", "subjective": "Other tab text"}, token=token)
    stale_body = stale.get_data(as_text=True)
    assert stale.status_code == 409 and "Other tab text" in stale_body and "Headache for a week" in stale_body

    unknown = post(client, f"{note_url}/diagnoses", {"code": "X99.9"}, token=token)
    assert unknown.status_code == 422 and "not an ICD-10 code" in unknown.get_data(as_text=True)
    assert post(client, f"{note_url}/diagnoses", {"code": "I10", "rank": "primary"}, token=token).status_code == 200
    free = post(client, f"{note_url}/diagnoses", {"text": "Stress at work", "rank": "secondary"}, token=token)
    assert free.status_code == 200 and "Stress at work" in free.get_data(as_text=True)

    line = {"drug": "Amoxicillin", "strength": "500 mg", "dose": "1 capsule", "route": "oral",
            "frequency": "3 times a day", "duration": "5 days", "quantity": "15"}
    warned = post(client, f"{note_url}/prescriptions", line, token=token)
    warned_body = warned.get_data(as_text=True)
    assert warned.status_code == 422 and "Penicillin" in warned_body and 'name="confirm_allergy"' in warned_body
    assert count_rows(database_url, "prescription") == 0
    confirmed = post(client, f"{note_url}/prescriptions", {**line, "confirm_allergy": "1"}, token=token)
    assert confirmed.status_code == 200 and "Recorded allergy" in confirmed.get_data(as_text=True)
    bad_qty = post(client, f"{note_url}/prescriptions", {**line, "drug": "Paracetamol", "quantity": "-3"}, token=token)
    assert bad_qty.status_code == 422 and count_rows(database_url, "prescription") == 1

    assert post(client, f"{note_url}/services", {"service_id": str(services_list[0])}, token=token).status_code == 200
    gone = post(client, f"{note_url}/services", {"service_id": "987654"}, token=token)
    assert gone.status_code == 422 and "price list" in gone.get_data(as_text=True)

    _, body = page(client, url)
    key = re.search(r'name="key" value="([^"]+)"', body).group(1)
    signed_response = post(client, f"{note_url}/sign", {"key": key}, token=token)
    assert signed_response.status_code == 204
    again = post(client, f"{note_url}/sign", {"key": key}, token=token)
    assert again.status_code == 204  # the same answer: signed once
    _, body = page(client, url)
    assert "Signed by Test Doctor" in body and "Content check: intact" in body and 'id="note-form"' not in body
    with app.app_context():
        assert db.session.get(Appointment, visit).status == "completed"
    late = post(client, f"{note_url}/note", {"version": "2", "plan": "changed"}, token=token)
    assert late.status_code == 409

    no_reason = post(client, f"{note_url}/addenda", {"text": "BP rechecked"}, token=token)
    assert no_reason.status_code == 422 and count_rows(database_url, "addendum") == 0
    for reason in ("Second reading", "Lab result"):
        assert post(client, f"{note_url}/addenda", {"reason": reason, "text": "More"}, token=token).status_code == 200
    _, body = page(client, url)
    assert body.index("Second reading") < body.index("Lab result")

    summary, summary_body = page(client, f"{note_url}/summary")
    assert summary.status_code == 200 and "Visit summary" in summary_body and "I10" in summary_body
    rx, rx_body = page(client, f"{note_url}/prescription")
    assert rx.status_code == 200 and "Amoxicillin" in rx_body and "Dr. Test One" in rx_body

    with admin_connection(database_url) as conn:
        actions = [r[0] for r in conn.execute("SELECT action FROM audit_event ORDER BY id")]
    for action in ("records.consultation.start", "records.note.save", "records.diagnosis.add",
                   "records.prescription.add", "records.service.add", "records.consultation.sign",
                   "records.addendum.add", "records.print.summary", "records.print.prescription"):
        assert action in actions, action
    assert actions.count("records.consultation.sign") == 1


def test_a_changed_signed_note_is_flagged(app, client, login_as, staff, visit, database_url):
    consultation_id = signed(app, staff, visit)
    with admin_connection(database_url) as conn:  # a superuser goes around the trigger
        conn.execute("ALTER TABLE consultation DISABLE TRIGGER consultation_frozen")
        conn.execute("UPDATE consultation SET plan = 'Tampered' WHERE id = %s", (consultation_id,))
        conn.execute("ALTER TABLE consultation ENABLE TRIGGER consultation_frozen")
        conn.commit()
    login_as("doctor")
    _, body = page(client, f"/records/appointments/{visit}")
    assert 'id="hash-mismatch"' in body and "Tampered" in body


def test_nurse_sees_plan_and_prescriptions_but_not_the_note(app, client, login_as, staff, visit):
    signed(app, staff, visit, plan="Review in two weeks")
    login_as("nurse")
    _, body = page(client, f"/records/appointments/{visit}")
    assert "Review in two weeks" in body and "Tension headache" not in body and "Headache" not in body


def test_reception_and_admin_see_no_clinical_content(app, client, login_as, staff, visit):
    signed(app, staff, visit)
    for role in ("reception", "admin"):
        login_as(role)
        for url in (f"/records/appointments/{visit}", "/records/icd10?q=I10"):
            response = client.get(url)
            assert response.status_code == 403, (role, url)
            assert "Tension headache" not in response.get_data(as_text=True)
        allergies = client.get("/records/patients/1/allergies")
        assert allergies.status_code == 200 and "Penicillin" in allergies.get_data(as_text=True)
        assert 'id="add-allergy"' not in allergies.get_data(as_text=True)
        client.post("/logout", data={"csrf_token": token_for(client, "/records/waiting-room")})


def test_another_doctors_patient_needs_a_recorded_reason(app, client, login_as, staff, doctors, database_url):
    from .conftest import make_appointment, make_patient
    other = make_patient(app, "Baraka", allergies=None)
    appointment_id = make_appointment(app, other, doctors[1])
    login_as("doctor")
    response, body = page(client, f"/records/appointments/{appointment_id}")
    assert response.status_code == 403 and "not under your care" in body
    token = csrf_from(body)
    empty = post(client, f"/records/patients/{other}/break-glass", {"reason": " "}, htmx=False, token=token)
    assert empty.status_code == 422 and count_rows(database_url, "record_access_grant") == 0
    opened = post(client, f"/records/patients/{other}/break-glass",
                  {"reason": "Covering the ward", "back": f"/records/appointments/{appointment_id}"}, htmx=False,
                  token=token)
    assert opened.status_code == 303 and opened.headers["Location"].endswith(f"/records/appointments/{appointment_id}")
    assert client.get(f"/records/appointments/{appointment_id}").status_code == 200
    with admin_connection(database_url) as conn:
        row = conn.execute("SELECT detail->>'reason' FROM audit_event WHERE action = 'records.break_glass'").fetchone()
    assert row[0] == "Covering the ward"


def test_allergies_are_added_and_changed_by_clinical_staff_audited(app, client, login_as, staff, patient, database_url):
    login_as("nurse")
    token = token_for(client, "/records/waiting-room")
    added = post(client, f"/records/patients/{patient}/allergies",
                 {"substance": "Sulfa drugs", "reaction": "hives", "severity": "moderate"}, token=token)
    assert added.status_code == 200 and "Sulfa drugs" in added.get_data(as_text=True)
    huge = post(client, f"/records/patients/{patient}/allergies", {"substance": "x" * 500}, token=token)
    nul = post(client, f"/records/patients/{patient}/allergies", {"substance": "La\x00tex"}, token=token)
    assert huge.status_code == 422 and nul.status_code == 422 and count_rows(database_url, "allergy") == 1
    with admin_connection(database_url) as conn:
        allergy_id = conn.execute("SELECT id FROM allergy").fetchone()[0]
    changed = post(client, f"/records/allergies/{allergy_id}", {"substance": "Sulfa drugs", "reaction": "anaphylaxis",
                                                               "severity": "severe"}, token=token)
    assert changed.status_code == 200 and "anaphylaxis" in changed.get_data(as_text=True)
    assert post(client, "/records/allergies/987654", {"substance": "x"}, token=token).status_code == 404
    with admin_connection(database_url) as conn:
        events = conn.execute("SELECT action, detail FROM audit_event WHERE action LIKE 'records.allergy%%' "
                              "ORDER BY id").fetchall()
    assert [e[0] for e in events] == ["records.allergy.add", "records.allergy.change"]
    assert events[1][1]["before"]["reaction"] == "hives"


def test_wrong_ids_are_404_not_500(app, client, login_as, staff, visit):
    consultation_id = started(app, staff, visit)
    login_as("doctor")
    token = token_for(client, f"/records/appointments/{visit}")
    assert client.get("/records/appointments/987654").status_code == 404
    assert post(client, "/records/consultations/987654/note", {"version": "1"}, token=token).status_code == 404
    assert post(client, f"/records/consultations/{consultation_id}/diagnoses/987654/remove", {},
                token=token).status_code == 404
    assert post(client, f"/records/consultations/{consultation_id}/note", {"version": "abc"},
                token=token).status_code == 422
    assert post(client, f"/records/consultations/{consultation_id}/note",
                {"version": "1", "plan": "x" * 20_001}, token=token).status_code == 422
    assert post(client, f"/records/consultations/{consultation_id}/note",
                {"version": "1", "plan": "a\x00b"}, token=token).status_code == 422
    assert post(client, f"/records/consultations/{consultation_id}/services", {"service_id": "x"},
                token=token).status_code == 422
