"""Read-only schedule queries for the pages: the day grid, its version, a doctor's day, details."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import exists, select, text, tuple_

from .. import clinic_time
from ..db import Page, fetch_page, page_size, parse_time_cursor, time_cursor
from ..extensions import db
from ..labels import status_label
from ..models.schedule import Appointment, AppointmentEvent, Doctor, Slot

# The grid scrolls sideways with the names kept in view, so it shows every doctor working that day;
# the bound only keeps one page finite (cells are bounded too: 96 quarter hours a doctor).
MAX_DOCTORS_ON_GRID = 100
MAX_DOCTORS = 500  # a clinic has dozens; the bound only keeps every list finite
MAX_SLOTS_ON_GRID = MAX_DOCTORS_ON_GRID * 96
DOCTOR_WINDOW_DAYS = 14


@dataclass
class Cell:
    """One slot as the grid shows it."""

    slot_id: int
    doctor_id: int
    starts_at: datetime
    ends_at: datetime
    state: str  # free, booked, blocked
    past: bool
    appointment_id: int | None = None
    patient: str | None = None
    status: str | None = None
    continued: bool = False  # a later slot of a longer appointment
    doctor: str | None = None
    outside_hours: bool = False  # booked, but the doctor's hours no longer cover it: to be moved
    patient_id: int | None = None
    time_label: str = ""  # the start, clinic-local HH:MM (worked out once per time, not per cell)

    @property
    def running(self) -> bool:
        """True for a slot under way now (a free one takes a walk-in)."""
        return self.starts_at <= clinic_time.now() < self.ends_at

    @property
    def css(self) -> str:
        return (f"slot {self.state}" + (" past" if self.past else "") + (" continued" if self.continued else "")
                + (" outside-hours" if self.outside_hours else ""))

    @property
    def status_text(self) -> str:
        return status_label(self.status) if self.status else ""


@dataclass
class DayGrid:
    day: date
    doctors: list
    times: list[datetime]
    cells: dict
    version: str
    doctors_working: int  # how many work that day (in the chosen specialisation); more than shown if capped
    specialisation: str | None = None

    @property
    def rows(self) -> list[tuple[str, list[Cell | None]]]:
        """The grid as the page draws it: per time, its label and each shown doctor's cell (None: not working)."""
        cells, doctor_ids = self.cells, [doctor.id for doctor in self.doctors]
        return [(time_label(starts_at), [cells.get((doctor_id, starts_at)) for doctor_id in doctor_ids])
                for starts_at in self.times]


CELLS_SQL = """
SELECT s.id, s.doctor_id, s.starts_at, s.ends_at, s.status, s.appointment_id, s.outside_hours,
       a.status AS appointment_status, a.starts_at AS appointment_starts_at,
       p.first_name || ' ' || p.last_name AS patient, d.name AS doctor, a.patient_id
FROM slot s
JOIN doctor d ON d.id = s.doctor_id
LEFT JOIN appointment a ON a.id = s.appointment_id
LEFT JOIN patient p ON p.id = a.patient_id
WHERE {where}
ORDER BY s.starts_at, s.doctor_id
LIMIT :limit
"""


# A patient who has arrived is never shown as past, however long they wait.
PRESENT = frozenset({"checked_in", "in_consultation"})


STATES = {"open": "free", "booked": "booked", "blocked": "blocked"}


def time_label(starts_at: datetime) -> str:
    """An instant as the grid labels it: clinic-local HH:MM."""
    return clinic_time.local(starts_at).strftime("%H:%M")


