"""Staff accounts and login events."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, LargeBinary, String, Text, func, text
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import Model

ROLES = ("admin", "reception", "doctor", "nurse")


class StaffUser(Model):
    """A member of staff with exactly one role."""

    __tablename__ = "staff_user"
    __table_args__ = (
        CheckConstraint("role IN ('admin', 'reception', 'doctor', 'nurse')", name="role_known"),
        Index("uq_staff_user_username_lower", text("lower(username)"), unique=True),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    username: Mapped[str] = mapped_column(String(64))
    full_name: Mapped[str] = mapped_column(String(120))
    role: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str] = mapped_column(Text)
    is_active_flag: Mapped[bool] = mapped_column("is_active", default=True, server_default="true")
    # Counts password resets and deactivations (sessions end through staff_session).
    auth_version: Mapped[int] = mapped_column(default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    last_login_at: Mapped[datetime | None]
    # Failed sign-ins before this moment no longer hold the account back (an admin cleared them).
    lock_cleared_at: Mapped[datetime | None]

    @property
    def is_active(self) -> bool:
        return self.is_active_flag



class LoginEvent(Model):
    """One login attempt, kept for rate limiting and for the record."""

    __tablename__ = "login_event"
    __table_args__ = (
        Index("ix_login_event_ip_at", "ip", "at"),
        Index("ix_login_event_username_at", text("lower(username)"), "at"),
        # "Has this account signed in from this address before?"
        Index("ix_login_event_known_address", "user_id", "ip", postgresql_where=text("success")),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    at: Mapped[datetime] = mapped_column(server_default=func.now())
    username: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("staff_user.id", ondelete="SET NULL"))
    ip: Mapped[str] = mapped_column(String(45))
    success: Mapped[bool]
    # Refused unchecked because the address or account had to wait: not a failure that counts.
    throttled: Mapped[bool] = mapped_column(default=False, server_default="false")


class StaffSession(Model):
    """One signed-in browser: the cookie holds a random token, this row its hash.

    Every request's user is loaded through this row, so ending it (logout, sign out everywhere,
    password reset, deactivation, an admin) ends the session on every worker at once.
    """

    __tablename__ = "staff_session"
    __table_args__ = (
        Index("uq_staff_session_token_hash", "token_hash", unique=True),
        Index("ix_staff_session_user_open", "user_id", postgresql_where=text("revoked_at IS NULL")),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    user_id: Mapped[int] = mapped_column(ForeignKey("staff_user.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    last_seen_at: Mapped[datetime] = mapped_column(server_default=func.now())
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    ip: Mapped[str | None] = mapped_column(String(45))
    user_agent: Mapped[str | None] = mapped_column(String(120))
