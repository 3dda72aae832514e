"""The day grid, booking over HTTP, the poll, appointment actions, the tablet view and access by role."""
from __future__ import annotations

import html
import re

import pytest
from sqlalchemy import text

from portal import clinic_time
from portal.actor import Actor
from portal.extensions import db
from portal.idempotency import new_key
from portal.web import WROTE_AT_COOKIE
from tests.factories import make_doctor, make_slots
from tests.helpers import assert_invariants, count, csrf_from, login

# An htmx request from the day grid's side panel.
HX = {"HX-Request": "true", "HX-Target": "panel", "HX-Current-URL": "http://localhost/schedule/?date=2030-01-01"}


def tomorrow(app):
    with app.app_context():
        return (clinic_time.today().fromordinal(clinic_time.today().toordinal() + 1)).isoformat()


def token(client) -> str:
    return csrf_from(client.get("/schedule/").get_data(as_text=True))


def post_booking(client, slot_id, patient_id, key=None, length=1, csrf=None, **extra):
    data = {"slot_id": slot_id, "patient_id": patient_id, "length": length, "reason": "check",
            "key": new_key() if key is None else key, "csrf_token": csrf or token(client), **extra}
    return client.post("/schedule/book", data=data, headers=HX)


def test_day_grid_shows_doctors_slots_and_booking(app, login_as, slots, patients):
    client = login_as("reception")
    ids = next(iter(slots.values()))
    post_booking(client, ids[0], patients[0])
    page = client.get(f"/schedule/?date={tomorrow(app)}").get_data(as_text=True)
    assert "Dr. Test One" in page and "Dr. Test Two" in page
    assert page.count('data-state="free"') == 31 and page.count('data-state="booked"') == 1
    assert "Pat0 Tester" in page and 'id="grid"' in page
    assert "schedule.css" in page and "schedule.js" in page


def test_pushed_url_renders_full_page_and_fragment_for_htmx(app, login_as, slots):
    client = login_as("reception")
    full = client.get(f"/schedule/?date={tomorrow(app)}").get_data(as_text=True)
    part = client.get(f"/schedule/?date={tomorrow(app)}", headers=HX).get_data(as_text=True)
    assert "<html" in full and "<html" not in part and 'id="day"' in part


@pytest.mark.parametrize("bad", ["2025-02-30", "yesterday", "9999-12-31", "2025-13-01", "x" * 300])
def test_bad_dates_get_a_clear_message(login_as, bad):
    response = login_as("reception").get(f"/schedule/?date={bad}")
    assert response.status_code == 422
    assert "is not a date" in response.get_data(as_text=True)


def columns(page: str) -> list[str]:
    return re.findall(r'<th scope="col">([^<]+)<small>', page)


def test_grid_shows_the_doctors_working_that_day_and_filters_by_specialisation(app, login_as, doctors):
    make_slots(app, doctors[0], count=4)  # Dr. Test Two has no slots tomorrow
    client = login_as("reception")
    page = client.get(f"/schedule/?date={tomorrow(app)}").get_data(as_text=True)
    assert columns(page) == ["Dr. Test One"]
    make_slots(app, doctors[1], count=4)
    page = client.get(f"/schedule/?date={tomorrow(app)}").get_data(as_text=True)
    assert columns(page) == ["Dr. Test One", "Dr. Test Two"]
    assert '<option >Aesthetics</option>' in page and '<option >General surgery</option>' in page

    only = client.get(f"/schedule/?date={tomorrow(app)}&spec=Aesthetics").get_data(as_text=True)
    assert columns(only) == ["Dr. Test Two"] and "<option selected>Aesthetics</option>" in only
    assert "spec=Aesthetics" in re.search(r'id="grid"[^>]*hx-get="([^"]+)"', only).group(1)  # the poll keeps it
    day_links = re.findall(r'data-nav="\d"[^>]*hx-get="([^"]+)"', only)
    assert len(day_links) == 3 and all("spec=Aesthetics" in href for href in day_links)
    poll = client.get(f"/schedule/grid?date={tomorrow(app)}&spec=Aesthetics", headers=HX).get_data(as_text=True)
    assert columns(poll) == ["Dr. Test Two"]
    none = client.get(f"/schedule/?date={tomorrow(app)}&spec=Dermatology").get_data(as_text=True)
    assert columns(none) == [] and "No doctor of Dermatology works on" in none


