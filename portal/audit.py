"""The clinical audit trail: one event per action on a patient's record."""
from __future__ import annotations

from sqlalchemy.orm import Session

from .actor import Actor
from .models.audit import AuditEvent


def record_audit(session: Session, actor: Actor, action: str, entity: str, entity_id: int | None = None,
                 patient_id: int | None = None, detail: dict | None = None) -> None:
    """Add an audit event (who, what, when, from where) to the caller's transaction."""
    session.add(AuditEvent(user_id=actor.user_id, action=action, entity=entity, entity_id=entity_id,
                           patient_id=patient_id, ip=actor.ip, detail=detail))
