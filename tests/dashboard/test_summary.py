"""The appointment summary the rates read (appointment_quarter_count) always equals a recount of appointments."""
from __future__ import annotations

import threading
from datetime import timedelta

from sqlalchemy import text

from portal import clinic_time
from portal.actor import Actor
from portal.extensions import db
from portal.idempotency import new_key
from portal.schedule import services
from tests.dashboard.conftest import DAY, at, day_slots

RECOUNT = """
SELECT date_bin('15 minutes', starts_at, TIMESTAMPTZ '2000-01-01 00:00+00') AS quarter, status,
       coalesce(cancelled_by, '') AS cancelled_by, count(*)::int AS appointments
FROM appointment GROUP BY 1, 2, 3"""
KEPT = "SELECT quarter, status, cancelled_by, appointments FROM appointment_quarter_count WHERE appointments <> 0"


def assert_summary_matches(app) -> dict:
    with app.app_context():
        recount = {tuple(row[:3]): row[3] for row in db.session.execute(text(RECOUNT))}
        kept = {tuple(row[:3]): row[3] for row in db.session.execute(text(KEPT))}
        db.session.rollback()
    assert kept == recount
    return kept


def test_the_summary_follows_bookings_status_changes_cancellations_and_moves(app, clinic, staff):
    kept = assert_summary_matches(app)  # the clinic fixture booked, moved through statuses and cancelled
    assert sum(kept.values()) == 10
    desk = Actor(staff["reception"], "reception")
    later = day_slots(app, clinic.doctors[1], DAY + timedelta(days=2), 2, start_hour=14)
    with app.app_context(), clinic_time.frozen(at(DAY, 6)):
        services.reschedule(clinic.appointments["A8"], [later[0]], desk)
        services.cancel(clinic.appointments["A7"], "clinic", "doctor away", desk)
        db.session.remove()
    kept = assert_summary_matches(app)
    moved_to = (at(DAY + timedelta(days=2), 14), "booked", "")
    assert kept[moved_to] == 1
    with app.app_context():  # a bulk update and a delete, as a data fix would do them
        db.session.execute(text("UPDATE appointment SET status = 'no_show' WHERE status = 'confirmed'"))
        db.session.execute(text("DELETE FROM appointment_event WHERE appointment_id = :id"),
                           {"id": clinic.appointments["A8"]})
        db.session.execute(text("UPDATE slot SET appointment_id = NULL, status = 'open' WHERE appointment_id = :id"),
                           {"id": clinic.appointments["A8"]})
        db.session.execute(text("DELETE FROM appointment WHERE id = :id"), {"id": clinic.appointments["A8"]})
        db.session.commit()
    assert moved_to not in assert_summary_matches(app)


def test_concurrent_bookings_of_one_quarter_hour_keep_the_summary_exact(app, doctors, patients, staff):
    desk = Actor(staff["reception"], "reception")
    slots = [day_slots(app, doctor, DAY, 1)[0] for doctor in doctors]  # both doctors' 08:00
    errors: list[Exception] = []

    def book(index: int) -> None:
        try:
            with app.app_context():
                services.book([slots[index]], patients[index], "check-up", desk, new_key())
                db.session.remove()
        except Exception as error:  # reported below
            errors.append(error)

    # The clock is one per process: frozen once here, not in each thread (two threads restoring
    # each other's "before" left it fixed for every later test).
    with clinic_time.frozen(at(DAY, 6)):
        threads = [threading.Thread(target=book, args=(index,)) for index in range(len(slots))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert errors == []
    assert assert_summary_matches(app) == {(at(DAY, 8), "booked", ""): 2}
