"""The clinical audit trail: one event per action on a patient's record."""
from __future__ import annotations

from collections.abc import Iterable

from flask import g, has_request_context
from sqlalchemy.orm import Session

from .actor import Actor
from .db import transaction
from .models.audit import AuditEvent


def record_audit(session: Session, actor: Actor, action: str, entity: str, entity_id: int | None = None,
                 patient_id: int | None = None, detail: dict | None = None) -> None:
    """Add an audit event (who, what, when, from where) to the caller's transaction."""
    session.add(AuditEvent(user_id=actor.user_id, action=action, entity=entity, entity_id=entity_id,
                           patient_id=patient_id, ip=actor.ip, detail=detail))


_PENDING = "kliniki_audit_reads"


def record_access(actor: Actor, action: str, patient_ids: Iterable[int | None], entity: str = "patient",
                  entity_id: int | None = None, detail: dict | None = None) -> None:
    """One audit event for a read that showed patients' data.

    One patient goes in `patient_id` (indexed for "who opened this record"); a list's patients
    go in the detail as `patient_ids`, one event for the whole list. A read that showed no
    patient writes nothing. In a request the event is written once the answer is rendered
    (write_pending_reads): committing earlier would expire the rows the page is about to show.
    """
    ids = sorted({patient_id for patient_id in patient_ids if patient_id is not None})
    if not ids:
        return
    detail = dict(detail or {})
    if len(ids) > 1:
        detail["patient_ids"] = ids
    event = (actor, action, entity, entity_id, ids[0] if len(ids) == 1 else None, detail or None)
    if has_request_context():
        g.setdefault(_PENDING, []).append(event)
        return
    with transaction() as session:
        record_audit(session, *event)


def write_pending_reads() -> None:
    """Write the request's read events in one short transaction (an after_request hook)."""
    events = g.pop(_PENDING, None)
    if events:
        with transaction() as session:
            for event in events:
                record_audit(session, *event)
