"""Idempotency keys: a repeated submission returns the first result and changes nothing.

Use inside the transaction that does the work, so the key and the work commit together:

    with transaction() as session:
        first = claim(session, key, "booking", form_data, user_id)
        if first is not None:
            return first                       # a repeat: the first result, nothing new
        result = do_the_work(session)          # a JSON-able dict
        complete(session, key, result)

A concurrent repeat waits on the first transaction's uncommitted key row (the primary key's
unique check), then sees its committed result; if the first rolled back, it claims the key
itself. The same key with other data, or for another scope, raises IdempotencyMismatch (422).
Keys expire after IDEMPOTENCY_TTL_S seconds and may then be reused.
"""
from __future__ import annotations

import hashlib
import json
import re
import secrets
from typing import Any

from flask import current_app
from sqlalchemy import delete, select, text
from sqlalchemy.orm import Session

from .db import fetch, rows_changed
from .domain import DomainError
from .models.idempotency import IdempotencyKey

KEY_PATTERN = re.compile(r"^[A-Za-z0-9_-]{16,64}$")

# One round trip: claim a new key, or take over an expired one; a live key returns no row.
CLAIM_SQL = (
    "INSERT INTO idempotency_key AS k (key, scope, request_hash, user_id, expires_at) "
    "VALUES (:key, :scope, :hash, :user_id, now() + make_interval(secs => :ttl)) "
    "ON CONFLICT (key) DO UPDATE SET scope = EXCLUDED.scope, request_hash = EXCLUDED.request_hash, "
    "user_id = EXCLUDED.user_id, result = NULL, created_at = now(), expires_at = EXCLUDED.expires_at "
    "WHERE k.expires_at <= now() RETURNING key")


COMPLETE_SQL = "UPDATE idempotency_key SET result = CAST(:result AS jsonb) WHERE key = :key"


class IdempotencyError(DomainError):
    """The key is missing, malformed, or was used for different data (HTTP 422)."""


class IdempotencyMismatch(IdempotencyError):
    """The key was already used for a different request."""


def fingerprint(scope: str, data: dict[str, Any]) -> str:
    """A stable hash of what was asked, to tell a repeat from a different request."""
    payload = json.dumps({"scope": scope, "data": data}, sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()


def check_key(key: str | None) -> str:
    """The key if well formed, else IdempotencyError with a message for the user."""
    if not key:
        raise IdempotencyError("This form has no submission key. Reload the page and try again.")
    if not KEY_PATTERN.match(key):
        raise IdempotencyError("This form's submission key is not valid. Reload the page and try again.")
    return key


def claim(session: Session, key: str | None, scope: str, data: dict[str, Any],
          user_id: int | None = None) -> dict | None:
    """Claim the key in the caller's transaction: None means go ahead, a dict is the first result."""
    key = check_key(key)
    request_hash = fingerprint(scope, data)
    ttl = int(current_app.config["IDEMPOTENCY_TTL_S"])
    claimed = fetch(session, CLAIM_SQL, {"key": key, "scope": scope, "hash": request_hash,
                                         "user_id": user_id, "ttl": ttl})
    if claimed:
        return None
    # Another transaction committed this key (we waited for it if it was in flight).
    first = session.execute(select(IdempotencyKey.scope, IdempotencyKey.request_hash,
                                   IdempotencyKey.result)
                            .where(IdempotencyKey.key == key)).first()
    if first is None or first.result is None:
        # Deleted as expired in the meantime, or claimed without a result: let the user retry.
        raise IdempotencyError("This form was submitted twice at the same moment. Try again.")
    if first.scope != scope or first.request_hash != request_hash:
        raise IdempotencyMismatch("This form was already submitted with different details. "
                                  "Reload the page to start a new one.")
    return first.result


def complete(session: Session, key: str, result: dict[str, Any]) -> None:
    """Store the work's result on the claimed key (same transaction as the work)."""
    fetch(session, COMPLETE_SQL, {"key": key, "result": json.dumps(result)})


def purge_expired(session: Session, limit: int = 10_000) -> int:
    """Delete up to `limit` expired keys; returns how many went."""
    stale = select(IdempotencyKey.key).where(IdempotencyKey.expires_at <= text("now()")).limit(limit)
    return rows_changed(session, delete(IdempotencyKey).where(IdempotencyKey.key.in_(stale)))


def new_key() -> str:
    """A fresh random key for a form."""
    return secrets.token_urlsafe(24)
