"""Reads of the audit trail for the admin pages: newest first, keyset-paged, one indexed statement each."""
from __future__ import annotations

from typing import Any

from sqlalchemy import Select, select, tuple_
from sqlalchemy.orm import aliased

from ..db import AnySession, Page, page_size, parse_time_cursor, time_cursor
from ..models.audit import AuditEvent
from ..models.patients import Patient
from ..models.staff import StaffUser

AUDIT_PAGE = 50


def _newest_first(stmt: Select, cursor: str | None, rows: int) -> Select:
    after = parse_time_cursor(cursor)
    if after is not None:
        stmt = stmt.where(tuple_(AuditEvent.at, AuditEvent.id) < tuple_(*after))
    return stmt.order_by(AuditEvent.at.desc(), AuditEvent.id.desc()).limit(rows)


def _page(session: AnySession, statement, limit: Any, cursor: str | None) -> Page:
    size = page_size(limit, AUDIT_PAGE)
    rows = list(session.execute(statement(cursor, size + 1)))  # the extra row says whether more exist
    more = len(rows) > size
    rows = rows[:size]
    return Page(rows, time_cursor(rows[-1].at, rows[-1].id) if more and rows else None)


def patient_access_statement(patient_id: int, cursor: str | None, rows: int) -> Select:
    """A patient's events with who did them (reads ix_audit_event_patient_at)."""
    user = aliased(StaffUser)
    stmt = (select(AuditEvent.id, AuditEvent.at, AuditEvent.user_id, AuditEvent.role, AuditEvent.action,
                   AuditEvent.entity, AuditEvent.entity_id, AuditEvent.ip, AuditEvent.detail,
                   user.full_name, user.username, user.role.label("current_role"))
            .outerjoin(user, user.id == AuditEvent.user_id)
            .where(AuditEvent.patient_id == patient_id))
    return _newest_first(stmt, cursor, rows)


def user_activity_statement(user_id: int, cursor: str | None, rows: int) -> Select:
    """A staff member's events with the patient each names (reads ix_audit_event_user_at)."""
    stmt = (select(AuditEvent.id, AuditEvent.at, AuditEvent.role, AuditEvent.action, AuditEvent.entity,
                   AuditEvent.entity_id, AuditEvent.patient_id, AuditEvent.ip, AuditEvent.detail,
                   Patient.first_name, Patient.last_name, Patient.file_number)
            .outerjoin(Patient, Patient.id == AuditEvent.patient_id)
            .where(AuditEvent.user_id == user_id))
    return _newest_first(stmt, cursor, rows)


def patient_access(session: AnySession, patient_id: int, cursor: str | None, limit: Any) -> Page:
    """Who opened or changed this patient's record: one page of its events."""
    return _page(session, lambda after, rows: patient_access_statement(patient_id, after, rows), limit, cursor)


def user_activity(session: AnySession, user_id: int, cursor: str | None, limit: Any) -> Page:
    """What one member of staff did and opened: one page of their events."""
    return _page(session, lambda after, rows: user_activity_statement(user_id, after, rows), limit, cursor)
