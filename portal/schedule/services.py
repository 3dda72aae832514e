"""Schedule rules: booking, cancelling, rescheduling and status changes, each in one transaction.

Lock order, the same everywhere so no two of these can deadlock:
appointment row (cancel, reschedule, status) -> slot rows by (starts_at, id) -> patient row.
"""
from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import exc as sa_exc
from sqlalchemy import select, text, update
from sqlalchemy.orm import Session

from .. import clinic_time, idempotency, validation
from ..actor import Actor
from ..audit import record_audit
from ..auth.roles import ADMINS, DESK, DOCTORS, NURSE
from ..db import LOCKED, classify_db_error, fetch, transaction
from ..domain import DomainError
from ..extensions import db
from ..models.schedule import Appointment, AppointmentEvent, Doctor, Slot
from .queries import day_list

MAX_SLOTS_PER_APPOINTMENT = 16
MAX_REASON = 500
# An appointment never spans more than this, so overlap checks look back no further (index range).
MAX_SPAN = timedelta(hours=24)

STATUS_LABELS = {
    "pending_review": "pending doctor review", "booked": "booked", "confirmed": "confirmed",
    "checked_in": "checked in", "in_consultation": "in consultation", "completed": "completed",
    "no_show": "no show", "cancelled": "cancelled",
}
# (from, to) -> roles that may make the change; anything not listed is refused.
TRANSITIONS: dict[tuple[str, str], frozenset[str]] = {
    ("booked", "confirmed"): DESK,
    ("booked", "checked_in"): DESK | {NURSE},
    ("confirmed", "checked_in"): DESK | {NURSE},
    ("booked", "no_show"): DESK,
    ("confirmed", "no_show"): DESK,
    ("checked_in", "in_consultation"): DOCTORS | ADMINS,
    ("in_consultation", "completed"): DOCTORS | ADMINS,
}
CANCELLABLE = frozenset({"pending_review", "booked", "confirmed", "checked_in"})
RESCHEDULABLE = frozenset({"pending_review", "booked", "confirmed"})
REVIEW_DECISIONS = ("approve", "ask_info", "decline")
SLOT_TAKEN = "This slot was just taken by another booking. Choose another time."


class ScheduleError(DomainError):
    """A schedule rule said no."""


class SlotTaken(ScheduleError):
    """Someone else holds the slot (or held its lock too long): 409."""

    status = 409

    def __init__(self, message: str = SLOT_TAKEN):
        super().__init__(message)


def status_label(status: str) -> str:
    return STATUS_LABELS.get(status, status)




# ---- shared steps -------------------------------------------------------------

def _event(session: Session, appointment_id: int, user_id: int | None, action: str,
           from_status: str | None, to_status: str | None, note: str | None = None) -> None:
    session.add(AppointmentEvent(appointment_id=appointment_id, user_id=user_id, action=action,
                                 from_status=from_status, to_status=to_status, note=note))


def _lock_appointment(session: Session, appointment_id: int) -> Appointment:
    appointment = session.scalars(
        select(Appointment).where(Appointment.id == appointment_id)
        .with_for_update(of=Appointment).execution_options(populate_existing=True)).first()
    if appointment is None:
        raise ScheduleError("That appointment does not exist.", 404)
    return appointment


LOCK_SLOTS_SQL = (
    "SELECT s.id, s.doctor_id, s.starts_at, s.ends_at, s.status, s.appointment_id, d.is_active "
    "FROM slot s JOIN doctor d ON d.id = s.doctor_id WHERE s.id = ANY(:ids) "
    "ORDER BY s.starts_at, s.id FOR UPDATE OF s")


def _lock_slots(session: Session, slot_ids: list[int]) -> list:
    """Lock the slot rows in start order: bookings that overlap queue up instead of deadlocking."""
    if not slot_ids:
        return []
    return fetch(session, LOCK_SLOTS_SQL, {"ids": list(slot_ids)})