def test_forty_doctors_all_get_a_column_and_a_bound_beyond_that_is_said_not_hidden(app, login_as, monkeypatch):
    """The grid scrolls sideways (names and times sticky), so it no longer stops at 30 doctors."""
    from portal.schedule import queries, views
    ids = [make_doctor(app, f"Dr. Many {i:02d}", f"MANY-{i}", "Aesthetics" if i < 5 else "General surgery")
           for i in range(42)]
    for doctor_id in ids:
        make_slots(app, doctor_id, count=2)
    client = login_as("reception")
    page = client.get(f"/schedule/?date={tomorrow(app)}").get_data(as_text=True)
    assert len(columns(page)) == 42 and "Showing" not in page
    some = client.get(f"/schedule/?date={tomorrow(app)}&spec=Aesthetics").get_data(as_text=True)
    assert len(columns(some)) == 5 and "Showing" not in some
    monkeypatch.setattr(queries, "MAX_DOCTORS_ON_GRID", 30)  # the bound that keeps one page finite
    app.extensions.pop(views._GRID_HTML, None)  # a new bound is a new release: nothing drawn before it is kept
    page = client.get(f"/schedule/?date={tomorrow(app)}").get_data(as_text=True)
    assert len(columns(page)) == 30 and "Showing 30 of 42 doctors working this day" in page


def test_a_huge_specialisation_is_refused_clearly(login_as):
    response = login_as("reception").get("/schedule/?spec=" + "x" * 10_000)
    assert response.status_code == 422 and "specialisation is not valid" in response.get_data(as_text=True)


def test_patient_id_preselects_patient(app, login_as, slots, patients):
    client = login_as("reception")
    page = client.get(f"/schedule/?date={tomorrow(app)}&patient_id={patients[3]}").get_data(as_text=True)
    assert "Booking for <strong>Pat3 Tester</strong>" in page
    slot_id = next(iter(slots.values()))[0]
    assert f"/schedule/slots/{slot_id}/book?patient_id={patients[3]}" in page
    form = client.get(f"/schedule/slots/{slot_id}/book?patient_id={patients[3]}", headers=HX).get_data(as_text=True)
    assert re.search(rf'value="{patients[3]}" checked', form)
    assert client.get("/schedule/?patient_id=abc").status_code == 422
    assert client.get("/schedule/?patient_id=99999").status_code == 404


def test_book_over_http_then_just_taken_keeps_input(app, login_as, slots, patients):
    client = login_as("reception")
    ids = next(iter(slots.values()))
    ok = post_booking(client, ids[1], patients[0])
    body = ok.get_data(as_text=True)
    assert ok.status_code == 200 and "Booked" in body
    assert f'id="cell-{ids[1]}"' in body and 'hx-swap-oob="true"' in body and 'data-state="booked"' in body
    taken = post_booking(client, ids[1], patients[1], reason="keep this text")
    body = taken.get_data(as_text=True)
    assert taken.status_code == 409
    assert "just taken" in body and "keep this text" in body
    assert re.search(rf'value="{patients[1]}" checked', body)
    assert f'id="cell-{ids[1]}"' in body and 'data-state="booked"' in body  # the refreshed cell
    assert '<option value="%d" selected>' % ids[2] in body  # the next free time is offered first
    assert count(app, "SELECT count(*) FROM appointment") == 1


def test_double_submit_same_key_returns_first_result(app, login_as, slots, patients):
    client = login_as("reception")
    ids = next(iter(slots.values()))
    key = new_key()
    first = post_booking(client, ids[0], patients[0], key=key)
    second = post_booking(client, ids[0], patients[0], key=key)
    assert first.status_code == second.status_code == 200
    assert "Already booked" in second.get_data(as_text=True)
    other = post_booking(client, ids[4], patients[0], key=key)
    assert other.status_code == 422 and "different details" in other.get_data(as_text=True)
    assert count(app, "SELECT count(*) FROM appointment") == 1


