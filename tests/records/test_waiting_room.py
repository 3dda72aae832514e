"""The waiting room: today's checked-in patients by doctor, their stage and how long they have waited."""
from __future__ import annotations

from portal import clinic_time
from portal.records import services
from tests.helpers import login

from .conftest import make_appointment, make_patient
from .helpers import nurse, started


def test_stages_and_waiting_time(app, client, staff, doctors):
    waiting = make_appointment(app, make_patient(app, "Waiting"), doctors[0])
    measured = make_appointment(app, make_patient(app, "Measured"), doctors[0], hours_from_now=-0.1)
    consulting = make_appointment(app, make_patient(app, "Consulting"), doctors[0], hours_from_now=-0.2)
    booked = make_appointment(app, make_patient(app, "Booked"), doctors[1], status="booked", hours_from_now=-0.3)
    with app.app_context():
        services.record_vitals(measured, {"pulse_bpm": 80}, nurse(staff))
    started(app, staff, consulting)
    assert login(client, "reception1").status_code == 302
    response = client.get("/records/waiting-room")
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and "Dr. Test One" in body
    assert f'data-appointment="{waiting}" data-stage="waiting for vitals"' in body
    assert f'data-appointment="{measured}" data-stage="ready for the doctor"' in body
    assert f'data-appointment="{consulting}" data-stage="in consultation"' in body
    assert f'data-appointment="{booked}"' not in body and f'data-expected="{booked}"' in body  # not arrived yet
    assert " min" in body and "past" not in body
    poll = client.get("/records/waiting-room", headers={"HX-Request": "true"})
    assert poll.status_code == 200 and "<html" not in poll.get_data(as_text=True)


def _version(body: str) -> str:
    import re
    return re.search(r'data-version="([^"]+)"', body).group(1)


def test_the_poll_answers_204_until_something_in_the_room_changes(app, client, clock, staff, doctors):
    from urllib.parse import quote
    arrived = make_appointment(app, make_patient(app, "Arrived"), doctors[0])
    assert login(client, "nurse1").status_code == 302
    body = client.get("/records/waiting-room").get_data(as_text=True)
    version = _version(body)
    poll = f"/records/waiting-room?v={quote(version)}"
    hx = {"HX-Request": "true"}
    assert client.get(poll, headers=hx).status_code == 204
    assert client.get(poll, headers=hx).get_data() == b""
    with app.app_context():  # a reading moves the patient to "ready for the doctor"
        services.record_vitals(arrived, {"pulse_bpm": 80}, nurse(staff))
    changed = client.get(poll, headers=hx)
    fresh = changed.get_data(as_text=True)
    assert changed.status_code == 200 and 'data-stage="ready for the doctor"' in fresh and _version(fresh) != version
    poll = f"/records/waiting-room?v={quote(_version(fresh))}"
    assert client.get(poll, headers=hx).status_code == 204
    clock.advance(minutes=1)  # the minutes waited move on
    assert client.get(poll, headers=hx).status_code == 200
    assert client.get("/records/waiting-room?v=stale", headers=hx).status_code == 200


def _poll_url(body: str) -> str:
    import html
    import re
    return html.unescape(re.search(r'<div id="waiting-room" hx-get="([^"]+)"', body).group(1))


def test_polls_within_the_fresh_window_reuse_the_worker_s_read_and_never_go_back(app, client, staff, doctors,
                                                                                monkeypatch):
    arrived = make_appointment(app, make_patient(app, "Arrived"), doctors[0])
    assert login(client, "nurse1").status_code == 302
    monkeypatch.setitem(app.config, "WAITING_ROOM_FRESH_S", 60)
    hx = {"HX-Request": "true"}
    first = client.get("/records/waiting-room?v=none&at=0", headers=hx).get_data(as_text=True)  # read, kept
    poll = _poll_url(first)
    with app.app_context():
        services.record_vitals(arrived, {"pulse_bpm": 80}, nurse(staff))
    assert client.get(poll, headers=hx).status_code == 204  # the read kept under a minute ago
    later = poll.replace(f"at={poll.rsplit('at=', 1)[1]}", f"at={10**15}")  # a screen holding a later read
    changed = client.get(later, headers=hx)
    assert changed.status_code == 200 and 'data-stage="ready for the doctor"' in changed.get_data(as_text=True)
    page = client.get("/records/waiting-room").get_data(as_text=True)  # the page is always read afresh
    assert 'data-stage="ready for the doctor"' in page
    assert client.get(_poll_url(page), headers=hx).status_code == 204  # and its poll is not sent back to before
    assert client.get(poll, headers=hx).status_code == 200  # the first screen catches up
    refused = client.get("/records/waiting-room?v=x&at=%D9%A1", headers=hx)  # an Arabic-Indic digit
    assert refused.status_code == 422