def _check_slots(slots: list, wanted: list[int], own_appointment_id: int | None = None,
                 walk_in: bool = False) -> None:
    """All wanted slots exist, are one doctor's, consecutive, in the future and free (or ours).

    A walk-in may take the slot that is running now.
    """
    if len(slots) != len(wanted):
        raise ScheduleError("One of the chosen slots does not exist (any more). Refresh the day.", 404)
    if len({slot.doctor_id for slot in slots}) != 1:
        raise ScheduleError("All slots of one appointment must be with the same doctor.")
    for before, after in zip(slots, slots[1:]):
        if before.ends_at != after.starts_at:
            raise ScheduleError("The chosen slots do not follow each other without a gap.")
    now = clinic_time.now()
    if slots[0].starts_at <= now and not (walk_in and slots[0].ends_at > now):
        raise ScheduleError("That time has already passed; choose a later slot.")
    if not slots[0].is_active:
        raise ScheduleError("This doctor is not taking appointments.")
    for slot in slots:
        if slot.status == "booked" and slot.appointment_id == own_appointment_id:
            continue
        if slot.status == "blocked":
            raise ScheduleError("The doctor is not available at that time (time off).")
        if slot.status != "open":
            raise SlotTaken()


PATIENT_CLASH_SQL = """
    SELECT a.starts_at, d.name FROM appointment a JOIN doctor d ON d.id = a.doctor_id
    WHERE a.patient_id = :patient AND a.status <> 'cancelled'
      AND a.starts_at < :ends AND a.ends_at > :starts
      AND a.starts_at > CAST(:starts AS timestamptz) - interval '24 hours'
      AND a.id <> :except"""  # the look-back bound is MAX_SPAN: an index range on (patient_id, starts_at)


LOCK_PATIENT_SQL = "SELECT id FROM patient WHERE id = :id FOR NO KEY UPDATE"


def _lock_patient(session: Session, patient_id: int) -> None:
    """Lock the patient row, so two bookings of one patient queue up instead of both passing the check."""
    if not fetch(session, LOCK_PATIENT_SQL, {"id": patient_id}):
        raise ScheduleError("That patient does not exist.", 422, field="patient_id")


def _patient_clash(session: Session, patient_id: int, starts_at: datetime, ends_at: datetime,
                   except_appointment_id: int | None = None) -> ScheduleError | None:
    """The error to show when the patient already has an overlapping active appointment."""
    clash = session.execute(text(PATIENT_CLASH_SQL + " LIMIT 1"),
                            {"patient": patient_id, "starts": starts_at, "ends": ends_at,
                             "except": except_appointment_id or 0}).first()
    if clash is None:
        return None
    local = clash.starts_at.astimezone(clinic_time.zone())
    return ScheduleError(f"This patient already has an appointment at {local:%H:%M on %d %b} "
                         f"with {clash.name}.", 422, field="patient_id")


def _check_patient_free(session: Session, patient_id: int, starts_at: datetime, ends_at: datetime,
                        except_appointment_id: int | None = None) -> None:
    """Lock the patient and refuse an overlapping booking (reschedule's check)."""
    _lock_patient(session, patient_id)
    clash = _patient_clash(session, patient_id, starts_at, ends_at, except_appointment_id)
    if clash:
        raise clash


def _free_slots(session: Session, appointment_id: int, only_ids: list[int] | None = None) -> None:
    """Give an appointment's slots back: open, blocked in time off, gone when outside the doctor's hours."""
    which = "s.appointment_id = :appointment" + (" AND s.id = ANY(:ids)" if only_ids is not None else "")
    params = {"appointment": appointment_id, **({"ids": only_ids} if only_ids is not None else {})}
    session.execute(text(f"DELETE FROM slot s WHERE {which} AND s.outside_hours"), params)
    session.execute(text(
        "UPDATE slot s SET appointment_id = NULL, status = CASE WHEN EXISTS ("
        "  SELECT 1 FROM time_off t WHERE t.doctor_id = s.doctor_id"
        "  AND (s.starts_at AT TIME ZONE :tz)::date BETWEEN t.starts_on AND t.ends_on)"
        f" THEN 'blocked' ELSE 'open' END WHERE {which}"),
        {**params, "tz": clinic_time.zone_name()})


