"""Staff accounts and login events."""
from __future__ import annotations

from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, String, Text, func, text
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import Model

ROLES = ("admin", "reception", "doctor", "nurse")


class StaffUser(UserMixin, Model):
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
    # Bumped on password reset or deactivation so old sessions stop working.
    auth_version: Mapped[int] = mapped_column(default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    last_login_at: Mapped[datetime | None]

    @property
    def is_active(self) -> bool:  # Flask-Login reads this
        return self.is_active_flag

    def get_id(self) -> str:
        return f"{self.id}:{self.auth_version}"


class LoginEvent(Model):
    """One login attempt, kept for rate limiting and for the record."""

    __tablename__ = "login_event"
    __table_args__ = (
        Index("ix_login_event_ip_at", "ip", "at"),
        Index("ix_login_event_username_at", text("lower(username)"), "at"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    at: Mapped[datetime] = mapped_column(server_default=func.now())
    username: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("staff_user.id", ondelete="SET NULL"))
    ip: Mapped[str] = mapped_column(String(45))
    success: Mapped[bool]
