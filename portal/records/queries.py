"""Records reads for pages: the visit, the vitals trend, the timeline, the ICD-10 picker, the waiting room.

Every list is bounded and indexed (tests/records/test_explain.py); the timeline sends the same
number of statements whatever its length (one per kind of row, batched by ids).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, text, tuple_
from sqlalchemy.orm import Session

from .. import clinic_time
from ..db import Page, page_size, parse_time_cursor, time_cursor
from ..models import (
    Addendum,
    Allergy,
    Appointment,
    Consultation,
    ConsultationService,
    Diagnosis,
    Doctor,
    FollowUp,
    Icd10Code,
    Patient,
    Prescription,
    Service,
    VitalSign,
)
from . import services

ICD_LIMIT = 20
TREND_LIMIT = 10
VISIT_VITALS_LIMIT = 50
_CODE = re.compile(r"^[A-Za-z][0-9][0-9A-Za-z]?\.?[0-9A-Za-z]{0,4}$")
_WORD = re.compile(r"[^\W_]+", re.UNICODE)


def icd10_search(session: Session, term: str, limit: int = ICD_LIMIT) -> list[Any]:
    """Codes starting with what was typed ("I10", "i1"), else titles with words starting so ("hypert")."""
    term = term.strip()
    if not term:
        return []
    if _CODE.fullmatch(term):
        code = term.upper().replace(".", "")
        prefix = code[:3] + ("." + code[3:] if len(code) > 3 else "")
        stmt = (select(Icd10Code.code, Icd10Code.title).where(Icd10Code.code.like(prefix + "%"))
                .order_by(Icd10Code.code).limit(limit))
        return list(session.execute(stmt))
    words = [word.lower() for word in _WORD.findall(term)][:6]
    if not words:
        return []
    query = " & ".join(f"{word}:*" for word in words)
    stmt = (select(Icd10Code.code, Icd10Code.title)
            .where(Icd10Code.title_words.op("@@")(func.to_tsquery(text("'simple'::regconfig"), query)))
            # Shortest titles first (the general term before its variants); sorting the matches
            # makes the planner find them through the GIN index rather than walk the codes.
            .order_by(func.length(Icd10Code.title), Icd10Code.code).limit(limit))
    return list(session.execute(stmt))


def allergies(session: Session, patient_id: int) -> list[Allergy]:
    """A patient's active allergy rows (a handful)."""
    return list(session.scalars(select(Allergy).where(Allergy.patient_id == patient_id, Allergy.is_active)
                                .order_by(Allergy.id).limit(100)))


def price_list(session: Session) -> list[Service]:
    """The active services to bill, by name (bounded)."""
    return list(session.scalars(select(Service).where(Service.is_active).order_by(Service.name).limit(200)))


def visit_vitals(session: Session, appointment_id: int) -> list[VitalSign]:
    return list(session.scalars(select(VitalSign).where(VitalSign.appointment_id == appointment_id)
                                .order_by(VitalSign.recorded_at).limit(VISIT_VITALS_LIMIT)))


def vitals_trend(session: Session, patient_id: int, limit: int = TREND_LIMIT) -> list[VitalSign]:
    """The patient's last readings, newest first."""
    return list(session.scalars(select(VitalSign).where(VitalSign.patient_id == patient_id)
                                .order_by(VitalSign.recorded_at.desc(), VitalSign.id.desc()).limit(limit)))


@dataclass
class NoteView:
    """A consultation with its parts, as a page shows it."""

    consultation: Consultation
    diagnoses: list = field(default_factory=list)
    prescriptions: list = field(default_factory=list)
    services: list = field(default_factory=list)  # (ConsultationService, Service)
    addenda: list = field(default_factory=list)

    @property
    def hash_ok(self) -> bool | None:
        """None for a draft; for a signed note, whether its content still has the stored SHA-256."""
        c = self.consultation
        if c.status != "signed":
            return None
        return services.content_hash(c, self.diagnoses, self.prescriptions,
                                     [line for line, _ in self.services]) == c.content_sha256