@contextmanager
def _changing_appointment() -> Iterator[Session]:
    """A transaction changing an appointment; a lock not granted in time means someone else is."""
    try:
        with transaction() as session:
            yield session
    except sa_exc.DBAPIError as error:
        if classify_db_error(error) == LOCKED:
            raise ScheduleError("Someone else is changing this appointment. Try again.", 409) from error
        raise


def _release_slots(session: Session, appointment_id: int) -> None:
    """Lock an appointment's slots in the usual order, then give them back."""
    _lock_slots(session, list(session.scalars(select(Slot.id).where(Slot.appointment_id == appointment_id))))
    _free_slots(session, appointment_id)


def _as_slot_taken(error: sa_exc.DBAPIError) -> SlotTaken | None:
    """The backstop index, a lock timeout, a serialization failure or deadlock mean 'just taken'."""
    constraint = getattr(getattr(getattr(error, "orig", None), "diag", None), "constraint_name", None)
    if isinstance(error, sa_exc.IntegrityError) and constraint == "uq_appointment_doctor_start_active":
        return SlotTaken()
    if classify_db_error(error) == LOCKED:
        return SlotTaken()
    return None


def _validate_slot_ids(slot_ids) -> list[int]:
    try:
        ids = [int(value) for value in slot_ids]
    except (TypeError, ValueError):
        raise ScheduleError("The chosen slot is not valid. Refresh the day.", 422, field="slot_id") from None
    if not ids:
        raise ScheduleError("Choose a slot.", 422, field="slot_id")
    if len(ids) > MAX_SLOTS_PER_APPOINTMENT:
        raise ScheduleError(f"An appointment is at most {MAX_SLOTS_PER_APPOINTMENT} slots long.",
                            422, field="length")
    if len(set(ids)) != len(ids) or any(i <= 0 or i > 2**62 for i in ids):
        raise ScheduleError("The chosen slot is not valid. Refresh the day.", 422, field="slot_id")
    return ids




# ---- booking ------------------------------------------------------------------

@dataclass
class BookingResult:
    appointment_id: int
    slot_ids: list[int]
    created: bool  # False when the same submission came again and got the first result
    # Filled for a new booking, so the page can show it without reading it back.
    patient: str | None = None
    doctor: str | None = None
    doctor_id: int | None = None
    status: str | None = None
    slots: list = field(default_factory=list)  # (slot id, starts_at, ends_at) in order


def consecutive_slot_ids(first_slot_id, length) -> list[int]:
    """The first slot and the doctor's next slots, `length` in all (read only: book() re-checks)."""
    try:
        first_id, count = int(first_slot_id), int(length)
    except (TypeError, ValueError):
        raise ScheduleError("The chosen slot or length is not valid.", 422, field="slot_id") from None
    if not 1 <= count <= MAX_SLOTS_PER_APPOINTMENT:
        raise ScheduleError(f"The length must be 1 to {MAX_SLOTS_PER_APPOINTMENT} slots.", 422,
                            field="length")
    if not 0 < first_id < 2**62:
        raise ScheduleError("The chosen slot is not valid. Refresh the day.", 422, field="slot_id")
    if count == 1:
        return [first_id]  # book() checks it exists, under its lock
    first = db.session.execute(select(Slot.doctor_id, Slot.starts_at).where(Slot.id == first_id)).first()
    if first is None:
        raise ScheduleError("That slot does not exist (any more). Refresh the day.", 404, field="slot_id")
    return list(db.session.scalars(
        select(Slot.id).where(Slot.doctor_id == first.doctor_id, Slot.starts_at >= first.starts_at,
                              Slot.starts_at < first.starts_at + MAX_SPAN)
        .order_by(Slot.starts_at).limit(count)))


