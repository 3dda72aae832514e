"""The clinical audit trail: who did what to which record, when and from where."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    FetchedValue,
    ForeignKey,
    Index,
    LargeBinary,
    SmallInteger,
    String,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import Model


class AuditEvent(Model):
    """Who did what to which record, when and from where: one row per action, never changed.

    The database numbers each row after the chain's head and stores `hash`, the SHA-256 of the
    previous row's hash and this row's content (migration 0011); `flask audit verify` checks it.
    """

    __tablename__ = "audit_event"
    __table_args__ = (
        Index("ix_audit_event_patient_at", "patient_id", "at"),
        Index("ix_audit_event_user_at", "user_id", "at"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    at: Mapped[datetime] = mapped_column(server_default=func.now())
    user_id: Mapped[int | None] = mapped_column(ForeignKey("staff_user.id", ondelete="SET NULL"))
    role: Mapped[str | None] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(String(64))
    entity: Mapped[str] = mapped_column(String(32))
    entity_id: Mapped[int | None] = mapped_column(BigInteger)
    patient_id: Mapped[int | None] = mapped_column(BigInteger)
    ip: Mapped[str | None] = mapped_column(String(45))
    detail: Mapped[dict | None] = mapped_column(JSONB)
    hash: Mapped[bytes] = mapped_column(LargeBinary, server_default=FetchedValue())


class AuditChainHead(Model):
    """The audit chain's last id and hash: one row, locked by each insert until its commit."""

    __tablename__ = "audit_chain_head"
    __table_args__ = (CheckConstraint("id = 1", name="one_row"),)

    id: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    last_id: Mapped[int] = mapped_column(BigInteger)
    last_hash: Mapped[bytes] = mapped_column(LargeBinary)