def _cells(rows, now: datetime) -> list[Cell]:
    """Cells from CELLS_SQL rows; each distinct start is converted to the clinic's time once."""
    labels: dict[datetime, str] = {}
    made = []
    for (slot_id, doctor_id, starts_at, ends_at, slot_status, appointment_id, outside_hours, appointment_status,
         appointment_starts_at, patient, doctor, patient_id) in rows:
        state = STATES[slot_status]
        # A free slot that is running now is still bookable for a walk-in; it is past once it ends.
        past = (ends_at <= now if state == "free" else starts_at <= now) and appointment_status not in PRESENT
        label = labels.get(starts_at)
        if label is None:
            label = labels[starts_at] = time_label(starts_at)
        made.append(Cell(slot_id, doctor_id, starts_at, ends_at, state, past, appointment_id, patient,
                         appointment_status, bool(appointment_starts_at and appointment_starts_at < starts_at),
                         doctor, outside_hours, patient_id, label))
    return made


def active_doctors() -> list:
    """Active doctors by name, for pickers (id, name, specialisation)."""
    return list(db.session.execute(select(Doctor.id, Doctor.name, Doctor.specialisation)
                                   .where(Doctor.is_active).order_by(Doctor.name, Doctor.id)
                                   .limit(MAX_DOCTORS)))


def specialisations() -> list[str]:
    """The active doctors' specialisations, for the grid's filter."""
    return list(db.session.scalars(select(Doctor.specialisation).where(Doctor.is_active).distinct()
                                   .order_by(Doctor.specialisation).limit(MAX_DOCTORS)))


def working_doctors(day: date, specialisation: str | None = None) -> list:
    """Active doctors with slots on the day, optionally of one specialisation, by name."""
    start, end = clinic_time.day_bounds(day)
    stmt = (select(Doctor.id, Doctor.name, Doctor.specialisation)
            .where(Doctor.is_active, exists().where(Slot.doctor_id == Doctor.id, Slot.starts_at >= start,
                                                    Slot.starts_at < end)))
    if specialisation:
        stmt = stmt.where(Doctor.specialisation == specialisation)
    return list(db.session.execute(stmt.order_by(Doctor.name, Doctor.id).limit(MAX_DOCTORS)))


def day_grid(day: date, specialisation: str | None = None, version: str | None = None) -> DayGrid:
    """Doctors working that day as columns (at most MAX_DOCTORS_ON_GRID), slot times as rows.

    `version` is the day's, read before this (a change meanwhile then shows at the next poll).
    """
    version = day_version(day) if version is None else version
    start, end = clinic_time.day_bounds(day)
    working = working_doctors(day, specialisation)
    doctors = working[:MAX_DOCTORS_ON_GRID]
    rows = db.session.execute(text(CELLS_SQL.format(
        where="s.starts_at >= :start AND s.starts_at < :end AND s.doctor_id = ANY(:doctors)")),
        {"start": start, "end": end, "doctors": [d.id for d in doctors], "limit": MAX_SLOTS_ON_GRID}).all()
    cells = {(cell.doctor_id, cell.starts_at): cell for cell in _cells(rows, clinic_time.now())}
    times = sorted({starts_at for _, starts_at in cells})
    return DayGrid(day, doctors, times, cells, version, len(working), specialisation)


def booked_cells(result) -> list[Cell]:
    """The cells of a booking just made, from what the booking returned (no read-back)."""
    if not result.created:
        return cells_for(result.slot_ids)
    return [Cell(slot_id, result.doctor_id, starts_at, ends_at, "booked", False, result.appointment_id,
                 result.patient, result.status, index > 0, result.doctor, time_label=time_label(starts_at))
            for index, (slot_id, starts_at, ends_at) in enumerate(result.slots)]


def cells_for(slot_ids: list[int]) -> list[Cell]:
    """Fresh cells for some slots (out-of-band refresh after a booking or a refusal)."""
    if not slot_ids:
        return []
    now = clinic_time.now()
    rows = db.session.execute(text(CELLS_SQL.format(where="s.id = ANY(:ids)")),
                              {"ids": [int(i) for i in slot_ids][:100], "limit": 100}).all()
    return _cells(rows, now)