# With the slots and the patient locked: insert the appointment unless the patient is busy then,
# and in the same round trip mark its slots, write its history and the key's result.
BOOK_SQL = ("""
WITH a AS (
  INSERT INTO appointment (patient_id, doctor_id, starts_at, ends_at, status, reason, created_by_id,
                           status_changed_by_id, status_changed_at)
  SELECT :patient, :doctor, :starts, :ends, :status, :reason, :user, :user, now()
  WHERE NOT EXISTS (""" + PATIENT_CLASH_SQL.replace(":patient", "CAST(:patient AS bigint)") + """)
  RETURNING id
), s AS (
  UPDATE slot SET status = 'booked', appointment_id = (SELECT id FROM a)
  WHERE id = ANY(:ids) AND EXISTS (SELECT 1 FROM a) RETURNING id
), e AS (
  INSERT INTO appointment_event (appointment_id, user_id, action, to_status, note)
  SELECT id, :user, 'booked', :status, :reason FROM a
), k AS (
  UPDATE idempotency_key SET result = jsonb_build_object('appointment_id', (SELECT id FROM a),
                                                         'slot_ids', CAST(:ordered AS jsonb))
  WHERE key = :key AND EXISTS (SELECT 1 FROM a)
)
SELECT a.id, (SELECT first_name || ' ' || last_name FROM patient WHERE id = CAST(:patient AS bigint)) AS patient,
       (SELECT name FROM doctor WHERE id = CAST(:doctor AS bigint)) AS doctor
FROM a""")


def book(slot_ids, patient_id, reason: str | None, actor: Actor, key: str | None,
         pending_review: bool = False, walk_in: bool = False) -> BookingResult:
    """Book consecutive slots for a patient in one transaction; a repeated key returns the first result."""
    ids = _validate_slot_ids(slot_ids)
    try:
        patient_id = validation.required_row_id(patient_id, "patient", field="patient_id")
    except validation.BadInput:
        raise ScheduleError("Choose a patient.", 422, field="patient_id") from None
    reason = validation.text(reason, "reason", MAX_REASON, multiline=True)
    idempotency.check_key(key)
    request = {"slot_ids": sorted(ids), "patient_id": patient_id, "reason": reason,
               "pending_review": bool(pending_review), "walk_in": bool(walk_in)}
    try:
        with transaction() as session:
            first = idempotency.claim(session, key, "booking", request, actor.user_id)
            if first is not None:
                return BookingResult(first["appointment_id"], first["slot_ids"], created=False)
            slots = _lock_slots(session, ids)
            _check_slots(slots, ids, walk_in=walk_in)
            starts_at, ends_at = slots[0].starts_at, slots[-1].ends_at
            _lock_patient(session, patient_id)
            ordered = [slot.id for slot in slots]
            status = "pending_review" if pending_review else "booked"
            written = fetch(session, BOOK_SQL, {
                "patient": patient_id, "doctor": slots[0].doctor_id, "starts": starts_at, "ends": ends_at,
                "status": status, "reason": reason, "user": actor.user_id, "ids": ordered, "key": key,
                "ordered": json.dumps(ordered), "except": 0})
            if not written:
                raise _patient_clash(session, patient_id, starts_at, ends_at) or SlotTaken()
            written = written[0]
        return BookingResult(written.id, ordered, True, written.patient, written.doctor, slots[0].doctor_id,
                             status, [(slot.id, slot.starts_at, slot.ends_at) for slot in slots])
    except sa_exc.DBAPIError as error:
        taken = _as_slot_taken(error)
        if taken:
            raise taken from error
        raise


def cancel(appointment_id: int, by: str, reason: str | None, actor: Actor) -> Appointment:
    """Cancel (by patient or clinic, with a reason) and free the slots in the same transaction."""
    if by not in ("patient", "clinic"):
        raise ScheduleError("Say who cancelled: the patient or the clinic.", 422, field="by")
    reason = validation.text(reason, "reason", MAX_REASON, required=True, multiline=True)
    if actor.role not in DESK:
        raise ScheduleError("Your role cannot cancel appointments.", 403)
    with _changing_appointment() as session:
        appointment = _lock_appointment(session, appointment_id)
        if appointment.status not in CANCELLABLE:
            raise ScheduleError(f"An appointment that is {status_label(appointment.status)} "
                                "cannot be cancelled.", 409)
        _release_slots(session, appointment.id)
        before = appointment.status
        appointment.status = "cancelled"
        appointment.cancelled_by, appointment.cancel_reason = by, reason
        _stamp(appointment, actor.user_id)
        _event(session, appointment.id, actor.user_id, "cancelled", before, "cancelled",
               f"by {by}: {reason}")
    return appointment


