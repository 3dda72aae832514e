"""The clinical half of a visit in Chromium: the nurse records vitals on a landscape tablet; the doctor,
on a portrait tablet, sees the allergy, writes a note that autosaves, survives an expired session,
signs, adds an addendum and opens the printable summary."""
import re

import pytest

from portal.extensions import db
from portal.models import Doctor
from tests.e2e.browser import layout_problems, save_screenshot, sign_in
from tests.factories import make_slots
from tests.records.conftest import ICD_SAMPLE, make_appointment, make_patient


@pytest.fixture
def doctors(app, staff):
    with app.app_context():
        doctor = Doctor(user_id=staff["doctor"], name="Dr. Test One", licence_number="KMPDC-E1",
                        specialisation="General practice")
        db.session.add(doctor)
        db.session.commit()
        return [doctor.id]


def test_nurse_vitals_then_doctor_note_autosave_expired_session_and_sign(new_page, base_url, app, staff, doctors):
    from portal.records.services import load_icd10
    with app.app_context():
        load_icd10(ICD_SAMPLE)
    patient_id = make_patient(app, "Wanjiru")
    visit = make_appointment(app, patient_id, doctors[0], status="booked", hours_from_now=-0.05)
    follow_up_slots = make_slots(app, doctors[0], day_offset=7, count=4)
    url = f"{base_url}/records/appointments/{visit}"

    # The nurse checks the patient in from the waiting room in one click, without a reload.
    nurse = sign_in(new_page(viewport=(1024, 768)), base_url, "nurse1")
    nurse.goto(f"{base_url}/records/waiting-room")
    nurse.evaluate("window.notReloaded = true")
    nurse.click(f"button[data-check-in='{visit}']")
    row = nurse.wait_for_selector(f"tr[data-appointment='{visit}']")
    assert row.get_attribute("data-stage") == "waiting for vitals"
    assert nurse.evaluate("window.notReloaded") is True
    assert nurse.locator(f"tr[data-expected='{visit}']").count() == 0
    save_screenshot(nurse, "records-waiting-room-landscape")
    nurse.click(f"tr[data-appointment='{visit}'] a")
    nurse.wait_for_url(url)
    assert "Penicillin (rash)" in nurse.inner_text("#allergies")
    nurse.fill("#vital-temperature_c", "38.4")
    nurse.fill("#vital-pulse_bpm", "96")
    nurse.fill("#vital-systolic_mmhg", "128")
    nurse.fill("#vital-diastolic_mmhg", "82")
    nurse.click("#save-vitals")
    nurse.wait_for_selector("tr[data-reading] td.abnormal-high")
    nurse.click(".vitals-form summary")
    nurse.fill("#vital-spo2_pct", "30")
    nurse.click("#save-vitals")
    nurse.wait_for_selector("#vitals-error:has-text('not possible')")
    assert nurse.locator("tr[data-reading]").count() == 1
    assert layout_problems(nurse) == []
    assert nurse.console.csp_violations() == []

    doctor_page = new_page(viewport=(768, 1024))
    doctor = sign_in(doctor_page, base_url, "doctor1")
    doctor.goto(url)
    assert "Penicillin (rash)" in doctor.inner_text("#allergies")
    doctor.click("#start-consultation")
    try:
        doctor.wait_for_selector("#note-form")
    except Exception:
        print(doctor.console.messages, doctor.url, doctor.inner_text("main")[:2000])
        raise
    doctor.fill("#note-subjective", "Fever and sore throat for three days")
    doctor.wait_for_selector("#save-status:has-text('Saved at')")

    # The session expires while the doctor types: signing in again brings back the text.
    doctor.context.clear_cookies()
    doctor.fill("#note-plan", "Paracetamol, fluids, review in 3 days")
    doctor.wait_for_url(re.compile(r"/login\?next="))
    doctor.fill("input[name=username]", "doctor1")
    doctor.fill("input[name=password]", "correct-horse-battery")
    doctor.click("button[type=submit]")
    doctor.wait_for_url(url)
    doctor.wait_for_selector("#save-status:has-text('Saved at')")
    assert doctor.input_value("#note-plan") == "Paracetamol, fluids, review in 3 days"
    assert doctor.input_value("#note-subjective") == "Fever and sore throat for three days"
    doctor.reload()
    assert doctor.input_value("#note-plan") == "Paracetamol, fluids, review in 3 days"

    doctor.fill("#note-assessment", "Viral pharyngitis")
    doctor.wait_for_selector("#save-status[data-version='4']")

    # A coded diagnosis found as the doctor types, and a prescription line that matches the allergy.
    doctor.fill("#icd-search", "upper resp")
    doctor.wait_for_selector("#icd-options input[value='J06.9']")
    doctor.check("#icd-options input[value='J06.9']")
    doctor.click("#add-diagnosis")
    doctor.wait_for_selector("li[data-diagnosis]:has-text('J06.9')")
    doctor.click("#prescriptions summary")
    doctor.fill("#rx-drug", "Amoxicillin")
    doctor.fill("#prescriptions input[name=strength]", "500 mg")
    doctor.click("#add-prescription")
    doctor.wait_for_selector("#prescriptions-error:has-text('Penicillin')")
    doctor.check("#confirm-allergy")
    doctor.click("#add-prescription")
    doctor.wait_for_selector("tr[data-prescription]:has-text('Recorded allergy')")
    # The follow-up books into the schedule from the note.
    doctor.wait_for_selector(f"#follow-up-slots input[value='{follow_up_slots[1]}']")
    doctor.check(f"#follow-up-slots input[value='{follow_up_slots[1]}']")
    doctor.click("#book-follow-up")
    doctor.wait_for_selector("li[data-follow-up]:has-text('Dr. Test One')")
    assert layout_problems(doctor) == []
    save_screenshot(doctor, "records-note-portrait")
    doctor.set_viewport_size({"width": 1024, "height": 768})
    assert layout_problems(doctor) == []
    save_screenshot(doctor, "records-note-landscape")
    doctor.set_viewport_size({"width": 768, "height": 1024})
    doctor.click("#sign-note")
    doctor.wait_for_selector("#signature:has-text('Signed by')")
    assert "intact" in doctor.inner_text("#signature")
    assert doctor.locator("#note-form").count() == 0

    doctor.click("#addenda summary")
    doctor.fill("#addendum-reason", "Throat swab result")
    doctor.fill("#addendum-text", "Negative for strep.")
    doctor.click("#add-addendum")
    doctor.wait_for_selector("li[data-addendum]:has-text('Throat swab result')")

    doctor.click("#print-summary")
    doctor.wait_for_selector("#visit-summary")
    doctor.emulate_media(media="print")
    assert doctor.locator(".site-header").is_hidden()
    assert "Viral pharyngitis" in doctor.inner_text("#visit-summary")
    assert "Dr. Test One" in doctor.inner_text("#summary-follow-up")
    pdf = doctor.pdf(format="A4")
    assert pdf[:4] == b"%PDF"
    assert doctor.console.csp_violations() == []