@pytest.mark.parametrize("field, value, message", [
    ("slot_id", "abc", "slot is not valid"),
    ("slot_id", "99999999", "does not exist"),
    ("length", "0", "length must be"),
    ("length", "1000", "length must be"),
    ("length", "x", "not valid"),
    ("patient_id", "123456", "patient does not exist"),
    ("patient_id", "", "Choose a patient"),
    ("key", "", "submission key"),
    ("key", "'; drop table slot; --", "submission key"),
])
def test_bad_booking_input_changes_nothing(app, login_as, slots, patients, field, value, message):
    client = login_as("reception")
    ids = next(iter(slots.values()))
    data = {"slot_id": ids[0], "patient_id": patients[0], "length": 1, "key": new_key()}
    data[field] = value
    response = post_booking(client, **{k: data[k] for k in ("slot_id", "patient_id", "key", "length")})
    assert response.status_code in (404, 422), response.status_code
    assert message in response.get_data(as_text=True)
    assert count(app, "SELECT count(*) FROM appointment") == 0
    assert count(app, "SELECT count(*) FROM slot WHERE status <> 'open'") == 0


def test_booking_without_csrf_is_refused(app, login_as, slots, patients):
    client = login_as("reception")
    ids = next(iter(slots.values()))
    response = client.post("/schedule/book", data={"slot_id": ids[0], "patient_id": patients[0],
                                                   "length": 1, "key": new_key()})
    assert response.status_code == 400
    assert count(app, "SELECT count(*) FROM appointment") == 0


def test_poll_is_204_until_something_changes(app, login_as, slots, patients):
    client = login_as("reception")
    day = tomorrow(app)
    page = client.get(f"/schedule/?date={day}").get_data(as_text=True)
    version = re.search(r'data-version="([^"]+)"', page).group(1)
    unchanged = client.get(f"/schedule/grid?date={day}&v={version}", headers=HX)
    assert unchanged.status_code == 204 and unchanged.get_data() == b""
    post_booking(client, next(iter(slots.values()))[0], patients[0])
    changed = client.get(f"/schedule/grid?date={day}&v={version}", headers=HX)
    body = changed.get_data(as_text=True)
    assert changed.status_code == 200 and "Pat0 Tester" in body and "<html" not in body
    assert re.search(r'data-version="([^"]+)"', body).group(1) != version


def _grid_poll(body: str) -> str:
    return html.unescape(re.search(r'<div id="grid" class="grid-wrap"\s+hx-get="([^"]+)"', body).group(1))


def test_grid_polls_within_the_fresh_window_reuse_the_worker_s_read_but_show_a_desk_its_own_change(
        app, login_as, slots, patients, monkeypatch):
    desk = login_as("reception")
    other = app.test_client()
    assert login(other, "reception1").status_code == 302
    monkeypatch.setitem(app.config, "DAY_GRID_FRESH_S", 60)
    day = tomorrow(app)
    poll = _grid_poll(desk.get(f"/schedule/?date={day}").get_data(as_text=True))
    other_poll = _grid_poll(other.get(f"/schedule/?date={day}").get_data(as_text=True))  # read, kept
    assert post_booking(other, next(iter(slots.values()))[0], patients[0]).status_code == 200
    assert desk.get(poll, headers=HX).status_code == 204  # the read kept under a minute ago
    own = other.get(other_poll, headers=HX)  # the desk that booked: read afresh, its booking shown
    assert own.status_code == 200 and "Pat0 Tester" in own.get_data(as_text=True)
    caught_up = desk.get(poll, headers=HX)  # the worker's read is now the one after the booking
    assert caught_up.status_code == 200 and "Pat0 Tester" in caught_up.get_data(as_text=True)
    assert desk.get(poll.replace("at=", "at=%D9%A1"), headers=HX).status_code == 422  # an Arabic-Indic digit
    desk.set_cookie(WROTE_AT_COOKIE, "\u0661" * 30)  # a mangled cookie is ignored, not an error
    assert desk.get(_grid_poll(caught_up.get_data(as_text=True)), headers=HX).status_code == 204


