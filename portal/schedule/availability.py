"""Doctors, weekly availability, time off, and expanding them into the slot table."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, time, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import delete, select, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.orm import Session

from .. import clinic_time, validation
from ..db import rows_changed, transaction
from ..extensions import db
from ..models import StaffUser
from ..models.schedule import Availability, Doctor, TimeOff
from .services import ScheduleError

WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
SLOT_MINUTES = (10, 15, 20, 30, 45, 60, 90, 120)
MAX_RANGES = 50
MAX_TIME_OFF_DAYS = 366
LICENCE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9/\-. ]{1,31}$")


@dataclass
class GenerationReport:
    """What a slot generation changed, and the appointments that now sit in time off."""

    created: int = 0
    removed: int = 0
    blocked: int = 0
    reopened: int = 0
    conflicts: list = field(default_factory=list)  # rows: id, starts_at, doctor, patient, status


# ---- slot generation ------------------------------------------------------------

_WANTED = """
WITH days AS (
  SELECT d::date AS day FROM generate_series(CAST(:first AS date), CAST(:last AS date), interval '1 day') d
), hours AS (
  SELECT a.doctor_id, a.weekday, days.day, a.starts_time, a.ends_time,
         make_interval(mins => doc.slot_minutes) AS step
  FROM availability a
  JOIN doctor doc ON doc.id = a.doctor_id AND doc.is_active
  JOIN days ON extract(isodow FROM days.day)::int - 1 = a.weekday
  WHERE a.kind = 'hours' AND (CAST(:doctor AS bigint) IS NULL OR a.doctor_id = :doctor)
), wanted AS (
  SELECT h.doctor_id, s.local AT TIME ZONE :tz AS starts_at, (s.local + h.step) AT TIME ZONE :tz AS ends_at
  FROM hours h
  CROSS JOIN LATERAL generate_series(h.day + h.starts_time, h.day + h.ends_time - h.step, h.step) AS s(local)
  WHERE NOT EXISTS (
    SELECT 1 FROM availability b
    WHERE b.doctor_id = h.doctor_id AND b.kind = 'break' AND b.weekday = h.weekday
      AND s.local < h.day + b.ends_time AND s.local + h.step > h.day + b.starts_time)
)
"""


# Slot s lies inside one of its doctor's working ranges that weekday and overlaps none of the breaks.
IN_HOURS = """(
  EXISTS (SELECT 1 FROM availability h
          WHERE h.doctor_id = s.doctor_id AND h.kind = 'hours'
            AND h.weekday = extract(isodow FROM (s.starts_at AT TIME ZONE :tz))::int - 1
            AND (s.starts_at AT TIME ZONE :tz) >= (s.starts_at AT TIME ZONE :tz)::date + h.starts_time
            AND (s.ends_at AT TIME ZONE :tz) <= (s.starts_at AT TIME ZONE :tz)::date + h.ends_time)
  AND NOT EXISTS (SELECT 1 FROM availability b
                  WHERE b.doctor_id = s.doctor_id AND b.kind = 'break'
                    AND b.weekday = extract(isodow FROM (s.starts_at AT TIME ZONE :tz))::int - 1
                    AND (s.starts_at AT TIME ZONE :tz) < (s.starts_at AT TIME ZONE :tz)::date + b.ends_time
                    AND (s.ends_at AT TIME ZONE :tz) > (s.starts_at AT TIME ZONE :tz)::date + b.starts_time))"""


def _generate(session: Session, doctor_id: int | None, weeks: int | None = None) -> GenerationReport:
    """Make the future slots match availability and time off; booked slots are never touched."""
    tz = clinic_time.zone_name()
    weeks = weeks or int(current_app.config["SLOT_WINDOW_WEEKS"])
    first = clinic_time.today()
    last = first + timedelta(days=7 * weeks - 1)
    params = {"first": first, "last": last, "doctor": doctor_id, "tz": tz}
    window = ("s.starts_at > now() AND s.starts_at < CAST(CAST(:last AS date) + 1 AS timestamp) AT TIME ZONE :tz "
              "AND (CAST(:doctor AS bigint) IS NULL OR s.doctor_id = :doctor)")
    report = GenerationReport()
    # Free future slots that availability no longer covers go (a booked slot is kept as it is).
    report.removed = rows_changed(session, text(_WANTED + f"""
        DELETE FROM slot s WHERE s.status IN ('open', 'blocked') AND s.appointment_id IS NULL
          AND {window}
          AND NOT EXISTS (SELECT 1 FROM wanted w WHERE w.doctor_id = s.doctor_id
                          AND w.starts_at = s.starts_at AND w.ends_at = s.ends_at)"""), params)
    report.created = rows_changed(session, text(_WANTED + """
        INSERT INTO slot (doctor_id, starts_at, ends_at, status)
        SELECT w.doctor_id, w.starts_at, w.ends_at, 'open' FROM wanted w
        WHERE w.starts_at > now() AND NOT EXISTS (
          SELECT 1 FROM slot x WHERE x.doctor_id = w.doctor_id AND x.starts_at < w.ends_at
            AND x.ends_at > w.starts_at AND x.starts_at > w.starts_at - interval '1 day')
        ON CONFLICT (doctor_id, starts_at) DO NOTHING"""), params)
    in_time_off = ("EXISTS (SELECT 1 FROM time_off t WHERE t.doctor_id = s.doctor_id "
                   "AND (s.starts_at AT TIME ZONE :tz)::date BETWEEN t.starts_on AND t.ends_on)")
    report.blocked = rows_changed(session, text(
        f"UPDATE slot s SET status = 'blocked' WHERE s.status = 'open' AND {window} AND {in_time_off}"),
        params)
    report.reopened = rows_changed(session, text(
        f"UPDATE slot s SET status = 'open' WHERE s.status = 'blocked' AND {window} AND NOT {in_time_off}"),
        params)
    # Flip the flag where it disagrees with the hours (booked slots only: a free one would be gone).
    session.execute(text(
        f"UPDATE slot s SET outside_hours = NOT s.outside_hours "
        f"WHERE s.appointment_id IS NOT NULL AND {window} AND s.outside_hours = {IN_HOURS}"), params)
    report.conflicts = needs_rescheduling(100, doctor_id)  # db.session is this transaction's session
    return report


def generate_slots(doctor_id: int | None = None, weeks: int | None = None) -> GenerationReport:
    """Regenerate slots for one doctor or all, in one transaction (idempotent)."""
    with transaction() as session:
        if doctor_id is not None:
            _lock_doctor(session, doctor_id)
        else:
            session.execute(text("SELECT id FROM doctor ORDER BY id FOR UPDATE"))
        return _generate(session, doctor_id, weeks)


NO_LONGER_ACTIVE = "the doctor no longer takes appointments"
OUTSIDE_HOURS = "outside the doctor's working hours"
NEEDS_RESCHEDULING_SQL = f"""
    SELECT DISTINCT ON (x.starts_at, x.id) x.* FROM (
      SELECT a.id, a.starts_at, d.name AS doctor, p.first_name || ' ' || p.last_name AS patient,
             a.status, t.reason, a.patient_id
      FROM time_off t
      JOIN doctor d ON d.id = t.doctor_id
      -- Per time off, its doctor's appointments by (doctor, start): LIMIT keeps the planner from
      -- flattening this into a scan of every future appointment joined afterwards.
      CROSS JOIN LATERAL (
        SELECT a.id, a.starts_at, a.status, a.patient_id FROM appointment a
        WHERE a.doctor_id = t.doctor_id AND a.status IN ('pending_review', 'booked', 'confirmed')
          AND a.starts_at >= (CAST(t.starts_on AS timestamp) AT TIME ZONE :tz)
          AND a.starts_at < (CAST(t.ends_on + 1 AS timestamp) AT TIME ZONE :tz) AND a.starts_at > :now
        ORDER BY a.starts_at LIMIT :limit) a
      JOIN patient p ON p.id = a.patient_id
      WHERE t.ends_on >= :today AND (CAST(:doctor AS bigint) IS NULL OR t.doctor_id = :doctor)
      UNION ALL
      SELECT a.id, a.starts_at, d.name, p.first_name || ' ' || p.last_name, a.status, '{NO_LONGER_ACTIVE}', a.patient_id
      FROM doctor d
      CROSS JOIN LATERAL (
        SELECT a.id, a.starts_at, a.status, a.patient_id FROM appointment a
        WHERE a.doctor_id = d.id AND a.starts_at > :now AND a.status IN ('pending_review', 'booked', 'confirmed')
        ORDER BY a.starts_at LIMIT :limit) a
      JOIN patient p ON p.id = a.patient_id
      WHERE NOT d.is_active AND (CAST(:doctor AS bigint) IS NULL OR d.id = :doctor)
      UNION ALL
      SELECT a.id, a.starts_at, d.name, p.first_name || ' ' || p.last_name, a.status, :outside_hours, a.patient_id
      FROM slot s
      JOIN appointment a ON a.id = s.appointment_id
      JOIN doctor d ON d.id = a.doctor_id JOIN patient p ON p.id = a.patient_id
      WHERE s.outside_hours AND s.starts_at > :now AND d.is_active
        AND a.status IN ('pending_review', 'booked', 'confirmed')
        AND (CAST(:doctor AS bigint) IS NULL OR s.doctor_id = :doctor)
    ) x ORDER BY x.starts_at, x.id LIMIT :limit"""


def needs_rescheduling(limit: int = 50, doctor_id: int | None = None) -> list:
    """Active future appointments in time off, outside their doctor's hours, or with an inactive doctor."""
    return list(db.session.execute(text(NEEDS_RESCHEDULING_SQL), {
        "tz": clinic_time.zone_name(), "today": clinic_time.today(), "now": clinic_time.now(),
        "limit": limit, "doctor": doctor_id, "outside_hours": OUTSIDE_HOURS}))


