"""A follow-up booked from the consultation note through the schedule's booking rules."""
from __future__ import annotations

import re

from portal.extensions import db
from portal.models import Appointment, Slot
from tests.factories import book, make_slots
from tests.helpers import admin_connection, count_rows, csrf_from

from .conftest import make_patient
from .helpers import signed, started

HX = {"HX-Request": "true"}


def _post(client, url: str, data: dict, token: str):
    return client.post(url, data=data, headers={**HX, "X-CSRFToken": token})


def _picker(client, visit: int) -> tuple[str, str, str]:
    """The visit page's csrf token, follow-up key and first offered slot id."""
    body = client.get(f"/records/appointments/{visit}").get_data(as_text=True)
    form = body[body.index('id="follow-up-form"'):]
    key = re.search(r'name="key" value="([^"]+)"', form).group(1)
    return csrf_from(body), key, re.search(r'name="slot_id" value="(\d+)"', form).group(1)


def test_doctor_books_a_follow_up_from_the_note_and_it_shows_on_the_note_and_summary(
        app, client, login_as, staff, visit, doctors, database_url):
    slots = make_slots(app, doctors[0], day_offset=7, count=4)
    consultation_id = started(app, staff, visit)
    login_as("doctor")
    token, key, first = _picker(client, visit)
    assert first == str(slots[0])
    url = f"/records/consultations/{consultation_id}/follow-up"
    booked = _post(client, url, {"key": key, "slot_id": str(slots[1]), "doctor_id": str(doctors[0]),
                                 "reason": "Check the blood pressure"}, token)
    body = booked.get_data(as_text=True)
    assert booked.status_code == 200 and "data-follow-up=" in body and "Dr. Test One" in body
    again = _post(client, url, {"key": key, "slot_id": str(slots[1]), "doctor_id": str(doctors[0]),
                                "reason": "Check the blood pressure"}, token)
    assert again.status_code == 200  # a double tap books once
    assert count_rows(database_url, "follow_up") == 1
    with app.app_context():
        appointment = db.session.scalars(db.select(Appointment).where(Appointment.id != visit)).one()
        assert appointment.status == "booked" and appointment.reason == "Check the blood pressure"
        assert db.session.get(Slot, slots[1]).appointment_id == appointment.id
    # The slot just booked is no longer offered.
    page = client.get(f"/records/appointments/{visit}").get_data(as_text=True)
    assert f'name="slot_id" value="{slots[1]}"' not in page and f'data-follow-up="{appointment.id}"' in page

    # Signed notes keep their follow-ups, and the summary prints them.
    with app.app_context():
        from portal.idempotency import new_key
        from portal.records import services

        from .helpers import doctor
        services.save_note(consultation_id, 1, {"plan": "Amlodipine 5 mg"}, doctor(staff))
        services.sign(consultation_id, new_key(), doctor(staff))
    summary = client.get(f"/records/consultations/{consultation_id}/summary").get_data(as_text=True)
    assert "Follow-up" in summary and "Dr. Test One" in summary[summary.index("Follow-up"):]
    with admin_connection(database_url) as conn:
        events = [r[0] for r in conn.execute("SELECT action FROM audit_event WHERE action = 'records.follow_up.book'")]
    assert events == ["records.follow_up.book"]


def test_a_taken_slot_or_a_clash_is_refused_with_a_clear_message_and_nothing_saved(
        app, client, login_as, staff, visit, doctors, patient, database_url):
    slots = make_slots(app, doctors[0], day_offset=7, count=3)
    other_slots = make_slots(app, doctors[1], day_offset=7, count=3)
    consultation_id = started(app, staff, visit)
    login_as("doctor")
    token, key, _ = _picker(client, visit)
    book(app, [slots[0]], make_patient(app, "Other"), user_id=staff["reception"])  # taken meanwhile
    url = f"/records/consultations/{consultation_id}/follow-up"
    taken = _post(client, url, {"key": key, "slot_id": str(slots[0]), "doctor_id": str(doctors[0])}, token)
    body = taken.get_data(as_text=True)
    assert taken.status_code == 409 and "just taken" in body and 'id="follow-up-error"' in body
    assert f'name="slot_id" value="{slots[0]}"' not in body and f'name="slot_id" value="{slots[1]}"' in body

    book(app, [other_slots[1]], patient, user_id=staff["reception"])  # the patient is busy at 08:30
    clash = _post(client, url, {"key": key, "slot_id": str(slots[1]), "doctor_id": str(doctors[0])}, token)
    assert clash.status_code == 422 and "already has an appointment" in clash.get_data(as_text=True)

    none = _post(client, url, {"key": key, "doctor_id": str(doctors[0])}, token)
    assert none.status_code == 422 and "Choose a free time" in none.get_data(as_text=True)
    for bad in ({"slot_id": "abc"}, {"slot_id": str(slots[2]), "length": "9"},
                {"slot_id": str(slots[2]), "reason": "a\x00b"}, {"slot_id": str(slots[2]), "key": ""}):
        refused = _post(client, url, {"key": key, "doctor_id": str(doctors[0]), **bad}, token)
        assert refused.status_code == 422, (bad, refused.status_code)
    assert count_rows(database_url, "follow_up") == 0

    # Another doctor's free time is bookable too.
    other = _post(client, url, {"key": key, "slot_id": str(other_slots[2]), "doctor_id": str(doctors[1])}, token)
    assert other.status_code == 200 and "Dr. Test Two" in other.get_data(as_text=True)
    assert count_rows(database_url, "follow_up") == 1


def test_the_picker_lists_the_chosen_doctors_free_slots_and_nurses_cannot_book(
        app, client, login_as, staff, visit, doctors, database_url):
    other_slots = make_slots(app, doctors[1], day_offset=10, count=2)
    consultation_id = signed(app, staff, visit)
    login_as("doctor")
    from datetime import timedelta

    from portal import clinic_time
    day = (clinic_time.today() + timedelta(days=10)).isoformat()
    slots = client.get(f"/records/consultations/{consultation_id}/follow-up/slots?doctor_id={doctors[1]}&date={day}",
                       headers=HX)
    body = slots.get_data(as_text=True)
    assert slots.status_code == 200 and all(f'value="{i}"' in body for i in other_slots) and "Dr. Test Two" in body
    assert client.get(f"/records/consultations/{consultation_id}/follow-up/slots?date=2026-02-31",
                      headers=HX).status_code == 422
    client.post("/logout", data={"csrf_token": csrf_from(client.get("/records/waiting-room").get_data(as_text=True))})
    login_as("nurse")
    token = csrf_from(client.get(f"/records/appointments/{visit}").get_data(as_text=True))
    refused = _post(client, f"/records/consultations/{consultation_id}/follow-up",
                    {"key": "k" * 32, "slot_id": str(other_slots[0])}, token)
    assert refused.status_code == 403 and count_rows(database_url, "follow_up") == 0