def note_view(session: Session, consultation: Consultation) -> NoteView:
    diagnoses = list(session.scalars(select(Diagnosis).where(Diagnosis.consultation_id == consultation.id)))
    prescriptions = list(session.scalars(select(Prescription)
                                         .where(Prescription.consultation_id == consultation.id)))
    lines = list(session.execute(select(ConsultationService, Service).join(Service)
                                 .where(ConsultationService.consultation_id == consultation.id)
                                 .order_by(ConsultationService.id)))
    addenda = list(session.scalars(select(Addendum).where(Addendum.consultation_id == consultation.id)
                                   .order_by(Addendum.at, Addendum.id).limit(200)))
    diagnoses.sort(key=lambda d: (not d.is_primary, d.id))
    prescriptions.sort(key=lambda p: p.id)
    return NoteView(consultation, diagnoses, prescriptions, lines, addenda)


def consultation_of(session: Session, appointment_id: int) -> Consultation | None:
    return session.scalars(select(Consultation).where(Consultation.appointment_id == appointment_id)).first()


FOLLOW_UP_LIMIT = 20


def follow_ups(session: Session, consultation_id: int) -> list[Any]:
    """The appointments booked from a note (id, starts_at, doctor, status), soonest first (a handful)."""
    return list(session.execute(
        select(Appointment.id, Appointment.starts_at, Appointment.status, Doctor.name.label("doctor"))
        .join(FollowUp, FollowUp.appointment_id == Appointment.id)
        .join(Doctor, Doctor.id == Appointment.doctor_id)
        .where(FollowUp.consultation_id == consultation_id)
        .order_by(Appointment.starts_at, Appointment.id).limit(FOLLOW_UP_LIMIT)))


# ---- the timeline ----------------------------------------------------------------

@dataclass
class TimelineVisit:
    consultation: Consultation
    starts_at: datetime
    doctor_name: str
    diagnoses: list = field(default_factory=list)
    prescriptions: list = field(default_factory=list)
    addenda: list = field(default_factory=list)
    vitals: list = field(default_factory=list)


def timeline(session: Session, patient_id: int, cursor: str | None, limit: Any, full: bool) -> Page:
    """One page of the patient's visits with notes, newest first (keyset on created_at, id).

    Five statements whatever the page length: the visits, then diagnoses, prescriptions,
    addenda and vitals for all of them at once.
    """
    size = page_size(limit, default=10)
    stmt = (select(Consultation, Appointment.starts_at, Doctor.name)
            .join(Appointment, Appointment.id == Consultation.appointment_id)
            .join(Doctor, Doctor.id == Consultation.doctor_id)
            .where(Consultation.patient_id == patient_id)
            .order_by(Consultation.created_at.desc(), Consultation.id.desc()))
    after = parse_time_cursor(cursor)
    if after is not None:
        stmt = stmt.where(tuple_(Consultation.created_at, Consultation.id) < tuple_(*after))
    rows = list(session.execute(stmt.limit(size + 1)))
    more = len(rows) > size
    rows = rows[:size]
    visits = [TimelineVisit(c, starts_at, name) for c, starts_at, name in rows]
    if visits:
        by_id = {v.consultation.id: v for v in visits}
        ids = list(by_id)
        if full:
            for d in session.scalars(select(Diagnosis).where(Diagnosis.consultation_id.in_(ids))
                                     .order_by(Diagnosis.consultation_id, Diagnosis.id)):
                by_id[d.consultation_id].diagnoses.append(d)
        for p in session.scalars(select(Prescription).where(Prescription.consultation_id.in_(ids))
                                 .order_by(Prescription.consultation_id, Prescription.id)):
            by_id[p.consultation_id].prescriptions.append(p)
        if full:
            for a in session.scalars(select(Addendum).where(Addendum.consultation_id.in_(ids))
                                     .order_by(Addendum.consultation_id, Addendum.at, Addendum.id)):
                by_id[a.consultation_id].addenda.append(a)
        by_appointment = {v.consultation.appointment_id: v for v in visits}
        for reading in session.scalars(select(VitalSign)
                                       .where(VitalSign.appointment_id.in_(list(by_appointment)))
                                       .order_by(VitalSign.appointment_id, VitalSign.recorded_at)):
            by_appointment[reading.appointment_id].vitals.append(reading)
    last = visits[-1].consultation if visits else None
    return Page(visits, time_cursor(last.created_at, last.id) if more and last else None)