def test_appointment_panel_status_cancel_and_illegal_change(app, login_as, slots, patients):
    client = login_as("reception")
    ids = next(iter(slots.values()))
    post_booking(client, ids[0], patients[0])
    appointment = count(app, "SELECT id FROM appointment")
    panel = client.get(f"/schedule/appointments/{appointment}", headers=HX).get_data(as_text=True)
    assert 'data-to="confirmed"' in panel and "Cancel appointment" in panel
    csrf = token(client)
    done = client.post(f"/schedule/appointments/{appointment}/status", data={"to": "checked_in", "csrf_token": csrf},
                       headers=HX)
    assert done.status_code == 200 and "Marked checked in" in done.get_data(as_text=True)
    illegal = client.post(f"/schedule/appointments/{appointment}/status", data={"to": "confirmed", "csrf_token": csrf},
                          headers=HX)
    assert illegal.status_code == 409 and "checked in cannot be marked confirmed" in illegal.get_data(as_text=True)
    cancelled = client.post(f"/schedule/appointments/{appointment}/cancel",
                            data={"by": "clinic", "reason": "Doctor ill", "csrf_token": csrf}, headers=HX)
    body = cancelled.get_data(as_text=True)
    assert cancelled.status_code == 200 and "Cancelled" in body and f'id="cell-{ids[0]}"' in body
    assert count(app, "SELECT status FROM slot WHERE id = :s", s=ids[0]) == "open"
    assert_invariants(app)


def test_reschedule_over_http(app, login_as, slots, patients):
    client = login_as("reception")
    ids = next(iter(slots.values()))
    post_booking(client, ids[0], patients[0], length=2)
    appointment = count(app, "SELECT id FROM appointment")
    options = client.get(f"/schedule/appointments/{appointment}/free-slots?date={tomorrow(app)}", headers=HX)
    assert f'value="{ids[5]}"' in options.get_data(as_text=True)
    moved = client.post(f"/schedule/appointments/{appointment}/reschedule",
                        data={"slot_id": ids[5], "csrf_token": token(client)}, headers=HX)
    assert moved.status_code == 200 and "Moved" in moved.get_data(as_text=True)
    assert count(app, "SELECT string_agg(id::text, ',' ORDER BY id) FROM slot WHERE appointment_id = :a",
                 a=appointment) == f"{ids[5]},{ids[6]}"
    assert_invariants(app)


def test_reschedule_to_another_doctor_over_http(app, login_as, doctors, slots, patients):
    client = login_as("reception")
    first, second = (slots[d] for d in doctors)
    post_booking(client, first[0], patients[0], length=2)
    appointment = count(app, "SELECT id FROM appointment")
    panel = client.get(f"/schedule/appointments/{appointment}", headers=HX).get_data(as_text=True)
    assert f'<option value="{doctors[1]}" >Dr. Test Two' in panel
    assert f'<option value="{doctors[0]}" selected>Dr. Test One' in panel
    assert f'href="/patients/{patients[0]}"' in panel  # the profile, with allergies, is one tap away
    assert "booked → booked" not in panel
    options = client.get(f"/schedule/appointments/{appointment}/free-slots?date={tomorrow(app)}"
                         f"&doctor_id={doctors[1]}", headers=HX).get_data(as_text=True)
    assert f'value="{second[5]}"' in options and f'value="{first[5]}"' not in options
    moved = client.post(f"/schedule/appointments/{appointment}/reschedule",
                        data={"slot_id": second[5], "csrf_token": token(client)}, headers=HX)
    assert moved.status_code == 200 and "Moved" in moved.get_data(as_text=True)
    assert count(app, "SELECT doctor_id FROM appointment") == doctors[1]
    assert count(app, "SELECT string_agg(id::text, ',' ORDER BY id) FROM slot WHERE appointment_id = :a",
                 a=appointment) == f"{second[5]},{second[6]}"
    assert count(app, "SELECT count(*) FROM slot WHERE doctor_id = :d AND status = 'booked'", d=doctors[0]) == 0
    assert_invariants(app)


