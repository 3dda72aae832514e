"""Weekly hours, breaks and time off expand into slots: idempotent, never touching a booked slot."""
from __future__ import annotations

from datetime import date, time, timedelta

import pytest
from sqlalchemy import text

from portal import clinic_time
from portal.actor import Actor
from portal.domain import DomainError
from portal.extensions import db
from portal.idempotency import new_key
from portal.schedule import availability, queries, services
from portal.schedule.availability import parse_ranges
from tests.factories import EVERY_DAY
from tests.helpers import assert_invariants, count, csrf_from, run


def day_slots(app, doctor_id: int, day: date) -> list[tuple[str, str]]:
    """(local start HH:MM, status) of a doctor's slots on a clinic-local day."""
    with app.app_context():
        start, end = clinic_time.day_bounds(day)
        rows = db.session.execute(text("SELECT starts_at, status FROM slot WHERE doctor_id = :d AND "
                                       "starts_at >= :s AND starts_at < :e ORDER BY starts_at"),
                                  {"d": doctor_id, "s": start, "e": end}).all()
        db.session.remove()
        return [(r.starts_at.astimezone(clinic_time.zone()).strftime("%H:%M"), r.status) for r in rows]


def later(app, days: int) -> date:
    with app.app_context():
        return clinic_time.today() + timedelta(days=days)


def test_weekly_hours_become_slots_in_clinic_time(app, doctors):
    report = run(app, availability.set_availability, doctors[0], EVERY_DAY)
    assert 7 * 55 <= report.created <= 7 * 56  # today's past slots are not made
    day = later(app, 3)
    assert day_slots(app, doctors[0], day) == [(t, "open") for t in
                                               ("08:00", "08:30", "09:00", "09:30", "10:30", "11:00", "11:30")]
    with app.app_context():
        first = db.session.scalar(text("SELECT min(starts_at) FROM slot WHERE doctor_id = :d AND starts_at >= :s"),
                                  {"d": doctors[0], "s": clinic_time.day_bounds(day)[0]})
        db.session.remove()
    with app.app_context():
        eight = clinic_time.at_local(day, time(8))  # 08:00 in the clinic's zone (in Nairobi 05:00 UTC)
    assert first.utcoffset() == timedelta(0) and first == eight
    last_day = later(app, 8 * 7 - 1)
    assert len(day_slots(app, doctors[0], last_day)) == 7
    assert day_slots(app, doctors[0], later(app, 8 * 7)) == []  # the window is 8 weeks
    assert day_slots(app, doctors[1], day) == []


def test_generation_is_idempotent(app, doctors):
    run(app, availability.set_availability, doctors[0], EVERY_DAY)
    before = count(app, "SELECT count(*) FROM slot")
    again = run(app, availability.generate_slots)
    assert (again.created, again.removed, again.blocked, again.reopened) == (0, 0, 0, 0)
    assert count(app, "SELECT count(*) FROM slot") == before


def test_changing_hours_never_touches_a_booked_slot(app, doctors, patients):
    run(app, availability.set_availability, doctors[0], EVERY_DAY)
    day = later(app, 2)
    with app.app_context():
        start, _ = clinic_time.day_bounds(day)
        slot_id = db.session.scalar(text("SELECT id FROM slot WHERE doctor_id = :d AND starts_at = :t"),
                                    {"d": doctors[0], "t": start + timedelta(hours=9)})
        booked = services.book([slot_id], patients[0], None, Actor.system(), new_key()).appointment_id
        db.session.remove()
    # New hours 08:15-12:15 in 45-minute slots would overlap the booked 09:00 slot.
    run(app, availability.save_doctor, {"name": "Dr. Test One", "licence_number": "KMPDC-T1",
                                        "specialisation": "General surgery", "slot_minutes": "45", "is_active": "1"},
        doctors[0])
    run(app, availability.set_availability, doctors[0], [(d, "hours", time(8, 15), time(12, 15)) for d in range(7)])
    slots = day_slots(app, doctors[0], day)
    assert ("09:00", "booked") in slots
    assert count(app, "SELECT appointment_id FROM slot WHERE id = :s", s=slot_id) == booked
    # The new 09:00-09:45 slot would collide with the kept, booked 09:00-09:30 one: not made.
    assert slots == [("08:15", "open"), ("09:00", "booked"), ("09:45", "open"), ("10:30", "open"),
                     ("11:15", "open")]
    with app.app_context():
        overlaps = db.session.scalar(text(
            "SELECT count(*) FROM slot a JOIN slot b ON a.doctor_id = b.doctor_id AND a.id < b.id "
            "AND a.starts_at < b.ends_at AND b.starts_at < a.ends_at"))
        db.session.remove()
    assert overlaps == 0
    assert run(app, availability.needs_rescheduling) == []  # still inside the (new) hours: nothing to move
    assert_invariants(app)


