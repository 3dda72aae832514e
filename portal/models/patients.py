"""Patients: demographics, contacts, consents and approval."""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, CheckConstraint, Computed, ForeignKey, Index, Sequence, String, Text, func, text
from sqlalchemy.dialects.postgresql import TSVECTOR
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import Model

FILE_NUMBER_SEQ = Sequence("patient_file_number_seq")


class Patient(Model):
    """A registered patient; file numbers come from a sequence and are never reused."""

    __tablename__ = "patient"
    __table_args__ = (
        Index("ix_patient_phone", "phone"),
        Index("ix_patient_last_name", "last_name"),
        Index("ix_patient_first_name_last_name", "first_name", "last_name"),
        Index("ix_patient_created_at", "created_at"),
        # Search paths (migration 0003): name words, phone typed from its start or its end.
        Index("ix_patient_search_vector", "search_vector", postgresql_using="gin"),
        Index("ix_patient_phone_prefix", text('(phone COLLATE "C")')),
        Index("ix_patient_phone_reversed", text('(reverse(phone) COLLATE "C")')),
        Index("ix_patient_date_of_birth_names", "date_of_birth", "last_name", "first_name"),
        # The patient list, newest first: pending approval, assigned to someone.
        Index("ix_patient_pending_created", text("created_at DESC"), text("id DESC"),
              postgresql_where=text("approved_at IS NULL")),
        Index("ix_patient_assigned_created", "assigned_to_id", text("created_at DESC"),
              text("id DESC")),
        CheckConstraint(r"phone ~ '^\+[1-9][0-9]{7,14}$'", name="phone_e164"),
        CheckConstraint("version > 0", name="version_positive"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    file_number: Mapped[str] = mapped_column(
        String(16), unique=True,
        server_default=text("kliniki_file_number(nextval('patient_file_number_seq'))"),
    )
    first_name: Mapped[str] = mapped_column(String(80))
    middle_name: Mapped[str | None] = mapped_column(String(80))
    last_name: Mapped[str] = mapped_column(String(80))
    date_of_birth: Mapped[date]
    sex: Mapped[str] = mapped_column(String(16))
    phone: Mapped[str] = mapped_column(String(16))  # E.164, e.g. +254712345678
    email: Mapped[str | None] = mapped_column(String(254))
    national_id: Mapped[str | None] = mapped_column(String(32))
    address: Mapped[str | None] = mapped_column(Text)
    next_of_kin_name: Mapped[str | None] = mapped_column(String(120))
    next_of_kin_phone: Mapped[str | None] = mapped_column(String(16))
    next_of_kin_relation: Mapped[str | None] = mapped_column(String(40))
    allergies: Mapped[str | None] = mapped_column(Text)
    insurance_provider: Mapped[str | None] = mapped_column(String(80))
    insurance_member_number: Mapped[str | None] = mapped_column(String(40))
    consent_data_processing: Mapped[bool] = mapped_column(default=False, server_default="false")
    consent_sms: Mapped[bool] = mapped_column(default=False, server_default="false")
    approved_at: Mapped[datetime | None]
    approved_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_user.id"))
    assigned_to_id: Mapped[int | None] = mapped_column(ForeignKey("staff_user.id"))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_user.id"))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())
    # Optimistic concurrency: an edit must name the version it was made on.
    version: Mapped[int] = mapped_column(default=1, server_default="1")
    # Accent-free name words for the search box, kept by PostgreSQL (kliniki_name_vector).
    search_vector: Mapped[str] = mapped_column(
        TSVECTOR, Computed("kliniki_name_vector(first_name, middle_name, last_name)", persisted=True),
        deferred=True)

    @property
    def full_name(self) -> str:
        return " ".join(p for p in (self.first_name, self.middle_name, self.last_name) if p)