def test_reschedule_offers_no_time_with_an_inactive_doctor(app, login_as, doctors, slots, patients):
    client = login_as("reception")
    first, second = (slots[d] for d in doctors)
    post_booking(client, first[0], patients[0])
    appointment = count(app, "SELECT id FROM appointment")
    with app.app_context():
        db.session.execute(text("UPDATE doctor SET is_active = false WHERE id = :d"), {"d": doctors[1]})
        db.session.commit()
    panel = client.get(f"/schedule/appointments/{appointment}", headers=HX).get_data(as_text=True)
    assert "Dr. Test Two" not in panel
    options = client.get(f"/schedule/appointments/{appointment}/free-slots?date={tomorrow(app)}"
                         f"&doctor_id={doctors[1]}", headers=HX).get_data(as_text=True)
    assert "No free time that day" in options
    refused = client.post(f"/schedule/appointments/{appointment}/reschedule",
                          data={"slot_id": second[5], "csrf_token": token(client)}, headers=HX)
    assert "not taking appointments" in refused.get_data(as_text=True)
    assert count(app, "SELECT doctor_id FROM appointment") == doctors[0]
    assert count(app, "SELECT string_agg(id::text, ',') FROM slot WHERE appointment_id = :a",
                 a=appointment) == str(first[0])
    junk = client.get(f"/schedule/appointments/{appointment}/free-slots?doctor_id=abc", headers=HX)
    assert junk.status_code == 422


def test_patient_picker_uses_patient_search(app, login_as, patients):
    client = login_as("reception")
    found = client.get("/schedule/patients?q=Pat7", headers=HX).get_data(as_text=True)
    assert "Pat7 Tester" in found and 'name="patient_id"' in found
    nothing = client.get("/schedule/patients?q=zzzzzz", headers=HX).get_data(as_text=True)
    assert "No patient matches" in nothing


def test_doctor_tablet_reviews_request(app, login_as, staff, doctors, slots, patients):
    from portal.extensions import db
    from portal.schedule import services
    with app.app_context():
        desk = Actor(staff["reception"], "reception")
        services.book(slots[doctors[0]][:1], patients[0], "Second opinion", desk, new_key(), pending_review=True)
        services.book(slots[doctors[0]][3:4], patients[1], "Follow-up", desk, new_key())
        db.session.remove()
    client = login_as("doctor")
    page = client.get("/schedule/mine").get_data(as_text=True)
    assert "Consultation requests (1)" in page and "Second opinion" in page and "Follow-up" in page
    appointment = count(app, "SELECT id FROM appointment WHERE status = 'pending_review'")
    reviewed = client.post(f"/schedule/appointments/{appointment}/review",
                           data={"decision": "approve", "csrf_token": csrf_from(page)}, headers=HX)
    assert reviewed.status_code == 200 and "Approved" in reviewed.get_data(as_text=True)
    assert count(app, "SELECT status FROM appointment WHERE id = :a", a=appointment) == "booked"


def test_an_appointment_opened_from_a_link_is_a_full_page(app, login_as, staff, doctors, slots, patients):
    from portal.extensions import db
    from portal.schedule import services
    with app.app_context():
        booked = services.book(slots[doctors[0]][:1], patients[0], "Post-op check",
                               Actor(staff["reception"], "reception"), new_key())
        db.session.remove()
    client = login_as("doctor")
    url = f"/schedule/appointments/{booked.appointment_id}"
    page = client.get(url).get_data(as_text=True)
    assert "<nav" in page and 'id="panel"' in page and "Post-op check" in page and "My day</a>" in page
    fragment = client.get(url, headers=HX).get_data(as_text=True)
    assert "<nav" not in fragment and fragment.lstrip().startswith("<article")
    # Acting from that page changes the panel only: there are no grid cells to refresh there.
    client.post("/logout", data={"csrf_token": csrf_from(page)})
    client = login_as("reception")
    token = csrf_from(client.get(url).get_data(as_text=True))
    on_page = {**HX, "HX-Current-URL": f"http://localhost{url}"}
    confirmed = client.post(f"{url}/status", data={"to": "confirmed", "csrf_token": token}, headers=on_page)
    assert confirmed.status_code == 200 and "hx-swap-oob" not in confirmed.get_data(as_text=True)