def book_on_day(app, doctor_id: int, day, hour: int, patient_id: int, reason: str) -> None:
    """Give the doctor every-day hours, then book the slot at `hour` o'clock (clinic time) on `day`."""
    run(app, availability.set_availability, doctor_id, EVERY_DAY)
    with app.app_context():
        start, _ = clinic_time.day_bounds(day)
        slot_id = db.session.scalar(text("SELECT id FROM slot WHERE doctor_id = :d AND starts_at = :t"),
                                    {"d": doctor_id, "t": start + timedelta(hours=hour)})
        services.book([slot_id], patient_id, reason, Actor.system(), new_key())
        db.session.remove()


def test_time_off_blocks_slots_and_lists_booked_appointments(app, login_as, doctors, patients):
    day = later(app, 4)
    book_on_day(app, doctors[0], day, 8, patients[0], "Review")
    report = run(app, availability.add_time_off, doctors[0], day.isoformat(), day.isoformat(), "Conference", None)
    assert report.blocked == 6 and len(report.conflicts) == 1
    assert report.conflicts[0].patient == "Pat0 Tester"
    statuses = dict(day_slots(app, doctors[0], day))
    assert statuses["08:00"] == "booked" and set(statuses.values()) == {"booked", "blocked"}
    listed = run(app, availability.needs_rescheduling)
    assert [row.patient for row in listed] == ["Pat0 Tester"]
    page = login_as("reception").get(f"/schedule/?date={day.isoformat()}").get_data(as_text=True)
    assert "fall into a doctor&#39;s time off" in page or "fall into a doctor's time off" in page
    with app.app_context():
        blocked = db.session.scalar(text("SELECT id FROM slot WHERE doctor_id = :d AND status = 'blocked' LIMIT 1"),
                                    {"d": doctors[0]})
        with pytest.raises(DomainError, match="time off"):
            services.book([blocked], patients[1], None, Actor.system(), new_key())
        time_off_id = db.session.scalar(text("SELECT id FROM time_off"))
        db.session.remove()
    back = run(app, availability.remove_time_off, doctors[0], time_off_id)
    assert back.reopened == 6
    assert_invariants(app)


SHORTER_DAYS = [(d, "hours", time(8), time(10)) for d in range(7)]
LATE_BREAK = EVERY_DAY + [(d, "break", time(11), time(11, 30)) for d in range(7)]


@pytest.mark.parametrize("new_hours", [SHORTER_DAYS, LATE_BREAK], ids=["shorter-days", "new-break"])
def test_a_booking_the_new_hours_leave_out_is_listed_and_its_slot_goes_when_cancelled(
        app, login_as, doctors, patients, new_hours):
    day = later(app, 3)
    book_on_day(app, doctors[0], day, 11, patients[0], "Review")
    report = run(app, availability.set_availability, doctors[0], new_hours)
    assert [(row.patient, row.reason) for row in report.conflicts] == [("Pat0 Tester", availability.OUTSIDE_HOURS)]
    assert ("11:00", "booked") in day_slots(app, doctors[0], day)  # kept for its appointment
    listed = run(app, availability.needs_rescheduling)
    assert [(row.patient, row.reason) for row in listed] == [("Pat0 Tester", availability.OUTSIDE_HOURS)]
    page = login_as("reception").get(f"/schedule/?date={day.isoformat()}").get_data(as_text=True)
    assert "outside the doctor&#39;s working hours" in page and "Pat0 Tester" in page  # the to-do list
    assert page.count("slot booked outside-hours") == 1 and "outside the doctor's hours: move it" in page
    appointment_id = listed[0].id
    run(app, services.cancel, appointment_id, "clinic", "Doctor's hours changed", Actor(None, "reception"))
    # Freed, the slot goes: nobody can book a time the doctor no longer works.
    assert "11:00" not in dict(day_slots(app, doctors[0], day))
    assert run(app, availability.needs_rescheduling) == []
    again = run(app, availability.generate_slots, doctors[0])
    assert (again.created, again.removed, again.conflicts) == (0, 0, [])
    assert_invariants(app)


def test_flagging_a_booking_changes_the_day_version_the_grids_poll(app, doctors, patients):
    day = later(app, 3)
    book_on_day(app, doctors[0], day, 11, patients[0], "Review")
    before = run(app, queries.day_version, day)
    with app.app_context():
        db.session.execute(text("UPDATE slot SET outside_hours = true WHERE appointment_id IS NOT NULL"))
        db.session.commit()
        db.session.remove()
    assert run(app, queries.day_version, day) != before