# ---- doctors ----------------------------------------------------------------------

def _lock_doctor(session: Session, doctor_id: int) -> Doctor:
    doctor = session.scalars(select(Doctor).where(Doctor.id == doctor_id).with_for_update()
                             .execution_options(populate_existing=True)).first()
    if doctor is None:
        raise ScheduleError("That doctor does not exist.", 404)
    return doctor


def _doctor_fields(form: dict) -> dict:
    """Validate a doctor profile form; raises ScheduleError naming the first bad field."""
    from ..patients.phones import PhoneError, normalise_phone

    values: dict[str, Any] = {
        "name": validation.text(form.get("name"), "name", 120, required=True),
        "licence_number": validation.text(form.get("licence_number"), "licence number", 32, required=True),
        "specialisation": validation.text(form.get("specialisation"), "specialisation", 80, required=True),
        "email": validation.text(form.get("email"), "email", 254),
        "phone": None, "user_id": None,
        "is_active": str(form.get("is_active", "")) in ("1", "on", "true"),  # an unticked box is not sent
    }
    if not LICENCE.match(values["licence_number"]):
        raise ScheduleError("A licence number has letters, digits, dashes, slashes or dots.", field="licence_number")
    if values["email"] and not validation.is_email(values["email"]):
        raise ScheduleError("Enter an email address like name@example.com.", field="email")
    if (form.get("phone") or "").strip():
        try:
            values["phone"] = normalise_phone(form["phone"])
        except PhoneError as error:
            raise ScheduleError(str(error), field="phone") from None
    if (form.get("user_id") or "").strip():
        try:
            values["user_id"] = validation.row_id(form["user_id"], "login", field="user_id")
        except validation.BadInput:
            raise ScheduleError("Choose the doctor's login from the list.", field="user_id") from None
        role = db.session.scalar(select(StaffUser.role).where(StaffUser.id == values["user_id"]))
        if role != "doctor":
            raise ScheduleError("The linked login must be a staff member with the doctor role.", field="user_id")
    try:
        minutes = validation.integer(form.get("slot_minutes"), "slot length", 1, 24 * 60) or 30
    except validation.BadInput:
        minutes = -1
    if minutes not in SLOT_MINUTES:
        raise ScheduleError("Choose a slot length from the list.", field="slot_minutes")
    values["slot_minutes"] = minutes
    return values


