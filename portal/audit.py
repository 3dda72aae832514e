"""The clinical audit trail: one event per action on a patient's record."""
from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass

from flask import g, has_request_context
from sqlalchemy import event, text
from sqlalchemy.orm import Session, SessionTransaction, scoped_session

from .actor import Actor
from .db import fetch, transaction
from .extensions import db

_QUEUED = "kliniki_audit_queued"


def record_audit(session: Session, actor: Actor, action: str, entity: str, entity_id: int | None = None,
                 patient_id: int | None = None, detail: dict | None = None) -> None:
    """Add an audit event (who, what, when, from where) to the caller's transaction.

    The event is inserted just before the transaction commits (_insert_queued): its insert locks
    the chain's head until the commit, so nothing the transaction does may come after it (a row
    lock taken while holding the head could deadlock with a transaction waiting for the head).
    """
    if isinstance(session, scoped_session):  # transaction() hands out the scoped session
        session = session()
    row = {"user_id": actor.user_id, "role": actor.role, "action": action, "entity": entity,
           "entity_id": entity_id, "patient_id": patient_id, "ip": actor.ip, "detail": detail}
    session.info.setdefault(_QUEUED, []).append((session.get_nested_transaction(), row))


def _within(transaction: SessionTransaction | None, savepoint: SessionTransaction) -> bool:
    while transaction is not None:
        if transaction is savepoint:
            return True
        transaction = transaction.parent
    return False


# The events in the order they were recorded, in one statement (straight through psycopg: the ORM's
# bulk insert cost more Python than the statement's round trip).
INSERT_EVENTS = """
INSERT INTO audit_event (user_id, role, action, entity, entity_id, patient_id, ip, detail)
SELECT user_id, role, action, entity, entity_id, patient_id, ip, detail
FROM ROWS FROM (jsonb_to_recordset(CAST(:rows AS jsonb)) AS (user_id bigint, role text, action text, entity text,
     entity_id bigint, patient_id bigint, ip text, detail jsonb)) WITH ORDINALITY
     AS e(user_id, role, action, entity, entity_id, patient_id, ip, detail, n)
ORDER BY n
"""


@event.listens_for(Session, "before_commit")
def _insert_queued(session: Session) -> None:
    """The outermost commit inserts the transaction's events last, after everything else is flushed."""
    if session.in_nested_transaction() or not session.info.get(_QUEUED):
        return  # a savepoint's events wait for the outer commit
    session.flush()
    rows = [row for _, row in session.info.pop(_QUEUED)]
    fetch(session, INSERT_EVENTS, {"rows": json.dumps(rows)})


@event.listens_for(Session, "after_soft_rollback")
def _drop_rolled_back(session: Session, previous_transaction: SessionTransaction) -> None:
    """Events recorded inside a rolled-back savepoint (or transaction) are not written."""
    queued = session.info.get(_QUEUED)
    if not queued:
        return
    if previous_transaction.nested:
        session.info[_QUEUED] = [(tx, row) for tx, row in queued if not _within(tx, previous_transaction)]
    else:
        session.info.pop(_QUEUED, None)


@event.listens_for(Session, "after_transaction_end")
def _forget_queued(session: Session, transaction: SessionTransaction) -> None:
    """A transaction closed without a commit (session.close()) takes its events with it."""
    if transaction.parent is None:
        session.info.pop(_QUEUED, None)


_PENDING = "kliniki_audit_reads"


def commit_without_waiting_for_disk(session: Session) -> None:
    """Let a transaction whose only write is a view's audit event commit without the WAL fsync.

    The fsync was most of a view's audit cost. A server crash may lose the last fraction of a
    second of view events (never a half-written one); every change's event commits with the
    change, durably.
    """
    session.execute(text("SET LOCAL synchronous_commit TO OFF"))


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
            commit_without_waiting_for_disk(session)
            for event in events:
                record_audit(session, *event)


# ---- the hash chain ---------------------------------------------------------------------
#
# The database chains each event as it is inserted (migration 0011): its id follows the chain
# head's, and its hash is SHA-256(previous hash || kliniki_audit_content(row)), the first row's
# previous hash being empty. verify_chain() recomputes that in id order.

VERIFY_BATCH = 2000
_HEAD = "SELECT last_id, last_hash FROM audit_chain_head WHERE id = 1"
_EVENTS = ("SELECT id, hash, kliniki_audit_content(e) AS content FROM audit_event e "
           "WHERE id > :after AND id <= :upto ORDER BY id LIMIT :batch")


@dataclass(frozen=True)
class ChainReport:
    """What verify_chain found: the events checked, and the first broken one (id and why) if any."""

    checked: int
    broken_id: int | None = None
    problem: str | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None


def verify_chain(batch: int = VERIFY_BATCH) -> ChainReport:
    """Walk the audit chain in id order, `batch` rows per statement, up to the head read at the start."""
    session = db.session
    head = session.execute(text(_HEAD)).first()
    session.rollback()  # each batch reads in a short transaction of its own
    last_id, last_hash, checked = 0, b"", 0
    upto = head.last_id if head is not None else 0
    while True:
        rows = session.execute(text(_EVENTS), {"after": last_id, "upto": upto, "batch": batch}).all()
        session.rollback()
        for row in rows:
            expected = hashlib.sha256(last_hash + row.content.encode()).digest()
            if row.hash != expected:
                before = f"event {last_id}'s hash" if last_id else "the start of the chain"
                missing = f"; ids {last_id + 1} to {row.id - 1} are missing" if row.id > last_id + 1 else ""
                return ChainReport(checked, row.id, f"its hash does not follow from its content and {before}: "
                                   f"it was changed, or an event before it was changed or deleted{missing}")
            last_id, last_hash, checked = row.id, bytes(row.hash), checked + 1
        if len(rows) < batch:
            break
    if head is None:
        if checked:
            return ChainReport(checked, None, "the chain's head (audit_chain_head) is missing")
        return ChainReport(0)
    if (last_id, last_hash) != (head.last_id, bytes(head.last_hash)):
        return ChainReport(checked, last_id + 1, f"the chain's head names event {head.last_id} as the last, "
                           f"the table ends at {last_id or 'none'}: events at the end were deleted or changed")
    return ChainReport(checked)
