"""Patient rules: registration with duplicate checks, edits on a version, approval, lists."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.orm import lazyload

from ..actor import Actor
from ..audit import record_audit
from ..db import Page, fetch_page, page_size, parse_time_cursor, time_cursor, transaction
from ..domain import DomainError
from ..extensions import db
from ..models import Appointment, Patient, StaffUser
from .search import fold

EDITABLE = ("first_name", "middle_name", "last_name", "date_of_birth", "sex", "phone", "email",
            "national_id", "address", "next_of_kin_name", "next_of_kin_phone",
            "next_of_kin_relation", "allergies", "insurance_provider", "insurance_member_number",
            "consent_data_processing", "consent_sms")
MAX_DUPLICATES = 10
MAX_REASON = 500


class PatientError(DomainError):
    """A patient rule refused the change."""


class PatientNotFound(PatientError):
    """No patient with that id."""

    status = 404

    def __init__(self, patient_id: int | None = None):
        super().__init__("There is no patient with that number.")
        self.patient_id = patient_id


class DuplicatesFound(PatientError):
    """Likely duplicates exist and no reason to continue was given."""

    status = 409

    def __init__(self, duplicates: list[Patient]):
        super().__init__("This looks like a patient who is already registered.", field="duplicate_reason")
        self.duplicates = duplicates


class StaleEdit(PatientError):
    """The record changed since the form was opened."""

    status = 409

    def __init__(self, current: Patient):
        super().__init__("Someone else changed this patient while you were editing. "
                         "Their version is shown below; make your change again on it.")
        self.current = current




def find_duplicates(clean: dict, exclude_id: int | None = None) -> list[Patient]:
    """Patients with the same phone, or the same first and last name and date of birth."""
    conditions = []
    if clean.get("phone"):
        conditions.append(Patient.phone == clean["phone"])
    if clean.get("first_name") and clean.get("last_name") and clean.get("date_of_birth"):
        # Same birth date (indexed) and the same names ignoring case and accents (Zoe = Zoë).
        conditions.append(and_(Patient.date_of_birth == clean["date_of_birth"],
                               func.kliniki_fold(Patient.last_name) == fold(clean["last_name"]),
                               func.kliniki_fold(Patient.first_name) == fold(clean["first_name"])))
    if not conditions:
        return []
    stmt = select(Patient).where(or_(*conditions))
    if exclude_id is not None:
        stmt = stmt.where(Patient.id != exclude_id)
    return list(db.session.scalars(stmt.order_by(Patient.id).limit(MAX_DUPLICATES)))


def _lock_identity(session, clean: dict) -> None:
    """Serialise registrations of the same phone or name and birth date until commit.

    Without it, two desks registering the same person at once would both see no duplicate.
    Locks are taken in a fixed order so two registrations never wait on each other in a cycle.
    """
    keys = {f"phone:{clean.get('phone')}",
            f"person:{fold(str(clean.get('first_name', '')))}|{fold(str(clean.get('last_name', '')))}"
            f"|{clean.get('date_of_birth')}"}
    for key in sorted(keys):
        session.execute(select(func.pg_advisory_xact_lock(func.hashtextextended(key, 0))))


def _clean_reason(duplicate_reason: str | None) -> str:
    reason = " ".join((duplicate_reason or "").split())
    if len(reason) > MAX_REASON:
        raise PatientError(f"Keep the reason under {MAX_REASON} characters.", field="duplicate_reason")
    return reason


def register_patient(clean: dict, actor: Actor, duplicate_reason: str = "") -> Patient:
    """Register a patient (pending approval); likely duplicates need a reason to continue."""
    reason = _clean_reason(duplicate_reason)
    with transaction() as session:
        _lock_identity(session, clean)
        duplicates = find_duplicates(clean)
        if duplicates and not reason:
            raise DuplicatesFound(duplicates)
        patient = Patient(**{name: clean.get(name) for name in EDITABLE}, created_by_id=actor.user_id)
        session.add(patient)
        session.flush()
        detail: dict[str, object] = {"file_number": patient.file_number}
        if duplicates:
            detail.update(possible_duplicates=[p.file_number for p in duplicates], reason=reason)
        record_audit(session, actor, "patient.register", "patient", patient.id, patient.id, detail)
    return patient


def get_patient(patient_id: int, populate_existing: bool = False) -> Patient:
    """The patient with this id, or PatientNotFound."""
    patient = db.session.get(Patient, patient_id, populate_existing=populate_existing)
    if patient is None:
        raise PatientNotFound(patient_id)
    return patient


def open_record(patient_id: int, actor: Actor) -> Patient:
    """Read a patient's record for a person: one audit event per view."""
    with transaction() as session:
        patient = get_patient(patient_id)
        record_audit(session, actor, "patient.view", "patient", patient.id, patient.id)
    return patient


def _versioned_update(patient_id: int, expected_version: int, values: dict) -> Patient:
    """Apply values only if the row is still at expected_version, else raise StaleEdit."""
    updated = db.session.execute(
        update(Patient)
        .where(Patient.id == patient_id, Patient.version == expected_version)
        .values(**values, version=Patient.version + 1, updated_at=func.now())
        .returning(Patient.id)
        .execution_options(synchronize_session=False)).scalar()
    if updated is None:
        current = db.session.get(Patient, patient_id, populate_existing=True)
        if current is None:
            raise PatientNotFound(patient_id)
        raise StaleEdit(current)
    return get_patient(patient_id, populate_existing=True)


IDENTITY = ("first_name", "last_name", "date_of_birth", "phone")


