"""Clinic time in one place: the zone, now, today, local day bounds, and a clock tests can set."""
from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, time, timedelta, timezone
from functools import lru_cache
from zoneinfo import ZoneInfo

from flask import current_app, has_app_context

DEFAULT_ZONE = "Africa/Nairobi"

# A fixed instant set by tests (set_clock/frozen); None means the real clock.
_fixed_now: datetime | None = None


@lru_cache(maxsize=8)
def _zone_named(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def zone() -> ZoneInfo:
    """The clinic's time zone (CLINIC_TIMEZONE, default Africa/Nairobi)."""
    if has_app_context():
        return _zone_named(current_app.config["CLINIC_TIMEZONE"])
    return _zone_named(os.environ.get("CLINIC_TIMEZONE", DEFAULT_ZONE))


def zone_name() -> str:
    """The zone's IANA name, for SQL's AT TIME ZONE."""
    return zone().key


def now() -> datetime:
    """The current instant, in UTC (the settable clock when a test has set it)."""
    return _fixed_now if _fixed_now is not None else datetime.now(timezone.utc)


def today() -> date:
    """The clinic's local date now."""
    return now().astimezone(zone()).date()


def local(value: datetime) -> datetime:
    """An aware instant in the clinic's zone."""
    return value.astimezone(zone())


def local_date(value: datetime) -> date:
    """The clinic-local date of an aware instant."""
    return local(value).date()


def day_start(day: date) -> datetime:
    """The instant a clinic-local day starts (aware, in the clinic's zone)."""
    return datetime.combine(day, time(0), tzinfo=zone())


def day_bounds(day: date) -> tuple[datetime, datetime]:
    """The UTC instants where a clinic-local day starts and the next one starts."""
    return (day_start(day).astimezone(timezone.utc),
            day_start(day + timedelta(days=1)).astimezone(timezone.utc))


def at_local(day: date, clock: time) -> datetime:
    """The UTC instant of a clinic-local date and wall-clock time."""
    return datetime.combine(day, clock, tzinfo=zone()).astimezone(timezone.utc)


def is_fixed() -> bool:
    """True while a test has fixed the clock."""
    return _fixed_now is not None


def set_clock(at: datetime | None) -> None:
    """Fix "now" at an aware instant (None: back to the real clock)."""
    global _fixed_now
    if at is not None and at.tzinfo is None:
        raise ValueError("the clock takes an aware datetime")
    _fixed_now = at.astimezone(timezone.utc) if at is not None else None


@contextmanager
def frozen(at: datetime) -> Iterator[datetime]:
    """Run a block with "now" fixed at `at`."""
    before = _fixed_now
    set_clock(at)
    try:
        yield now()
    finally:
        set_clock(before)