def test_hours_given_back_clear_the_flag(app, doctors, patients):
    day = later(app, 3)
    book_on_day(app, doctors[0], day, 11, patients[0], "Review")
    run(app, availability.set_availability, doctors[0], SHORTER_DAYS)
    assert count(app, "SELECT count(*) FROM slot WHERE outside_hours") == 1
    report = run(app, availability.set_availability, doctors[0], EVERY_DAY)
    assert report.conflicts == [] and run(app, availability.needs_rescheduling) == []
    assert count(app, "SELECT count(*) FROM slot WHERE outside_hours") == 0
    assert ("11:00", "booked") in day_slots(app, doctors[0], day)


@pytest.mark.parametrize("rows, message", [
    ((["0"], ["hours"], ["12:00"], ["08:00"]), "ends before it starts"),
    ((["0", "0"], ["hours", "hours"], ["08:00", "11:00"], ["12:00", "14:00"]), "overlap"),
    ((["9"], ["hours"], ["08:00"], ["12:00"]), "weekday"),
    ((["x"], ["hours"], ["08:00"], ["12:00"]), "weekday"),
    ((["0"], ["lunch"], ["08:00"], ["12:00"]), "working hours or a break"),
    ((["0"], ["hours"], ["25:00"], ["26:00"]), "HH:MM"),
    ((["0", "1"], ["hours"], ["08:00"], ["12:00"]), "incomplete"),
])
def test_bad_availability_rows_are_refused(rows, message):
    with pytest.raises(DomainError, match=message):
        parse_ranges(*rows)


def test_blank_rows_are_skipped():
    assert parse_ranges(["0", "1"], ["hours", "hours"], ["08:00", ""], ["12:00", ""]) == \
        [(0, "hours", time(8), time(12))]


@pytest.mark.parametrize("first, last, message", [
    ("2025-02-30", "2025-03-01", "real date"),
    ("2030-03-02", "2030-03-01", "before the first day"),
    ("2030-01-01", "2032-01-01", "at most a year"),
])
def test_bad_time_off_is_refused(app, doctors, first, last, message):
    with pytest.raises(DomainError, match=message):
        run(app, availability.add_time_off, doctors[0], first, last, "x", None)
    assert count(app, "SELECT count(*) FROM time_off") == 0


def test_cli_generates_slots_and_reports(app, doctors):
    run(app, availability.set_availability, doctors[0], EVERY_DAY)
    result = app.test_cli_runner().invoke(args=["slots", "generate", "--weeks", "2"])
    assert result.exit_code == 0, result.output
    assert "slots: 0 added" in result.output and "removed" in result.output
    purge = app.test_cli_runner().invoke(args=["slots", "purge-keys"])
    assert purge.exit_code == 0 and "expired key(s) deleted" in purge.output


def test_admin_adds_doctor_and_duplicate_licence_is_refused(app, login_as, doctors):
    client = login_as("admin")
    page = client.get("/schedule/doctors").get_data(as_text=True)
    csrf = csrf_from(page)
    form = {"name": "Dr. New", "licence_number": "KMPDC-NEW", "specialisation": "ENT", "phone": "0722 123 456",
            "slot_minutes": "20", "is_active": "1", "csrf_token": csrf}
    added = client.post("/schedule/doctors", data=form)
    assert added.status_code == 303
    assert count(app, "SELECT phone || ' ' || is_active FROM doctor WHERE licence_number = 'KMPDC-NEW'") == \
        "+254722123456 true"
    again = client.post("/schedule/doctors", data={**form, "name": "Dr. Copy"}, headers={"HX-Request": "true"})
    assert again.status_code == 422 and "Another doctor has this licence number" in again.get_data(as_text=True)
    bad = client.post("/schedule/doctors", data={**form, "licence_number": "X2", "slot_minutes": "7"})
    assert bad.status_code == 422 and "slot length" in bad.get_data(as_text=True)
    assert count(app, "SELECT count(*) FROM doctor") == 3