def update_patient(patient_id: int, expected_version: int, clean: dict, actor: Actor,
                   duplicate_reason: str = "") -> Patient:
    """Save an edit made on version expected_version; a stale copy is refused.

    A change of name, birth date or phone that makes the record look like another patient's
    needs a reason, as at registration; other edits of such a record do not ask again.
    """
    reason = _clean_reason(duplicate_reason)
    with transaction() as session:
        before = get_patient(patient_id)
        if before.version != expected_version:
            raise StaleEdit(before)
        changed = [name for name in EDITABLE if getattr(before, name) != clean.get(name)]
        duplicates = []
        if set(changed) & set(IDENTITY):
            _lock_identity(session, clean)
            duplicates = find_duplicates(clean, exclude_id=patient_id)
            if duplicates and not reason:
                raise DuplicatesFound(duplicates)
        patient = _versioned_update(patient_id, expected_version,
                                    {name: clean.get(name) for name in EDITABLE})
        if {"first_name", "last_name"} & set(changed):
            # The day grid shows the name on the patient's appointments: its version must change.
            session.execute(update(Appointment).where(Appointment.patient_id == patient_id)
                            .values(updated_at=func.now()))
        detail = {"fields": changed, "version": patient.version}
        if duplicates:
            detail.update(possible_duplicates=[p.file_number for p in duplicates], reason=reason)
        record_audit(session, actor, "patient.update", "patient", patient_id, patient_id, detail)
    return patient


def approve_patient(patient_id: int, expected_version: int, actor: Actor) -> Patient:
    """Approve a pending registration, recording who and when."""
    with transaction() as session:
        if get_patient(patient_id).approved_at is not None:
            raise PatientError("This patient is already approved.", 409)
        patient = _versioned_update(patient_id, expected_version,
                                    {"approved_at": func.now(), "approved_by_id": actor.user_id})
        record_audit(session, actor, "patient.approve", "patient", patient_id, patient_id)
    return patient


def assign_patient(patient_id: int, expected_version: int, staff_id: int | None, actor: Actor) -> Patient:
    """Assign the patient to an active member of staff (None clears it)."""
    with transaction() as session:
        get_patient(patient_id)
        if staff_id is not None:
            user = session.get(StaffUser, staff_id)
            if user is None or not user.is_active:
                raise PatientError("Choose an active member of staff.", field="assigned_to_id")
        patient = _versioned_update(patient_id, expected_version, {"assigned_to_id": staff_id})
        record_audit(session, actor, "patient.assign", "patient", patient_id, patient_id,
                     {"assigned_to_id": staff_id})
    return patient


def staff_names(ids) -> dict[int, str]:
    """Full names of the given staff ids."""
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    rows = db.session.execute(select(StaffUser.id, StaffUser.full_name).where(StaffUser.id.in_(wanted)))
    return {row.id: row.full_name for row in rows}


def assignable_staff() -> list[StaffUser]:
    """Active staff to assign patients to (bounded: a clinic has dozens, not thousands)."""
    return list(db.session.scalars(
        select(StaffUser).where(StaffUser.is_active_flag.is_(True))
        .order_by(StaffUser.full_name, StaffUser.id).limit(200)))


@dataclass
class ListFilters:
    """The patient list's filters."""

    pending: bool = False
    assigned_to_id: int | None = None
    registered_from: datetime | None = None     # inclusive
    registered_before: datetime | None = None   # exclusive


def list_patients(filters: ListFilters, cursor: str | None, limit=25) -> Page:
    """Patients newest first, filtered, one keyset page (hard maximum 100)."""
    return fetch_page(db.session, list_statement(filters, cursor), page_size(limit),
                      lambda p: time_cursor(p.created_at, p.id))


def list_statement(filters: ListFilters, cursor: str | None):
    """The patient list's query, newest first from the cursor on (unlimited: callers page it)."""
    stmt = select(Patient)
    if filters.pending:
        stmt = stmt.where(Patient.approved_at.is_(None))
    if filters.assigned_to_id is not None:
        stmt = stmt.where(Patient.assigned_to_id == filters.assigned_to_id)
    if filters.registered_from:
        stmt = stmt.where(Patient.created_at >= filters.registered_from)
    if filters.registered_before:
        stmt = stmt.where(Patient.created_at < filters.registered_before)
    position = parse_time_cursor(cursor)
    if position:
        stmt = stmt.where(func.row(Patient.created_at, Patient.id) < func.row(*position))
    return stmt.order_by(Patient.created_at.desc(), Patient.id.desc())


def appointments_page(patient_id: int, upcoming: bool, cursor: str | None, limit=10) -> Page:
    """A patient's upcoming (soonest first) or past (latest first) appointments, one page."""
    return fetch_page(db.session, appointments_statement(patient_id, upcoming, cursor),
                      page_size(limit, default=10), lambda a: time_cursor(a.starts_at, a.id))


def appointments_statement(patient_id: int, upcoming: bool, cursor: str | None):
    """The query behind a profile's appointment tab (unlimited: callers page it)."""
    now = func.now()
    stmt = (select(Appointment).where(Appointment.patient_id == patient_id)
            .options(lazyload(Appointment.patient)))  # the profile already has the patient
    position = parse_time_cursor(cursor)
    key = func.row(Appointment.starts_at, Appointment.id)
    if upcoming:
        stmt = stmt.where(Appointment.starts_at >= now)
        if position:
            stmt = stmt.where(key > func.row(*position))
        stmt = stmt.order_by(Appointment.starts_at, Appointment.id)
    else:
        stmt = stmt.where(Appointment.starts_at < now)
        if position:
            stmt = stmt.where(key < func.row(*position))
        stmt = stmt.order_by(Appointment.starts_at.desc(), Appointment.id.desc())
    return stmt
