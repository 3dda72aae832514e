"""portal.clinic_time, without a database: the clinic's zone, its days in UTC, and the settable clock."""
from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from flask import Flask

from portal import clinic_time
from tests.factories import Clock

UTC = timezone.utc


@pytest.fixture(autouse=True)
def nairobi(monkeypatch):
    """Outside an app the zone comes from the environment: pin it, whatever the machine says."""
    monkeypatch.setenv("CLINIC_TIMEZONE", "Africa/Nairobi")


def app_in(zone_name: str) -> Flask:
    """A bare Flask app (no database) configured for a clinic in `zone_name`."""
    app = Flask(__name__)
    app.config["CLINIC_TIMEZONE"] = zone_name
    return app


# ---- the zone ------------------------------------------------------------------------------

def test_the_zone_comes_from_the_environment_outside_an_app(monkeypatch):
    assert clinic_time.zone() == ZoneInfo("Africa/Nairobi") and clinic_time.zone_name() == "Africa/Nairobi"
    monkeypatch.setenv("CLINIC_TIMEZONE", "Europe/London")
    assert clinic_time.zone_name() == "Europe/London"


def test_the_app_setting_wins_inside_an_app():
    with app_in("America/New_York").app_context():
        assert clinic_time.zone_name() == "America/New_York"
    assert clinic_time.zone_name() == "Africa/Nairobi"


# ---- day bounds ----------------------------------------------------------------------------

def test_a_nairobi_day_runs_from_21_00_utc_the_evening_before():
    start, end = clinic_time.day_bounds(date(2026, 11, 24))
    assert (start, end) == (datetime(2026, 11, 23, 21, tzinfo=UTC), datetime(2026, 11, 24, 21, tzinfo=UTC))
    assert start.utcoffset() == timedelta(0) and end - start == timedelta(hours=24)


def test_day_start_is_local_midnight_in_the_clinics_zone():
    start = clinic_time.day_start(date(2026, 11, 24))
    assert start.tzinfo == ZoneInfo("Africa/Nairobi") and (start.hour, start.minute) == (0, 0)
    assert start == clinic_time.day_bounds(date(2026, 11, 24))[0]


def test_days_across_a_year_end_and_a_leap_day_follow_on_without_a_gap():
    for day in (date(2026, 12, 31), date(2028, 2, 28), date(2028, 2, 29)):
        assert clinic_time.day_bounds(day)[1] == clinic_time.day_bounds(day + timedelta(days=1))[0]
    assert clinic_time.day_bounds(date(2028, 2, 29))[0] == datetime(2028, 2, 28, 21, tzinfo=UTC)


@pytest.mark.parametrize("day, hours", [(date(2026, 3, 29), 23), (date(2026, 10, 25), 25), (date(2026, 7, 1), 24)])
def test_a_zone_with_summer_time_has_short_and_long_days(day, hours):
    with app_in("Europe/London").app_context():
        start, end = clinic_time.day_bounds(day)
    assert end - start == timedelta(hours=hours)
    assert start.astimezone(ZoneInfo("Europe/London")).time() == time(0)


def test_a_clinic_west_of_utc_starts_its_day_after_utc_midnight():
    with app_in("America/New_York").app_context():
        assert clinic_time.day_bounds(date(2026, 1, 15))[0] == datetime(2026, 1, 15, 5, tzinfo=UTC)


def test_at_local_turns_a_wall_clock_time_into_utc():
    assert clinic_time.at_local(date(2026, 11, 24), time(8)) == datetime(2026, 11, 24, 5, tzinfo=UTC)
    assert clinic_time.at_local(date(2026, 11, 24), time(1)) == datetime(2026, 11, 23, 22, tzinfo=UTC)


def test_local_and_local_date_see_the_clinics_calendar():
    late_utc = datetime(2026, 11, 23, 22, 30, tzinfo=UTC)  # 01:30 the next morning in Nairobi
    assert clinic_time.local(late_utc).hour == 1 and clinic_time.local_date(late_utc) == date(2026, 11, 24)


# ---- the settable clock --------------------------------------------------------------------

def test_frozen_fixes_now_and_today_and_gives_the_real_clock_back():
    with clinic_time.frozen(datetime(2026, 11, 23, 20, 59, 59, tzinfo=UTC)) as at:
        assert clinic_time.now() == at == datetime(2026, 11, 23, 20, 59, 59, tzinfo=UTC)
        assert clinic_time.today() == date(2026, 11, 23)  # 23:59:59 in Nairobi
    with clinic_time.frozen(datetime(2026, 11, 23, 21, tzinfo=UTC)):
        assert clinic_time.today() == date(2026, 11, 24)  # midnight in Nairobi: the next day
    assert abs(clinic_time.now() - datetime.now(UTC)) < timedelta(seconds=5)


def test_frozen_takes_any_aware_instant_and_answers_in_utc():
    with clinic_time.frozen(datetime(2026, 11, 24, 8, tzinfo=ZoneInfo("Africa/Nairobi"))):
        now = clinic_time.now()
    assert now == datetime(2026, 11, 24, 5, tzinfo=UTC) and now.utcoffset() == timedelta(0)


def test_frozen_blocks_nest_and_restore_the_outer_instant():
    outer, inner = datetime(2026, 1, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC)
    with clinic_time.frozen(outer):
        with clinic_time.frozen(inner):
            assert clinic_time.now() == inner
        assert clinic_time.now() == outer


def test_frozen_restores_the_clock_when_the_block_raises():
    with pytest.raises(RuntimeError), clinic_time.frozen(datetime(2026, 1, 1, tzinfo=UTC)):
        raise RuntimeError("boom")
    assert clinic_time.now().year >= 2026 and clinic_time.now() != datetime(2026, 1, 1, tzinfo=UTC)


def test_the_clock_refuses_a_naive_datetime():
    with pytest.raises(ValueError, match="aware"):
        clinic_time.set_clock(datetime(2026, 11, 24, 8))


def test_the_clock_fixture_holds_still_until_set(clock):
    first = clinic_time.now()
    assert clinic_time.now() == first == clock.now()
    assert clock.set("2026-11-24 08:00") == datetime(2026, 11, 24, 5, tzinfo=UTC)  # clinic-local time
    assert clinic_time.today() == date(2026, 11, 24)
    assert clock.advance(hours=16) == datetime(2026, 11, 24, 21, tzinfo=UTC)
    assert clinic_time.today() == date(2026, 11, 25)


def test_a_clock_reset_is_the_real_clock_again():
    clock = Clock()
    try:
        clock.set(datetime(2020, 2, 2, tzinfo=UTC))
        assert clinic_time.now().year == 2020
    finally:
        clock.reset()
    assert abs(clinic_time.now() - datetime.now(UTC)) < timedelta(seconds=5)