def test_unticking_active_takes_a_doctor_off_and_lists_their_bookings_for_reception(app, login_as, doctors,
                                                                                   patients):
    day = later(app, 3)
    book_on_day(app, doctors[0], day, 9, patients[2], "Review")
    client = login_as("admin")
    page_url = f"/schedule/doctors/{doctors[0]}"
    form = {"name": "Dr. Test One", "licence_number": "KMPDC-T1", "specialisation": "General surgery",
            "slot_minutes": "30", "csrf_token": csrf_from(client.get(page_url).get_data(as_text=True))}
    saved = client.post(f"{page_url}/profile", data=form)  # the Active box unticked: the browser sends nothing
    assert saved.status_code == 303
    assert count(app, "SELECT is_active FROM doctor WHERE id = :d", d=doctors[0]) is False
    page = client.get(page_url).get_data(as_text=True)
    assert "1 future appointment(s) with this doctor must move to another doctor" in page
    assert "who no longer takes appointments" in page and "Pat2 Tester" in page
    listed = run(app, availability.needs_rescheduling)
    assert [(row.patient, row.reason) for row in listed] == [("Pat2 Tester", availability.NO_LONGER_ACTIVE)]
    desk = client.get(f"/schedule/?date={day.isoformat()}").get_data(as_text=True)  # admin: a desk role too
    assert "with a doctor no longer working here" in desk and "Pat2 Tester" in desk

    appointment = count(app, "SELECT id FROM appointment")
    run(app, availability.set_availability, doctors[1], EVERY_DAY)
    with app.app_context():
        start, _ = clinic_time.day_bounds(day)
        target = db.session.scalar(text("SELECT id FROM slot WHERE doctor_id = :d AND starts_at = :t"),
                                   {"d": doctors[1], "t": start + timedelta(hours=11)})
        services.reschedule(appointment, [target], Actor(None, "reception"))
        db.session.remove()
    assert run(app, availability.needs_rescheduling) == []
    assert_invariants(app)


def test_doctor_edits_own_availability_only(app, login_as, doctors):
    client = login_as("doctor")
    own = client.get(f"/schedule/doctors/{doctors[0]}")
    assert own.status_code == 200
    csrf = csrf_from(own.get_data(as_text=True))
    saved = client.post(f"/schedule/doctors/{doctors[0]}/availability",
                        data={"weekday": ["0"], "kind": ["hours"], "starts": ["09:00"], "ends": ["11:00"],
                              "csrf_token": csrf})
    assert saved.status_code == 303 and saved.headers["Location"] == f"/schedule/doctors/{doctors[0]}"
    assert "Slots:" in client.get(saved.headers["Location"]).get_data(as_text=True)
    assert count(app, "SELECT count(*) FROM availability WHERE doctor_id = :d", d=doctors[0]) == 1
    other = client.post(f"/schedule/doctors/{doctors[1]}/availability",
                        data={"weekday": ["0"], "kind": ["hours"], "starts": ["09:00"], "ends": ["11:00"],
                              "csrf_token": csrf})
    assert other.status_code == 403
    assert client.get(f"/schedule/doctors/{doctors[1]}").status_code == 403


def test_doctor_takes_time_off_over_a_booking_and_sees_what_reception_must_move(app, login_as, doctors, patients):
    day = later(app, 5)
    book_on_day(app, doctors[0], day, 9, patients[3], "Suture removal")
    client = login_as("doctor")
    page_url = f"/schedule/doctors/{doctors[0]}"
    form = {"starts_on": day.isoformat(), "ends_on": day.isoformat(), "reason": "Conference",
            "csrf_token": csrf_from(client.get(page_url).get_data(as_text=True))}
    saved = client.post(f"{page_url}/time-off", data=form)
    assert saved.status_code == 303 and saved.headers["Location"] == page_url
    page = client.get(page_url).get_data(as_text=True)
    assert ("1 booked appointment(s) no longer fit the doctor&#39;s hours or time off; "
            "reception must reschedule them") in page
    assert 'id="in-time-off"' in page and "Pat3 Tester (booked; Conference)" in page
    again = client.get(page_url).get_data(as_text=True)  # the message was shown once; the list stays
    assert "reception must reschedule them (listed below" not in again and "Pat3 Tester" in again
    assert count(app, "SELECT count(*) FROM time_off WHERE doctor_id = :d", d=doctors[0]) == 1


def test_reception_sees_but_cannot_change_availability(app, login_as, doctors):
    client = login_as("reception")
    page = client.get(f"/schedule/doctors/{doctors[0]}")
    assert page.status_code == 200
    refused = client.post(f"/schedule/doctors/{doctors[0]}/time-off",
                          data={"starts_on": "2030-01-01", "ends_on": "2030-01-02", "reason": "x",
                                "csrf_token": csrf_from(page.get_data(as_text=True))})
    assert refused.status_code == 403
    assert count(app, "SELECT count(*) FROM time_off") == 0


def test_seed_demo_gives_reception_a_real_day_and_is_idempotent(app):
    from portal.seed import seed_demo
    run(app, seed_demo)
    first = (count(app, "SELECT count(*) FROM slot"), count(app, "SELECT count(*) FROM appointment"))
    run(app, seed_demo)
    assert (count(app, "SELECT count(*) FROM slot"), count(app, "SELECT count(*) FROM appointment")) == first
    assert first[0] > 500 and first[1] >= 10
    assert_invariants(app)