# What every cell shows: the writes to the day's slots and appointments (counted by triggers, migration
# 0019, from the quarter hour :start falls in), the last slot start and end the clinic's clock (:now, as
# the cells are drawn with) has passed (a free slot turns past), and the doctors' names and specialisations.
DAY_VERSION_SQL = """
        SELECT concat_ws('|',
          (SELECT coalesce(sum(c.changes), 0) FROM schedule_change c
           WHERE c.quarter >= date_bin('15 minutes', :start, TIMESTAMPTZ '2000-01-01 00:00+00') AND c.quarter < :end),
          (SELECT coalesce(max(s.starts_at)::text, '-') FROM slot s WHERE s.starts_at >= :start
           AND s.starts_at < :end AND s.starts_at <= :now),
          (SELECT coalesce(max(s.ends_at)::text, '-') FROM slot s WHERE s.ends_at > :start AND s.ends_at <= :now
           AND s.ends_at < :end + interval '1 day'),
          (SELECT count(*) || ':' || coalesce(sum(hashtextextended(
                    d.id || ':' || d.name || ':' || d.specialisation, 0)), 0)
           FROM doctor d WHERE d.is_active))"""


def day_version(day: date) -> str:
    """A fingerprint of everything the day grid shows; it changes when any cell would.

    A sum of the day's write counters and two index lookups, so a poll costs the same however
    many slots and appointments the day holds (hashing each row was 4.5 ms at 2,900).
    """
    start, end = clinic_time.day_bounds(day)
    return db.session.scalar(text(DAY_VERSION_SQL), {"start": start, "end": end, "now": clinic_time.now()})


def appointment_with_history(appointment_id: int):
    """The appointment and its last 50 changes, newest first, with who made them."""
    from ..models import StaffUser

    appointment = db.session.get(Appointment, appointment_id)
    if appointment is None:
        return None, []
    events = list(db.session.execute(
        select(AppointmentEvent, StaffUser.full_name)
        .outerjoin(StaffUser, StaffUser.id == AppointmentEvent.user_id)
        .where(AppointmentEvent.appointment_id == appointment_id)
        .order_by(AppointmentEvent.at.desc(), AppointmentEvent.id.desc()).limit(50)))
    return appointment, events


def doctor_for_user(user_id: int) -> Doctor | None:
    return db.session.scalar(select(Doctor).where(Doctor.user_id == user_id))


def doctor_upcoming(doctor_id: int, cursor: str | None, limit) -> Page:
    """Today and the next two weeks of a doctor's appointments, keyset-paged by (start, id)."""
    start, _ = clinic_time.day_bounds(clinic_time.today())
    end = start + timedelta(days=DOCTOR_WINDOW_DAYS)
    stmt = (select(Appointment).where(Appointment.doctor_id == doctor_id,
                                      Appointment.status != "cancelled",
                                      Appointment.starts_at >= start, Appointment.starts_at < end)
            .order_by(Appointment.starts_at, Appointment.id))
    position = parse_time_cursor(cursor)  # a mangled cursor starts from the top
    if position:
        stmt = stmt.where(tuple_(Appointment.starts_at, Appointment.id) > position)
    return fetch_page(db.session, stmt, page_size(limit), lambda a: time_cursor(a.starts_at, a.id))


def pending_reviews(doctor_id: int, limit: int = 50) -> list[Appointment]:
    """Consultation requests waiting for this doctor (future ones, bounded)."""
    return list(db.session.scalars(
        select(Appointment).where(Appointment.doctor_id == doctor_id,
                                  Appointment.status == "pending_review",
                                  Appointment.starts_at > clinic_time.now())
        .order_by(Appointment.starts_at, Appointment.id).limit(limit)))


QUESTIONS_SQL = """
    SELECT a.id, a.starts_at, d.name AS doctor, p.first_name || ' ' || p.last_name AS patient,
           a.review_notes AS question, a.patient_id
    FROM appointment a JOIN doctor d ON d.id = a.doctor_id JOIN patient p ON p.id = a.patient_id
    WHERE a.status = 'pending_review' AND a.review_outcome = 'info_requested' AND a.starts_at > :now
    ORDER BY a.starts_at, a.id LIMIT :limit"""


