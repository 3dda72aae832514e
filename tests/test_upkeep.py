"""Daily upkeep: the slot window rolls forward, expired booking keys go, and the thread runs once a day."""
from __future__ import annotations

import threading
import time
from datetime import timedelta

from sqlalchemy import text

from portal import clinic_time
from portal.extensions import db
from portal.ops.upkeep import run_upkeep, start_upkeep
from portal.schedule import availability
from tests.factories import EVERY_DAY
from tests.helpers import count, run

LAST_WEEK_SQL = "SELECT count(*) FROM slot WHERE doctor_id = :d AND starts_at >= :start"


def forget_the_last_week(app, doctor_id: int) -> tuple[int, object]:
    """Delete the window's last week of slots, as if they were generated a week ago; returns how many."""
    with app.app_context():
        start, _ = clinic_time.day_bounds(clinic_time.today() + timedelta(days=7 * 7))
        gone = db.session.execute(text("DELETE FROM slot WHERE doctor_id = :d AND starts_at >= :start"),
                                  {"d": doctor_id, "start": start}).rowcount
        db.session.commit()
        db.session.remove()
    return gone, start


def test_upkeep_rolls_the_window_forward_for_every_active_doctor(app, doctors):
    run(app, availability.set_availability, doctors[0], EVERY_DAY)
    gone, start = forget_the_last_week(app, doctors[0])
    assert gone == 7 * 7  # seven days of seven slots
    report = run(app, run_upkeep)
    assert (report.doctors, report.slots_created, report.slots_removed) == (2, gone, 0)
    assert count(app, LAST_WEEK_SQL, d=doctors[0], start=start) == gone
    again = run(app, run_upkeep)  # nothing left to do
    assert (again.slots_created, again.slots_removed) == (0, 0)


def test_upkeep_deletes_expired_booking_keys_and_keeps_live_ones(app):
    with app.app_context():
        db.session.execute(text(
            "INSERT INTO idempotency_key (key, scope, request_hash, expires_at) VALUES "
            "('expired-key-0000001', 'booking', 'h', now() - interval '1 minute'), "
            "('live-key-000000001', 'booking', 'h', now() + interval '1 hour')"))
        db.session.commit()
        db.session.remove()
    assert run(app, run_upkeep).keys_purged == 1
    assert count(app, "SELECT count(*) FROM idempotency_key WHERE key = 'live-key-000000001'") == 1
    assert count(app, "SELECT count(*) FROM idempotency_key") == 1


def wait_for(condition, seconds: float = 10) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def test_the_upkeep_thread_runs_once_a_day_and_stops(app, doctors):
    run(app, availability.set_availability, doctors[0], EVERY_DAY)
    gone, start = forget_the_last_week(app, doctors[0])
    app.config["UPKEEP_POLL_S"] = 0.05
    stop = start_upkeep(app)
    try:
        assert wait_for(lambda: count(app, LAST_WEEK_SQL, d=doctors[0], start=start) == gone)
        # Done for today: slots deleted again stay deleted until the date changes.
        forget_the_last_week(app, doctors[0])
        time.sleep(0.5)
        assert count(app, LAST_WEEK_SQL, d=doctors[0], start=start) == 0
    finally:
        stop.set()
    assert wait_for(lambda: not any(t.name == "kliniki-upkeep" for t in threading.enumerate()))


def test_no_upkeep_thread_when_its_poll_is_zero(app):
    app.config["UPKEEP_POLL_S"] = 0
    assert start_upkeep(app) is None