def reschedule(appointment_id: int, slot_ids, actor: Actor) -> Appointment:
    """Move an appointment to other free slots: all of it happens, or none of it."""
    if actor.role not in DESK:
        raise ScheduleError("Your role cannot reschedule appointments.", 403)
    ids = _validate_slot_ids(slot_ids)
    try:
        with transaction() as session:
            appointment = _lock_appointment(session, appointment_id)
            if appointment.status not in RESCHEDULABLE:
                raise ScheduleError(f"An appointment that is {status_label(appointment.status)} "
                                    "cannot be rescheduled.", 409)
            old_ids = list(session.scalars(select(Slot.id).where(Slot.appointment_id == appointment.id)))
            locked = _lock_slots(session, sorted(set(old_ids) | set(ids)))
            new_slots = [slot for slot in locked if slot.id in set(ids)]
            _check_slots(new_slots, ids, own_appointment_id=appointment.id)
            starts_at, ends_at = new_slots[0].starts_at, new_slots[-1].ends_at
            _check_patient_free(session, appointment.patient_id, starts_at, ends_at,
                                except_appointment_id=appointment.id)
            _free_slots(session, appointment.id, [i for i in old_ids if i not in set(ids)])
            old_start = appointment.starts_at
            appointment.doctor_id = new_slots[0].doctor_id
            appointment.starts_at, appointment.ends_at = starts_at, ends_at
            _stamp(appointment, actor.user_id, status_changed=False)
            session.flush()
            session.execute(update(Slot).where(Slot.id.in_(ids))
                            .values(status="booked", appointment_id=appointment.id))
            zone = clinic_time.zone()
            _event(session, appointment.id, actor.user_id, "rescheduled", appointment.status,
                   appointment.status, f"from {old_start.astimezone(zone):%d %b %H:%M} "
                                       f"to {starts_at.astimezone(zone):%d %b %H:%M}")
        return appointment
    except sa_exc.DBAPIError as error:
        taken = _as_slot_taken(error)
        if taken:
            raise taken from error
        raise


def _stamp(appointment: Appointment, user_id: int | None, status_changed: bool = True) -> None:
    appointment.updated_at = clinic_time.now()
    if status_changed:
        appointment.status_changed_by_id = user_id
        appointment.status_changed_at = clinic_time.now()


def _doctor_user_id(session: Session, doctor_id: int) -> int | None:
    return session.scalar(select(Doctor.user_id).where(Doctor.id == doctor_id))


def undo_check_in(appointment_id: int, reason: str | None, actor: Actor) -> Appointment:
    """The desk takes back a mistaken check-in, with a reason: the appointment is as it was before."""
    if not actor.in_group(DESK):
        raise ScheduleError("Only the desk can undo a check-in.", 403)
    reason = validation.text(reason, "reason", MAX_REASON, required=True, multiline=True)
    with _changing_appointment() as session:
        appointment = _lock_appointment(session, appointment_id)
        if appointment.status != "checked_in":
            raise ScheduleError(f"An appointment that is {status_label(appointment.status)} has no check-in "
                                "to undo.", 409)
        before = session.scalar(
            select(AppointmentEvent.from_status)
            .where(AppointmentEvent.appointment_id == appointment.id, AppointmentEvent.to_status == "checked_in")
            .order_by(AppointmentEvent.at.desc(), AppointmentEvent.id.desc()).limit(1)) or "booked"
        appointment.status = before
        _stamp(appointment, actor.user_id)
        _event(session, appointment.id, actor.user_id, "check_in_undone", "checked_in", before, reason)
    return appointment