def questions_for_reception(limit: int = 20) -> list:
    """Consultation requests whose doctor asked reception for more information, soonest first."""
    return list(db.session.execute(text(QUESTIONS_SQL), {"now": clinic_time.now(), "limit": limit}))


def next_free_slot(day: date, specialisation: str | None = None) -> int | None:
    """The free slot of any active doctor that is running now or starts soonest on the day (walk-ins)."""
    start, end = clinic_time.day_bounds(day)
    stmt = (select(Slot.id).join(Doctor, Doctor.id == Slot.doctor_id)
            .where(Doctor.is_active, Slot.status == "open", Slot.starts_at >= start, Slot.starts_at < end,
                   Slot.ends_at > clinic_time.now())
            .order_by(Slot.starts_at, Slot.doctor_id).limit(1))
    if specialisation:
        stmt = stmt.where(Doctor.specialisation == specialisation)
    return db.session.scalar(stmt)


def free_slots(doctor_id: int, day: date, limit: int = 100) -> list[Slot]:
    """An active doctor's free future slots on a day (for rescheduling)."""
    start, end = clinic_time.day_bounds(day)
    return list(db.session.scalars(
        select(Slot).join(Doctor, Doctor.id == Slot.doctor_id)
        .where(Slot.doctor_id == doctor_id, Doctor.is_active, Slot.status == "open",
                           Slot.starts_at >= max(start, clinic_time.now()), Slot.starts_at < end)
        .order_by(Slot.starts_at).limit(limit)))


def doctors_page(limit: int = 100) -> list[Doctor]:
    return list(db.session.scalars(select(Doctor).order_by(Doctor.is_active.desc(), Doctor.name)
                                   .limit(page_size(limit, default=100))))


MAX_ON_DAY_LIST = 1000


@dataclass
class DayListRow:
    """One active appointment as the printed day list shows it."""

    appointment_id: int
    starts_at: datetime
    ends_at: datetime
    status: str
    reason: str | None
    doctor: str
    patient: str
    file_number: str
    phone: str
    date_of_birth: date
    allergies: str | None
    patient_id: int


DAY_LIST_SELECT = """
SELECT a.id AS appointment_id, a.starts_at, a.ends_at, a.status, a.reason, d.name AS doctor,
       concat_ws(' ', p.first_name, p.middle_name, p.last_name) AS patient, p.file_number,
       p.phone, p.date_of_birth, p.allergies, a.patient_id
FROM appointment a
JOIN doctor d ON d.id = a.doctor_id
JOIN patient p ON p.id = a.patient_id
"""
DAY_LIST_SQL = DAY_LIST_SELECT + """
WHERE a.starts_at >= :start AND a.starts_at < :end AND a.status <> 'cancelled'
  AND (CAST(:doctor AS bigint) IS NULL OR a.doctor_id = :doctor)
ORDER BY d.name, a.doctor_id, a.starts_at
LIMIT :limit
"""


def day_list(day: date, doctor_id: int | None = None) -> tuple[list[DayListRow], bool]:
    """The day's active appointments by doctor and time (served by ix_appointment_starts_at);
    the flag says the list was cut at MAX_ON_DAY_LIST."""
    start, end = clinic_time.day_bounds(day)
    rows = db.session.execute(text(DAY_LIST_SQL), {"start": start, "end": end, "doctor": doctor_id,
                                                  "limit": MAX_ON_DAY_LIST + 1}).all()
    return [DayListRow(**row._mapping) for row in rows[:MAX_ON_DAY_LIST]], len(rows) > MAX_ON_DAY_LIST


def day_list_row(appointment_id: int) -> DayListRow | None:
    """One row of the day list again (after a check-in from it)."""
    row = db.session.execute(text(DAY_LIST_SELECT + " WHERE a.id = :id"), {"id": appointment_id}).first()
    return DayListRow(**row._mapping) if row else None