def save_doctor(form: dict, doctor_id: int | None = None) -> Doctor:
    """Create or update a doctor profile; a changed slot length or activity regenerates slots."""
    values = _doctor_fields(form)
    try:
        with transaction() as session:
            if doctor_id is None:
                doctor = Doctor(**values)
                session.add(doctor)
                session.flush()
            else:
                doctor = _lock_doctor(session, doctor_id)
                for name, value in values.items():
                    setattr(doctor, name, value)
                session.flush()
                _generate(session, doctor.id)
        return doctor
    except sa_exc.IntegrityError as error:
        constraint = getattr(getattr(error.orig, "diag", None), "constraint_name", "")
        if constraint == "uq_doctor_licence_number":
            raise ScheduleError("Another doctor has this licence number.", field="licence_number") from None
        if constraint == "uq_doctor_user_id":
            raise ScheduleError("This login is already linked to another doctor.", field="user_id") from None
        raise


def doctor_logins() -> list[StaffUser]:
    """Doctor-role logins, for linking a profile (bounded)."""
    return list(db.session.scalars(select(StaffUser).where(StaffUser.role == "doctor")
                                   .order_by(StaffUser.full_name).limit(100)))


# ---- availability -----------------------------------------------------------------

def _parse_time(value: str, label: str) -> time:
    try:
        parsed = validation.clock_time(value, f"{label} time")
    except validation.BadInput:
        parsed = None
    if parsed is None:  # blank, junk, or a time with a date or an offset
        raise ScheduleError(f"Enter the {label} time as HH:MM.", field="availability")
    return parsed