def test_one_click_check_in_from_the_waiting_room_and_the_desk_can_undo_it(app, client, staff, doctors, database_url):
    import re

    from portal.extensions import db
    from portal.models import Appointment
    from tests.helpers import admin_connection, csrf_from
    expected = make_appointment(app, make_patient(app, "Expected"), doctors[0], status="booked", hours_from_now=-0.05)
    assert login(client, "nurse1").status_code == 302
    body = client.get("/records/waiting-room").get_data(as_text=True)
    assert f'data-expected="{expected}"' in body and "Not arrived yet" in body
    token = csrf_from(body)
    checked = client.post(f"/records/waiting-room/{expected}/check-in", headers={"HX-Request": "true",
                                                                                   "X-CSRFToken": token})
    room = checked.get_data(as_text=True)
    assert checked.status_code == 200 and "<html" not in room
    assert f'data-appointment="{expected}" data-stage="waiting for vitals"' in room
    assert f'data-expected="{expected}"' not in room and 'class="undo-check-in"' not in room  # nurses cannot undo
    again = client.post(f"/records/waiting-room/{expected}/check-in", headers={"HX-Request": "true",
                                                                                 "X-CSRFToken": token})
    assert again.status_code == 409 and "cannot be marked" in again.get_data(as_text=True)
    with app.app_context():
        assert db.session.get(Appointment, expected).arrived_at is not None

    client.post("/logout", data={"csrf_token": token})
    assert login(client, "reception1").status_code == 302
    room = client.get("/records/waiting-room").get_data(as_text=True)
    undo = re.search(rf'href="(/schedule/appointments/{expected})" class="undo-check-in"', room)
    assert undo is not None
    panel = client.get(undo.group(1)).get_data(as_text=True)
    token = csrf_from(panel)
    no_reason = client.post(f"/schedule/appointments/{expected}/undo-check-in", data={"reason": ""},
                            headers={"HX-Request": "true", "X-CSRFToken": token})
    assert no_reason.status_code == 422
    undone = client.post(f"/schedule/appointments/{expected}/undo-check-in", data={"reason": "Wrong patient"},
                         headers={"HX-Request": "true", "X-CSRFToken": token})
    assert undone.status_code == 200 and "Check-in undone" in undone.get_data(as_text=True)
    with app.app_context():
        assert db.session.get(Appointment, expected).status == "booked"
    with admin_connection(database_url) as conn:
        note = conn.execute("SELECT note FROM appointment_event WHERE action = 'check_in_undone'").fetchone()
    assert note[0] == "Wrong patient"
    room = client.get("/records/waiting-room").get_data(as_text=True)
    assert f'data-expected="{expected}"' in room


def test_one_click_check_in_from_the_nurses_day_list(app, client, staff, doctors):
    from portal.extensions import db
    from portal.models import Appointment
    from tests.helpers import csrf_from
    expected = make_appointment(app, make_patient(app, "Listed"), doctors[0], status="booked", hours_from_now=-0.05)
    assert login(client, "nurse1").status_code == 302
    body = client.get("/schedule/list").get_data(as_text=True)
    assert f'data-check-in="{expected}"' in body
    checked = client.post(f"/schedule/appointments/{expected}/check-in",
                          headers={"HX-Request": "true", "X-CSRFToken": csrf_from(body)})
    row = checked.get_data(as_text=True)
    assert checked.status_code == 200 and row.strip().startswith("<tr") and "checked in" in row
    assert "data-check-in" not in row
    with app.app_context():
        assert db.session.get(Appointment, expected).status == "checked_in"
    client.post("/logout", data={"csrf_token": csrf_from(body)})
    assert login(client, "doctor1").status_code == 302
    token = csrf_from(client.get("/schedule/list").get_data(as_text=True))
    refused = client.post(f"/schedule/appointments/{expected}/check-in", headers={"X-CSRFToken": token})
    assert refused.status_code == 403


def test_not_arrived_yet_shows_the_next_fifty_and_counts_them_all(app, client, staff, doctors, clock):
    from portal.records.queries import EXPECTED_SHOWN
    clock.set(f"{clinic_time.today()} 10:00")  # just after midnight, earlier starts would clamp to one time
    patient = make_patient(app, "Expected")
    ids = [make_appointment(app, patient, doctors[index % 2], status="booked", hours_from_now=-0.9 + index / 60)
           for index in range(EXPECTED_SHOWN + 5)]
    assert login(client, "nurse1").status_code == 302
    body = client.get("/records/waiting-room").get_data(as_text=True)
    assert body.count("data-expected=") == EXPECTED_SHOWN
    assert f'data-expected="{ids[0]}"' in body and f'data-expected="{ids[-1]}"' not in body  # earliest first
    assert f"Not arrived yet ({EXPECTED_SHOWN + 5})" in body and f"has all {EXPECTED_SHOWN + 5}" in body


def test_screens_share_the_drawn_room_but_each_keeps_its_own_csrf_token(app, staff, doctors, clock):
    from tests.helpers import csrf_from
    clock.set(f"{clinic_time.today()} 10:00")
    expected = [make_appointment(app, make_patient(app, f"Due{index}"), doctors[0], status="booked",
                                 hours_from_now=-0.2 + index / 60) for index in range(2)]
    screens = [app.test_client() for _ in range(2)]
    rooms = []
    for screen in screens:
        assert login(screen, "nurse1").status_code == 302
        rooms.append(screen.get("/records/waiting-room").get_data(as_text=True))
    tokens = [csrf_from(room) for room in rooms]
    assert tokens[0] != tokens[1] and all(room.count(token) >= 2 for room, token in zip(rooms, tokens, strict=True))
    for screen, token, appointment_id in zip(screens, tokens, expected, strict=True):
        checked = screen.post(f"/records/waiting-room/{appointment_id}/check-in", data={"csrf_token": token},
                              headers={"HX-Request": "true"})
        assert checked.status_code == 200, checked.get_data(as_text=True)[:300]
