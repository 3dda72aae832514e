"""The printable day list: the day's active appointments by doctor and time, with allergies."""
from datetime import timedelta

from sqlalchemy import func, select

from portal import clinic_time
from portal.actor import Actor
from portal.extensions import db
from portal.models import AuditEvent, Patient
from portal.schedule import services
from tests.factories import book as _book


def _day(app, offset: int) -> str:
    with app.app_context():
        return (clinic_time.today() + timedelta(days=offset)).isoformat()


def test_nurse_lands_on_the_list_of_the_day_by_doctor_and_time(app, login_as, staff, doctors, patients, slots):
    with app.app_context():
        db.session.get(Patient, patients[0]).allergies = "Penicillin"
        db.session.commit()
    first, second = doctors
    _book(app, [slots[first][3]], patients[0], "Post-op review", staff["reception"])
    _book(app, [slots[first][0]], patients[1], "Consultation", staff["reception"])
    _book(app, [slots[second][1]], patients[2], "Botox", staff["reception"])
    cancelled = _book(app, [slots[second][5]], patients[3], "Cancelled one", staff["reception"])
    with app.app_context():
        services.cancel(cancelled.appointment_id, "patient", "Travelling", Actor(staff["reception"], "reception"))

    client = login_as("nurse")
    landing = client.get("/")
    assert landing.headers["Location"].endswith("/schedule/list")
    html = client.get(f"/schedule/list?date={_day(app, 1)}").get_data(as_text=True)

    assert "Cancelled one" not in html
    table = html[html.index('id="day-list"'):]
    order = [table.index(text) for text in ("Dr. Test One", "Consultation", "Post-op review",
                                           "Dr. Test Two", "Botox")]
    assert order == sorted(order)
    assert "Penicillin" in html and 'class="allergy"' in html
    assert "08:00–08:30" in html  # clinic time, not UTC


def test_one_doctor_and_empty_days(app, login_as, staff, doctors, patients, slots):
    first, second = doctors
    _book(app, [slots[first][0]], patients[0], "Mine", staff["reception"])
    _book(app, [slots[second][0]], patients[1], "Theirs", staff["reception"])
    client = login_as("nurse")
    html = client.get(f"/schedule/list?date={_day(app, 1)}&doctor_id={first}").get_data(as_text=True)
    assert "Mine" in html and "Theirs" not in html
    empty = client.get(f"/schedule/list?date={_day(app, 0)}").get_data(as_text=True)
    assert 'id="day-list-empty"' in empty


def test_each_read_writes_one_audit_event(app, login_as, staff, doctors, patients, slots):
    client = login_as("nurse")
    with app.app_context():
        before = db.session.scalar(select(func.count()).select_from(AuditEvent))
    assert client.get("/schedule/list").status_code == 200
    with app.app_context():
        events = db.session.scalars(select(AuditEvent).order_by(AuditEvent.id)).all()
        assert len(events) == before + 1
        assert events[-1].action == "schedule.day_list" and events[-1].user_id == staff["nurse"]


def test_bad_dates_and_doctors_get_a_clear_message(login_as, doctors):
    client = login_as("nurse")
    for query in ("date=2025-02-30", "date=yesterday", "date=" + "9" * 5000, "doctor_id=abc",
                  "doctor_id=-4", "doctor_id=99999999999999999999"):
        response = client.get(f"/schedule/list?{query}")
        assert response.status_code == 422, query
        assert "not" in response.get_data(as_text=True)
