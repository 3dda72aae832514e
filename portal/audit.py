"""The clinical audit trail: one event per action on a patient's record."""
from __future__ import annotations

from flask import has_request_context, request
from flask_login import current_user

from .models.staff import AuditEvent


def record_audit(session, action: str, entity: str, entity_id: int | None = None,
                 patient_id: int | None = None, detail: dict | None = None) -> None:
    """Add an audit event (who, what, when, from where) to the caller's transaction."""
    user_id = ip = None
    if has_request_context():
        ip = request.remote_addr
        if current_user.is_authenticated:
            user_id = current_user.id
    session.add(AuditEvent(user_id=user_id, action=action, entity=entity, entity_id=entity_id,
                           patient_id=patient_id, ip=ip, detail=detail))