# ---- the records list ----------------------------------------------------------------

def notes_page(session: Session, doctor_id: int | None, patient_id: int | None, day_from, day_to,
               cursor: str | None, limit: Any, patient_ids: list[int] | None = None) -> Page:
    """Consultations newest first, filtered by doctor, patient and date in SQL (keyset on created_at, id)."""
    size = page_size(limit, default=25)
    stmt = (select(Consultation.id, Consultation.appointment_id, Consultation.patient_id, Consultation.status,
                   Consultation.created_at, Consultation.signed_at, Patient.first_name, Patient.last_name,
                   Patient.file_number, Doctor.name.label("doctor_name"))
            .join(Patient, Patient.id == Consultation.patient_id)
            .join(Doctor, Doctor.id == Consultation.doctor_id)
            .order_by(Consultation.created_at.desc(), Consultation.id.desc()))
    if doctor_id is not None:
        stmt = stmt.where(Consultation.doctor_id == doctor_id)
    if patient_id is not None:
        stmt = stmt.where(Consultation.patient_id == patient_id)
    if patient_ids is not None:  # the patients the indexed patient search found (at most 20)
        stmt = stmt.where(Consultation.patient_id.in_(patient_ids))
    if day_from is not None:
        stmt = stmt.where(Consultation.created_at >= clinic_time.day_start(day_from))
    if day_to is not None:
        stmt = stmt.where(Consultation.created_at < clinic_time.day_bounds(day_to)[1])
    after = parse_time_cursor(cursor)
    if after is not None:
        stmt = stmt.where(tuple_(Consultation.created_at, Consultation.id) < tuple_(*after))
    rows = list(session.execute(stmt.limit(size + 1)))
    more = len(rows) > size
    rows = rows[:size]
    return Page(rows, time_cursor(rows[-1].created_at, rows[-1].id) if more and rows else None)


def doctors(session: Session) -> list[Any]:
    return list(session.execute(select(Doctor.id, Doctor.name).order_by(Doctor.name).limit(200)))


def doctor_id_of_user(session: Session, user_id: int | None) -> int | None:
    return session.scalar(select(Doctor.id).where(Doctor.user_id == user_id)) if user_id else None


# ---- the waiting room --------------------------------------------------------------

# The day's first 200 by doctor are picked before the patient, note and vitals are joined: a busy
# day has hundreds of finished visits, and joining them all only to drop them cost most of the page.
WAITING_SQL = """
    SELECT s.id, s.status, s.starts_at, s.arrived_at, s.doctor_id, s.doctor_name,
           p.id AS patient_id, p.first_name, p.last_name, p.file_number,
           (SELECT count(*) FROM vital_sign v WHERE v.appointment_id = s.id) AS readings,
           c.status AS note_status
    FROM (SELECT a.id, a.status, a.starts_at, a.arrived_at, a.doctor_id, a.patient_id, d.name AS doctor_name
          FROM appointment a
          JOIN doctor d ON d.id = a.doctor_id
          WHERE a.starts_at >= :start AND a.starts_at < :end
            AND a.status IN ('checked_in', 'in_consultation', 'completed')
          ORDER BY d.name, a.arrived_at NULLS LAST, a.starts_at, a.id
          LIMIT 200) s
    JOIN patient p ON p.id = s.patient_id
    LEFT JOIN consultation c ON c.appointment_id = s.id
    ORDER BY s.doctor_name, s.arrived_at NULLS LAST, s.starts_at, s.id
"""

