"""Reads of the audit trail for the admin pages: newest first, keyset-paged, one indexed statement each."""
from __future__ import annotations

from typing import Any

from sqlalchemy import select, tuple_
from sqlalchemy.orm import aliased

from ..db import AnySession, Page, page_size, parse_time_cursor, time_cursor
from ..models.audit import AuditEvent
from ..models.patients import Patient
from ..models.staff import StaffUser

AUDIT_PAGE = 50


def _page(session: AnySession, stmt, cursor: str | None, limit: Any) -> Page:
    size = page_size(limit, AUDIT_PAGE)
    after = parse_time_cursor(cursor)
    if after is not None:
        stmt = stmt.where(tuple_(AuditEvent.at, AuditEvent.id) < tuple_(*after))
    rows = list(session.execute(stmt.order_by(AuditEvent.at.desc(), AuditEvent.id.desc()).limit(size + 1)))
    more = len(rows) > size
    rows = rows[:size]
    return Page(rows, time_cursor(rows[-1].at, rows[-1].id) if more and rows else None)


def patient_access(session: AnySession, patient_id: int, cursor: str | None, limit: Any) -> Page:
    """Who opened or changed this patient's record: one page of its events (ix_audit_event_patient_at)."""
    user = aliased(StaffUser)
    stmt = (select(AuditEvent.id, AuditEvent.at, AuditEvent.user_id, AuditEvent.role, AuditEvent.action,
                   AuditEvent.entity, AuditEvent.entity_id, AuditEvent.ip, AuditEvent.detail,
                   user.full_name, user.username, user.role.label("current_role"))
            .outerjoin(user, user.id == AuditEvent.user_id)
            .where(AuditEvent.patient_id == patient_id))
    return _page(session, stmt, cursor, limit)


def user_activity(session: AnySession, user_id: int, cursor: str | None, limit: Any) -> Page:
    """What one member of staff did and opened: one page of their events (ix_audit_event_user_at)."""
    stmt = (select(AuditEvent.id, AuditEvent.at, AuditEvent.role, AuditEvent.action, AuditEvent.entity,
                   AuditEvent.entity_id, AuditEvent.patient_id, AuditEvent.ip, AuditEvent.detail,
                   Patient.first_name, Patient.last_name, Patient.file_number)
            .outerjoin(Patient, Patient.id == AuditEvent.patient_id)
            .where(AuditEvent.user_id == user_id))
    return _page(session, stmt, cursor, limit)