def test_reception_answers_the_doctor_from_the_appointment_panel(app, login_as, staff, doctors,
                                                                  slots, patients):
    from portal.extensions import db
    from portal.schedule import services
    with app.app_context():
        booked = services.book(slots[doctors[0]][:1], patients[0], "Rhinoplasty consult",
                               Actor(staff["reception"], "reception"), new_key(), pending_review=True)
        services.review(booked.appointment_id, "ask_info", "Any previous nose surgery?",
                        Actor(staff["doctor"], "doctor"))
        db.session.remove()
    url = f"/schedule/appointments/{booked.appointment_id}"
    desk = login_as("reception")
    panel = desk.get(url, headers=HX).get_data(as_text=True)
    assert "Any previous nose surgery?" in panel and "Answer for the doctor" in panel
    day_page = desk.get("/schedule/").get_data(as_text=True)
    assert "1 consultation request(s): the doctor asks for more information" in day_page
    assert "Pat0 Tester with Dr. Test One" in day_page and "Any previous nose surgery?" in day_page
    token = csrf_from(day_page)
    empty = desk.post(f"{url}/answer", data={"answer": " ", "csrf_token": token}, headers=HX)
    assert empty.status_code == 422 and "Enter answer" in empty.get_data(as_text=True)
    sent = desk.post(f"{url}/answer", data={"answer": "None <b>before</b>", "csrf_token": token}, headers=HX)
    body = sent.get_data(as_text=True)
    assert sent.status_code == 200 and "Sent to the doctor for review again." in body
    assert "Reception answered: None &lt;b&gt;before&lt;/b&gt;" in body and "Answer for the doctor" not in body
    again = desk.post(f"{url}/answer", data={"answer": "More", "csrf_token": token}, headers=HX)
    assert again.status_code == 409 and "not waiting for information" in again.get_data(as_text=True)
    assert "the doctor asks for more information" not in desk.get("/schedule/").get_data(as_text=True)

    desk.post("/logout", data={"csrf_token": token})
    doctor = login_as("doctor")
    tablet = doctor.get("/schedule/mine").get_data(as_text=True)
    assert "You asked: Any previous nose surgery?" in tablet
    assert "Reception answered:</strong> None &lt;b&gt;before&lt;/b&gt;" in tablet


@pytest.mark.parametrize("role, path, allowed", [
    ("nurse", "/schedule/", True),
    ("doctor", "/schedule/", True),
    ("nurse", "/schedule/mine", False),
    ("reception", "/schedule/mine", False),
    ("doctor", "/schedule/mine", True),
    ("nurse", "/schedule/doctors", False),
    ("doctor", "/schedule/doctors", False),
    ("reception", "/schedule/doctors", True),
    ("nurse", "/schedule/patients?q=a", False),
    ("doctor", "/schedule/patients?q=a", False),
])
def test_access_by_role(login_as, role, path, allowed):
    response = login_as(role).get(path)
    assert (response.status_code == 200) == allowed, response.status_code
    if not allowed:
        assert response.status_code == 403


def test_nurse_and_doctor_cannot_book_or_cancel(app, login_as, slots, patients):
    ids = next(iter(slots.values()))
    for role in ("nurse", "doctor"):
        client = login_as(role)
        assert post_booking(client, ids[0], patients[0]).status_code == 403
        client.post("/logout", data={"csrf_token": token(client)})
    assert count(app, "SELECT count(*) FROM appointment") == 0


def test_grid_hides_booking_buttons_from_nurse(app, login_as, slots):
    page = login_as("nurse").get(f"/schedule/?date={tomorrow(app)}").get_data(as_text=True)
    assert 'data-state="free"' in page and "slot-button" not in page


def test_anonymous_is_sent_to_login(client):
    response = client.get("/schedule/grid?date=2030-01-01", headers=HX)
    assert response.status_code == 401 and "/login" in response.headers["HX-Redirect"]


