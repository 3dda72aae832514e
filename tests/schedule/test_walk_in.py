"""Walk-ins take the slot that is running now (or the next free one of any doctor); the desk can undo a check-in."""
from __future__ import annotations

from datetime import datetime, time, timedelta

import pytest

from portal import clinic_time
from portal.actor import Actor
from portal.domain import DomainError
from portal.extensions import db
from portal.idempotency import new_key
from portal.schedule import queries, services
from tests.conftest import csrf_from, login
from tests.schedule.conftest import assert_invariants, count


def _tomorrow_at(hour: int, minute: int) -> datetime:
    return datetime.combine(clinic_time.today() + timedelta(days=1), time(hour, minute), tzinfo=clinic_time.zone())


@pytest.fixture
def at_ten_past_eight(app):
    """The clock at 08:10 tomorrow: the doctors' first 30-minute slot (08:00) is running."""
    with app.app_context():
        at = _tomorrow_at(8, 10)
    with clinic_time.frozen(at):
        yield at


def test_a_walk_in_books_the_running_slot_and_a_normal_booking_may_not(app, slots, doctors, patients,
                                                                        at_ten_past_eight, staff):
    running, finished_at = slots[doctors[0]][0], _tomorrow_at(8, 30)
    with app.app_context():
        with pytest.raises(DomainError, match="already passed"):
            services.book([running], patients[0], None, Actor(staff["reception"], "reception"), new_key())
        result = services.book([running], patients[0], "Walk-in", Actor(staff["reception"], "reception"),
                               new_key(), walk_in=True)
        assert result.created
    with app.app_context(), clinic_time.frozen(finished_at):  # once it has ended, not even a walk-in
        with pytest.raises(DomainError, match="already passed"):
            services.book([slots[doctors[1]][0]], patients[1], None, Actor.system(), new_key(), walk_in=True)
    assert count(app, "SELECT count(*) FROM appointment") == 1
    assert_invariants(app)


def test_the_next_free_slot_is_the_running_one_then_the_soonest_of_any_doctor(app, slots, doctors, patients,
                                                                               at_ten_past_eight):
    day = at_ten_past_eight.date()
    with app.app_context():
        first = queries.next_free_slot(day)
        assert first in (slots[doctors[0]][0], slots[doctors[1]][0])
        services.book([slots[doctors[0]][0]], patients[0], None, Actor.system(), new_key(), walk_in=True)
        services.book([slots[doctors[1]][0]], patients[1], None, Actor.system(), new_key(), walk_in=True)
        assert queries.next_free_slot(day) in (slots[doctors[0]][1], slots[doctors[1]][1])  # 08:30
        assert queries.next_free_slot(day, "Aesthetics") == slots[doctors[1]][1]
        db.session.remove()


def test_walk_in_button_opens_the_booking_form_for_the_running_slot(app, client, login_as, slots, doctors,
                                                                    patients, at_ten_past_eight):
    desk = login_as("reception")
    form = desk.get("/schedule/walk-in", headers={"HX-Request": "true"})
    body = form.get_data(as_text=True)
    assert form.status_code == 200 and 'id="walk-in-note"' in body and 'name="walk_in" value="1"' in body
    slot_id = int(body.split('name="slot_id" value="')[1].split('"')[0])
    assert slot_id in (slots[doctors[0]][0], slots[doctors[1]][0])
    booked = desk.post("/schedule/book", headers={"HX-Request": "true"},
                       data={"slot_id": slot_id, "length": "1", "patient_id": patients[0], "walk_in": "1",
                             "key": new_key(), "csrf_token": csrf_from(body)})
    assert booked.status_code == 200
    assert count(app, "SELECT count(*) FROM appointment WHERE status = 'booked'") == 1
    nurse = app.test_client()
    login(nurse, "nurse1")
    assert nurse.get("/schedule/walk-in").status_code == 403


def test_no_free_slot_left_today_is_said_plainly(app, login_as, doctors):
    response = login_as("reception").get("/schedule/walk-in")
    assert response.status_code == 404 and "No doctor has a free slot left today." in response.get_data(as_text=True)