# Booked today and not arrived yet, by time, for one-click check-in: the first EXPECTED_SHOWN (the
# day list has them all) and how many there are in all.
EXPECTED_SHOWN = 50
EXPECTED_SQL = """
    SELECT a.id, a.status, a.starts_at, a.doctor_id, d.name AS doctor_name,
           p.id AS patient_id, p.first_name, p.last_name, p.file_number, count(*) OVER () AS expected_in_all
    FROM appointment a
    JOIN doctor d ON d.id = a.doctor_id
    JOIN patient p ON p.id = a.patient_id
    WHERE a.starts_at >= :start AND a.starts_at < :end AND a.status IN ('booked', 'confirmed')
    ORDER BY a.starts_at, d.name, a.id
    LIMIT :shown
"""

# What the room shows beyond the day grid's version: the readings taken (a reading moves a patient
# from "waiting for vitals" to "ready for the doctor" without changing the appointment), and what
# the room's patients owe on open bills.
READINGS_VERSION_SQL = """
    SELECT (SELECT coalesce(max(v.id), 0) FROM vital_sign v)  -- readings are only ever added
           || ':' ||
           (SELECT count(*) || ':' || coalesce(sum(hashtextextended(b.id || ':' || b.balance_cents, 0)), 0)
            FROM bill b
            -- An array, so each patient's open bills come from ix_bill_owed_by_patient (an IN list
            -- became a scan of every outstanding bill of the clinic: 100 ms a poll).
            WHERE b.status IN ('open', 'partly_paid') AND b.patient_id = ANY(ARRAY(
                SELECT DISTINCT a.patient_id FROM appointment a WHERE a.starts_at >= :start AND a.starts_at < :end
                  AND a.status IN ('checked_in', 'in_consultation', 'completed'))))"""


def stage_of(row: Any) -> str:
    """Waiting for vitals, ready for the doctor, in consultation, done."""
    if row.status == "completed":
        return "done"
    if row.status == "in_consultation":
        return "in consultation"
    return "ready for the doctor" if row.readings else "waiting for vitals"


def waiting_room(session: Session) -> list[Any]:
    """Today's checked-in patients by doctor, with stage and minutes waited (bounded)."""
    start, end = clinic_time.day_bounds(clinic_time.today())
    rows = session.execute(text(WAITING_SQL), {"start": start, "end": end}).all()
    now = clinic_time.now()
    return [{"row": row, "stage": stage_of(row),
             "waited": int(((now - row.arrived_at).total_seconds() // 60)) if row.arrived_at else None}
            for row in rows]


def expected_today(session: Session) -> tuple[list[Any], int]:
    """Today's first booked patients who have not arrived, by time, and how many there are in all."""
    start, end = clinic_time.day_bounds(clinic_time.today())
    rows = list(session.execute(text(EXPECTED_SQL), {"start": start, "end": end, "shown": EXPECTED_SHOWN}))
    return rows, rows[0].expected_in_all if rows else 0


def waiting_room_version(session: Session) -> str:
    """The day grid's version of today, the readings taken and the clinic minute (the minutes
    waited change with it): the room's poll answers 204 while this stays the same."""
    from ..schedule.queries import day_version

    today = clinic_time.today()
    start, end = clinic_time.day_bounds(today)
    readings = session.scalar(text(READINGS_VERSION_SQL), {"start": start, "end": end})
    return f"{day_version(today)}|{readings}|{clinic_time.local(clinic_time.now()):%H%M}"


def recent_patient(session: Session, patient_id: int) -> Patient | None:
    return session.get(Patient, patient_id)