def test_history_speaks_in_words_and_both_tabs_name_the_status_alike(app, login_as, staff, doctors, slots,
                                                                      patients):
    """No "review:ask_info" or "cancelled → cancelled"; the patient's tab says "pending doctor review" too."""
    from portal.extensions import db
    from portal.schedule import services
    with app.app_context():
        booked = services.book(slots[doctors[0]][:1], patients[0], "Second opinion",
                               Actor(staff["reception"], "reception"), new_key(), pending_review=True)
        db.session.remove()
    appointment = booked.appointment_id
    doctor = login_as("doctor")
    page = doctor.get("/schedule/mine").get_data(as_text=True)
    doctor.post(f"/schedule/appointments/{appointment}/review",
                data={"decision": "ask_info", "notes": "Referral letter?", "csrf_token": csrf_from(page)}, headers=HX)
    tab = doctor.get(f"/patients/{patients[0]}/appointments?when=upcoming", headers=HX).get_data(as_text=True)
    assert "pending doctor review" in tab
    doctor.post("/logout", data={"csrf_token": csrf_from(page)})
    desk = login_as("reception")
    csrf = token(desk)
    desk.post(f"/schedule/appointments/{appointment}/cancel",
              data={"by": "patient", "reason": "Travelling", "csrf_token": csrf}, headers=HX)
    panel = desk.get(f"/schedule/appointments/{appointment}", headers=HX).get_data(as_text=True)
    history = re.search(r'<ol class="history">(.*?)</ol>', panel, re.S).group(1)
    assert "Doctor asked for more information" in history and "Booked as a consultation request" in history
    assert "Cancelled" in history and "by patient: Travelling" in history
    assert "review:" not in history and "→" not in history and "ask_info" not in history


def test_only_the_desk_is_offered_booking_and_the_admin_link_follows_the_view(app, login_as, doctors, slots,
                                                                             patients):
    """Buttons and links show exactly when their target lets the user in (may())."""
    for role, can_book in (("reception", True), ("admin", True), ("nurse", False), ("doctor", False)):
        client = login_as(role)
        profile = client.get(f"/patients/{patients[0]}").get_data(as_text=True)
        assert ('id="book-appointment"' in profile) is can_book, role
        grid = client.get(f"/schedule/?date={tomorrow(app)}&patient_id={patients[0]}").get_data(as_text=True)
        assert ('class="slot-button"' in grid) is can_book, role
        assert ('id="booking-for"' in grid) is can_book, role  # "Booking for …: choose a free slot"
        assert ("Click a free slot to book it." in grid) is can_book, role
        client.post("/logout", data={"csrf_token": csrf_from(grid)})


def test_the_drawn_grid_changes_with_everything_it_shows(app, login_as, slots, patients):
    """The grid is drawn once per day version: a renamed patient, a doctor's new specialisation and a
    slot that has ended (on the clinic's clock) each change the version, so the page is drawn anew."""
    from datetime import timedelta

    from portal.patients import services as patient_services
    client = login_as("reception")
    day = tomorrow(app)
    post_booking(client, next(iter(slots.values()))[0], patients[0])
    assert "Pat0 Tester" in client.get(f"/schedule/?date={day}").get_data(as_text=True)
    with app.app_context():
        patient = patient_services.get_patient(patients[0])
        clean = {name: getattr(patient, name) for name in patient_services.EDITABLE} | {"first_name": "Renamed"}
        patient_services.update_patient(patients[0], patient.version, clean, Actor(None, "admin"))
    page = client.get(f"/schedule/?date={day}").get_data(as_text=True)
    assert "Renamed Tester" in page and "Pat0 Tester" not in page

    with app.app_context():
        db.session.execute(text("UPDATE doctor SET specialisation = 'Dermatology' WHERE name = 'Dr. Test One'"))
        db.session.commit()
    assert "<small>Dermatology</small>" in client.get(f"/schedule/?date={day}").get_data(as_text=True)

    with app.app_context():
        first_end = db.session.execute(text("SELECT min(ends_at) FROM slot")).scalar()
    before = client.get(f"/schedule/?date={day}").get_data(as_text=True).count('data-past="1"')
    with clinic_time.frozen(first_end + timedelta(seconds=1)):
        after = client.get(f"/schedule/?date={day}").get_data(as_text=True).count('data-past="1"')
    assert (before, after) == (0, 2)  # both doctors' first slots have ended


def test_the_polls_address_opened_as_a_page_goes_to_the_day(app, login_as, slots):
    response = login_as("reception").get(f"/schedule/grid?date={tomorrow(app)}&spec=Aesthetics")
    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"/schedule/?date={tomorrow(app)}&spec=Aesthetics")
