"""The day grid's version (migration 0019's write counters): it changes with every change the grid shows, only then."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import text

from portal import clinic_time
from portal.actor import Actor
from portal.extensions import db
from portal.schedule import availability, queries, services
from tests.factories import EVERY_DAY
from tests.helpers import admin_connection, run
from tests.schedule.test_availability import book_on_day, later


def versions(app, *days) -> list[str]:
    return [run(app, queries.day_version, day) for day in days]


def one_row(app, sql: str, **params):
    with app.app_context():
        row = db.session.execute(text(sql), params).one()
        db.session.remove()
        return row


def test_a_reschedule_changes_both_days_and_no_other(app, doctors, patients):
    first, second, other = later(app, 3), later(app, 5), later(app, 7)
    book_on_day(app, doctors[0], first, 11, patients[0], "Review")
    before = versions(app, first, second, other)
    assert versions(app, first, second, other) == before  # reading changes nothing
    appointment = one_row(app, "SELECT id FROM appointment").id
    start, _ = clinic_time.day_bounds(second)
    slot = one_row(app, "SELECT id FROM slot WHERE doctor_id = :d AND starts_at = :t",
                   d=doctors[0], t=start + timedelta(hours=9)).id
    run(app, services.reschedule, appointment, [slot], Actor(None, "reception"))
    moved = versions(app, first, second, other)
    assert moved[0] != before[0] and moved[1] != before[1] and moved[2] == before[2]
    run(app, services.change_status, appointment, "confirmed", Actor(None, "reception"))
    confirmed = versions(app, first, second, other)
    assert confirmed[1] != moved[1] and confirmed[0] == moved[0] and confirmed[2] == moved[2]


def test_a_slot_starting_or_ending_and_a_renamed_doctor_change_the_version(app, database_url, doctors):
    run(app, availability.set_availability, doctors[0], EVERY_DAY)
    day = later(app, 3)
    start, end = clinic_time.day_bounds(day)
    first = one_row(app, "SELECT starts_at, ends_at FROM slot WHERE starts_at >= :s AND starts_at < :e "
                    "ORDER BY starts_at LIMIT 1", s=start, e=end)

    def at(instant) -> str:
        with clinic_time.frozen(instant):
            return run(app, queries.day_version, day)
    before = at(first.starts_at - timedelta(minutes=1))
    started = at(first.starts_at + timedelta(minutes=1))
    assert started != before and at(first.starts_at + timedelta(minutes=2)) == started
    ended = at(first.ends_at + timedelta(seconds=1))
    assert ended != started
    with admin_connection(database_url) as conn:
        conn.execute("UPDATE doctor SET name = name || ' Jr' WHERE id = %s", (doctors[0],))
    assert at(first.ends_at + timedelta(seconds=1)) != ended


def test_writers_of_one_quarter_hour_never_wait_on_each_other_s_counter(app, database_url, doctors):
    """Two open transactions writing slots of the same quarter hour: the second does not wait for the first."""
    for doctor in doctors[:2]:
        run(app, availability.set_availability, doctor, EVERY_DAY)
    day = later(app, 3)
    start, _ = clinic_time.day_bounds(day)
    at = start + timedelta(hours=9)
    before = run(app, queries.day_version, day)
    with admin_connection(database_url) as first, admin_connection(database_url) as second:
        block = "UPDATE slot SET status = 'blocked' WHERE doctor_id = %s AND starts_at = %s"
        first.execute(block, (doctors[0], at))
        second.execute("SET lock_timeout = '1s'")
        second.execute(block, (doctors[1], at))  # a shared counter row would time out here
        second.commit()
        assert run(app, queries.day_version, day) != before
        first.commit()
        pids = {first.info.backend_pid, second.info.backend_pid}
    shards = one_row(app, "SELECT array_agg(shard) AS pids FROM schedule_change WHERE quarter = :q", q=at).pids
    assert pids <= set(shards)  # each writer counted in its own row