def parse_ranges(weekdays: list, kinds: list, starts: list, ends: list) -> list[tuple[int, str, time, time]]:
    """Rows of the availability form -> (weekday, kind, start, end); blank rows are skipped."""
    if not (len(weekdays) == len(kinds) == len(starts) == len(ends)):
        raise ScheduleError("The availability form was incomplete. Reload and try again.", field="availability")
    ranges = []
    for weekday, kind, start, end in zip(weekdays, kinds, starts, ends):
        if not (start or "").strip() and not (end or "").strip():
            continue
        try:
            day = validation.integer(weekday, "weekday", 0, 6)
        except validation.BadInput:
            day = None
        if day is None:
            day = -1
        if not 0 <= day <= 6:
            raise ScheduleError("Choose a weekday for every row.", field="availability")
        if kind not in ("hours", "break"):
            raise ScheduleError("Each row is working hours or a break.", field="availability")
        begin, finish = _parse_time(start, "start"), _parse_time(end, "end")
        if finish <= begin:
            raise ScheduleError(f"On {WEEKDAYS[day]}, {begin:%H:%M}–{finish:%H:%M} ends before it starts.",
                                field="availability")
        ranges.append((day, kind, begin, finish))
    if len(ranges) > MAX_RANGES:
        raise ScheduleError(f"At most {MAX_RANGES} rows.", field="availability")
    for kind in ("hours", "break"):
        same = sorted(r for r in ranges if r[1] == kind)
        for a, b in zip(same, same[1:]):
            if a[0] == b[0] and b[2] < a[3]:
                raise ScheduleError(f"On {WEEKDAYS[a[0]]}, {a[2]:%H:%M}–{a[3]:%H:%M} and "
                                    f"{b[2]:%H:%M}–{b[3]:%H:%M} overlap.", field="availability")
    return ranges


def set_availability(doctor_id: int, ranges: list[tuple[int, str, time, time]]) -> GenerationReport:
    """Replace a doctor's weekly hours and breaks, and regenerate slots, in one transaction."""
    with transaction() as session:
        _lock_doctor(session, doctor_id)
        session.execute(delete(Availability).where(Availability.doctor_id == doctor_id))
        session.add_all(Availability(doctor_id=doctor_id, weekday=day, kind=kind, starts_time=start,
                                     ends_time=end) for day, kind, start, end in ranges)
        session.flush()
        return _generate(session, doctor_id)


def availability_of(doctor_id: int) -> list[Availability]:
    return list(db.session.scalars(select(Availability).where(Availability.doctor_id == doctor_id)
                                   .order_by(Availability.weekday, Availability.kind.desc(),
                                             Availability.starts_time).limit(MAX_RANGES)))


def parse_day(value: str | None, label: str = "date") -> date:
    """A YYYY-MM-DD date, or ScheduleError (e.g. for 2025-02-30)."""
    try:
        parsed = validation.day(value, label)
    except validation.BadInput:
        parsed = None
    if parsed is None:
        raise ScheduleError(f"Enter the {label} as a real date (YYYY-MM-DD).", field=label)
    return parsed


def add_time_off(doctor_id: int, starts_on: str | None, ends_on: str | None, reason: str | None,
                 user_id: int | None) -> GenerationReport:
    """Add time off and block its slots; booked appointments in it are reported, not dropped."""
    first, last = parse_day(starts_on, "first day"), parse_day(ends_on, "last day")
    why = validation.text(reason, "reason", 200, required=True, multiline=True)
    if last < first:
        raise ScheduleError("The last day is before the first day.", field="time_off")
    if (last - first).days >= MAX_TIME_OFF_DAYS:
        raise ScheduleError("Time off is at most a year at a time.", field="time_off")
    with transaction() as session:
        _lock_doctor(session, doctor_id)
        session.add(TimeOff(doctor_id=doctor_id, starts_on=first, ends_on=last, reason=why,
                            created_by_id=user_id))
        session.flush()
        return _generate(session, doctor_id)


def remove_time_off(doctor_id: int, time_off_id: int) -> GenerationReport:
    with transaction() as session:
        _lock_doctor(session, doctor_id)
        gone = rows_changed(session, delete(TimeOff).where(TimeOff.id == time_off_id,
                                                           TimeOff.doctor_id == doctor_id))
        if not gone:
            raise ScheduleError("That time off does not exist.", 404)
        return _generate(session, doctor_id)


def time_off_of(doctor_id: int, limit: int = 50) -> list[TimeOff]:
    """Current and future time off of a doctor (bounded)."""
    return list(db.session.scalars(select(TimeOff).where(TimeOff.doctor_id == doctor_id,
                                                         TimeOff.ends_on >= clinic_time.today())
                                   .order_by(TimeOff.starts_on).limit(limit)))