def test_the_desk_undoes_a_mistaken_check_in_with_a_reason(app, login_as, slots, doctors, patients, staff):
    desk = Actor(staff["reception"], "reception")
    with app.app_context():
        booked = services.book(slots[doctors[0]][:1], patients[0], None, desk, new_key())
        services.change_status(booked.appointment_id, "confirmed", desk)
        services.change_status(booked.appointment_id, "checked_in", Actor(staff["nurse"], "nurse"))
        with pytest.raises(DomainError, match="Only the desk"):
            services.undo_check_in(booked.appointment_id, "wrong patient", Actor(staff["nurse"], "nurse"))
        with pytest.raises(DomainError, match="Enter reason"):
            services.undo_check_in(booked.appointment_id, "  ", desk)
        db.session.remove()
    client = login_as("reception")
    panel = client.get(f"/schedule/appointments/{booked.appointment_id}").get_data(as_text=True)
    assert "Undo the check-in" in panel
    undone = client.post(f"/schedule/appointments/{booked.appointment_id}/undo-check-in",
                         data={"reason": "Checked in the wrong John Kamau", "csrf_token": csrf_from(panel)},
                         headers={"HX-Request": "true"})
    assert undone.status_code == 200 and "Check-in undone." in undone.get_data(as_text=True)
    assert count(app, "SELECT status FROM appointment WHERE id = :a", a=booked.appointment_id) == "confirmed"
    assert count(app, "SELECT note FROM appointment_event WHERE action = 'check_in_undone'") == \
        "Checked in the wrong John Kamau"
    again = client.post(f"/schedule/appointments/{booked.appointment_id}/undo-check-in",
                        data={"reason": "twice", "csrf_token": csrf_from(panel)}, headers={"HX-Request": "true"})
    assert again.status_code == 409


def _booking_form(client, slot_id: int) -> str:
    return client.get(f"/schedule/slots/{slot_id}/book", headers={"HX-Request": "true"}).get_data(as_text=True)


NEW_PATIENT = {"first_name": "Zawadi", "last_name": "Chebet", "date_of_birth": "12/03/1994", "sex": "female",
               "phone": "0722 111 333", "consent_data_processing": "on"}


def test_an_unknown_patient_is_registered_from_the_booking_panel_and_booked(app, login_as, slots, doctors):
    desk = login_as("reception")
    form = _booking_form(desk, slots[doctors[0]][2])
    assert "Register and book" in form
    data = {"slot_id": slots[doctors[0]][2], "length": "1", "reason": "New client consult", "key": new_key(),
            "csrf_token": csrf_from(form)}
    bad = desk.post("/schedule/book/new-patient", headers={"HX-Request": "true"},
                    data={**data, **NEW_PATIENT, "phone": "12345", "date_of_birth": "31/02/1994"})
    body = bad.get_data(as_text=True)
    assert bad.status_code == 422 and 'id="new-error-phone"' in body and 'id="new-error-date_of_birth"' in body
    assert 'value="Zawadi"' in body and "New client consult" in body  # nothing typed is lost
    assert count(app, "SELECT count(*) FROM patient") == 0
    booked = desk.post("/schedule/book/new-patient", headers={"HX-Request": "true"}, data={**data, **NEW_PATIENT})
    assert booked.status_code == 200, booked.get_data(as_text=True)
    assert count(app, "SELECT count(*) FROM patient WHERE first_name = 'Zawadi' AND phone = '+254722111333'") == 1
    assert count(app, "SELECT count(*) FROM appointment a JOIN patient p ON p.id = a.patient_id "
                      "WHERE p.first_name = 'Zawadi' AND a.reason = 'New client consult'") == 1


def test_registering_from_the_panel_offers_a_likely_duplicate_instead(app, login_as, slots, doctors):
    desk = login_as("reception")
    form = _booking_form(desk, slots[doctors[0]][2])
    first = {"slot_id": slots[doctors[0]][2], "length": "1", "key": new_key(), "csrf_token": csrf_from(form)}
    assert desk.post("/schedule/book/new-patient", headers={"HX-Request": "true"},
                     data={**first, **NEW_PATIENT}).status_code == 200
    again = {**first, "slot_id": slots[doctors[0]][4], "key": new_key()}
    twice = desk.post("/schedule/book/new-patient", headers={"HX-Request": "true"}, data={**again, **NEW_PATIENT})
    body = twice.get_data(as_text=True)
    assert twice.status_code == 409 and 'id="new-patient-duplicates"' in body
    assert 'name="patient_id" value="' in body  # the existing patient is offered as a choice
    assert count(app, "SELECT count(*) FROM patient") == 1 and count(app, "SELECT count(*) FROM appointment") == 1