def change_status(appointment_id: int, to_status: str, actor: Actor) -> Appointment:
    """Make one allowed status change (not cancel: see cancel()), recording who and when."""
    if to_status not in STATUS_LABELS or to_status in ("cancelled", "pending_review"):
        raise ScheduleError("That status change is not available here.", 422)
    with _changing_appointment() as session:
        appointment = _lock_appointment(session, appointment_id)
        before = appointment.status
        allowed = TRANSITIONS.get((before, to_status))
        if allowed is None:
            raise ScheduleError(f"An appointment that is {status_label(before)} cannot be "
                                f"marked {status_label(to_status)}.", 409)
        if actor.role not in allowed:
            raise ScheduleError(f"Your role cannot mark an appointment {status_label(to_status)}.", 403)
        if actor.role == "doctor" and _doctor_user_id(session, appointment.doctor_id) != actor.user_id:
            raise ScheduleError("This is another doctor's appointment.", 403)
        appointment.status = to_status
        _stamp(appointment, actor.user_id)
        _event(session, appointment.id, actor.user_id, "status", before, to_status)
    return appointment


def review(appointment_id: int, decision: str, notes: str | None, actor: Actor) -> Appointment:
    """The doctor approves, asks for more information on, or declines a consultation request."""
    if decision not in REVIEW_DECISIONS:
        raise ScheduleError("Choose approve, ask for information or decline.", 422)
    notes = validation.text(notes, "notes", MAX_REASON, required=decision != "approve", multiline=True)
    with _changing_appointment() as session:
        appointment = _lock_appointment(session, appointment_id)
        if actor.role != "doctor" or _doctor_user_id(session, appointment.doctor_id) != actor.user_id:
            raise ScheduleError("Only the appointment's doctor reviews this request.", 403)
        if appointment.status != "pending_review":
            raise ScheduleError(f"This request is already {status_label(appointment.status)}.", 409)
        before = appointment.status
        appointment.reviewed_by_id, appointment.reviewed_at = actor.user_id, clinic_time.now()
        appointment.review_notes = notes
        if decision == "approve":
            appointment.status, appointment.review_outcome = "booked", "approved"
            _stamp(appointment, actor.user_id)
        elif decision == "ask_info":
            appointment.review_outcome = "info_requested"
            _stamp(appointment, actor.user_id, status_changed=False)
        else:
            _release_slots(session, appointment.id)
            appointment.status, appointment.review_outcome = "cancelled", "declined"
            appointment.cancelled_by, appointment.cancel_reason = "clinic", f"Declined by the doctor: {notes}"
            _stamp(appointment, actor.user_id)
        _event(session, appointment.id, actor.user_id, "review:" + decision, before, appointment.status, notes)
    return appointment


def answer_review(appointment_id: int, answer: str | None, actor: Actor) -> Appointment:
    """Reception answers the doctor's question; the request waits for the doctor's review again."""
    if actor.role not in DESK:
        raise ScheduleError("Only reception answers the doctor's questions.", 403)
    answer = validation.text(answer, "answer", MAX_REASON, required=True, multiline=True)
    with _changing_appointment() as session:
        appointment = _lock_appointment(session, appointment_id)
        if appointment.status != "pending_review" or appointment.review_outcome != "info_requested":
            raise ScheduleError("The doctor is not waiting for information on this appointment.", 409)
        appointment.review_outcome, appointment.review_answer = "answered", answer
        _stamp(appointment, actor.user_id, status_changed=False)
        _event(session, appointment.id, actor.user_id, "review:answered", appointment.status,
               appointment.status, answer)
    return appointment


def allowed_actions(appointment: Appointment, role: str, user_id: int | None) -> list[str]:
    """The status changes this user may offer for this appointment (for buttons)."""
    own_doctor = role != "doctor" or (appointment.doctor.user_id == user_id)
    return [to for (frm, to), roles in TRANSITIONS.items()
            if frm == appointment.status and role in roles and own_doctor]



def read_day_list(day: date, actor: Actor, doctor_id: int | None = None):
    """The day's appointment list, with one audit event: it shows patients' allergies."""
    with transaction() as session:
        rows, truncated = day_list(day, doctor_id)
        record_audit(session, actor, "schedule.day_list", "day",
                     detail={"date": day.isoformat(), "doctor_id": doctor_id, "rows": len(rows),
                             "patient_ids": sorted({row.patient_id for row in rows})})
    return rows, truncated
