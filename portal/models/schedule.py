"""Doctors, their hours and time off, bookable slots and appointments."""
from __future__ import annotations

from datetime import date, datetime, time

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import Model


class Doctor(Model):
    """A doctor's profile, linked to a staff login with the doctor role."""

    __tablename__ = "doctor"
    __table_args__ = (Index("ix_doctor_name", "name"), Index("ix_doctor_phone", "phone"))

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("staff_user.id"), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    phone: Mapped[str | None] = mapped_column(String(16))
    email: Mapped[str | None] = mapped_column(String(254))
    licence_number: Mapped[str] = mapped_column(String(32), unique=True)
    specialisation: Mapped[str] = mapped_column(String(80))
    slot_minutes: Mapped[int] = mapped_column(default=30, server_default="30")
    is_active: Mapped[bool] = mapped_column(default=True, server_default="true")
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class Slot(Model):
    """One bookable start time of one doctor; booking locks these rows FOR UPDATE."""

    __tablename__ = "slot"
    __table_args__ = (
        UniqueConstraint("doctor_id", "starts_at"),
        Index("ix_slot_starts_at_doctor_id", "starts_at", "doctor_id"),
        Index("ix_slot_appointment_id", "appointment_id"),
        CheckConstraint("status IN ('open', 'booked', 'blocked')", name="status_known"),
        CheckConstraint("ends_at > starts_at", name="ends_after_start"),
        CheckConstraint("(status = 'booked') = (appointment_id IS NOT NULL)",
                        name="booked_has_appointment"),
        CheckConstraint("NOT outside_hours OR appointment_id IS NOT NULL", name="outside_hours_only_booked"),
        Index("ix_slot_outside_hours", "starts_at", postgresql_where=text("outside_hours")),
        Index("ix_slot_ends_at", "ends_at"),  # the day version's "which slots are past"
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    doctor_id: Mapped[int] = mapped_column(ForeignKey("doctor.id"))
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(16), default="open", server_default="open")
    appointment_id: Mapped[int | None] = mapped_column(
        ForeignKey("appointment.id", ondelete="SET NULL"))
    # Booked, but the doctor's weekly hours no longer cover it: kept for its appointment, which
    # reception must move (availability.needs_rescheduling), and deleted when freed.
    outside_hours: Mapped[bool] = mapped_column(default=False, server_default=text("false"))


class Appointment(Model):
    """A patient's appointment with a doctor over one or more consecutive slots."""

    __tablename__ = "appointment"
    __table_args__ = (
        # The database's own backstop against double booking.
        Index("uq_appointment_doctor_start_active", "doctor_id", "starts_at", unique=True,
              postgresql_where=text("status <> 'cancelled'")),
        Index("ix_appointment_patient_id_starts_at", "patient_id", "starts_at"),
        Index("ix_appointment_starts_at", "starts_at"),
        # The dashboard's counts by status, doctor and canceller read only this index (0010).
        Index("ix_appointment_starts_at_covering", "starts_at",
              postgresql_include=["status", "doctor_id", "cancelled_by", "id"]),
        Index("ix_appointment_created_at", "created_at"),
        Index("ix_appointment_updated_at", "updated_at"),
        # Requests whose doctor waits for reception's answer: a handful, listed on every day page.
        Index("ix_appointment_info_requested", "starts_at",
              postgresql_where=text("status = 'pending_review' AND review_outcome = 'info_requested'")),
        CheckConstraint(
            "status IN ('pending_review', 'booked', 'confirmed', 'checked_in', "
            "'in_consultation', 'completed', 'no_show', 'cancelled')", name="status_known"),
        CheckConstraint("ends_at > starts_at", name="ends_after_start"),
        CheckConstraint("cancelled_by IS NULL OR cancelled_by IN ('patient', 'clinic')",
                        name="cancelled_by_known"),
        CheckConstraint("status <> 'cancelled' OR (cancelled_by IS NOT NULL AND cancel_reason IS NOT NULL)",
                        name="cancel_has_reason"),
        CheckConstraint("review_outcome IS NULL OR review_outcome IN "
                        "('approved', 'info_requested', 'answered', 'declined')", name="review_outcome_known"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patient.id"))
    doctor_id: Mapped[int] = mapped_column(ForeignKey("doctor.id"))
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(20), default="booked", server_default="booked")
    reason: Mapped[str | None] = mapped_column(Text)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_user.id"))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())
    status_changed_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_user.id"))
    status_changed_at: Mapped[datetime | None]
    arrived_at: Mapped[datetime | None]  # set by check-in: the waiting room's clock starts here
    cancel_reason: Mapped[str | None] = mapped_column(Text)
    cancelled_by: Mapped[str | None] = mapped_column(String(16))  # 'patient' or 'clinic'
    reviewed_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_user.id"), index=True)
    reviewed_at: Mapped[datetime | None]
    review_notes: Mapped[str | None] = mapped_column(Text)
    review_outcome: Mapped[str | None] = mapped_column(String(16))
    review_answer: Mapped[str | None] = mapped_column(Text)  # reception's answer to the doctor's question

    patient = relationship("Patient", lazy="joined", innerjoin=True)
    doctor = relationship("Doctor", lazy="joined", innerjoin=True)


class Availability(Model):
    """A weekly range of a doctor's working hours, or a break inside them (clinic local time)."""

    __tablename__ = "availability"
    __table_args__ = (
        Index("ix_availability_doctor_id_weekday", "doctor_id", "weekday"),
        CheckConstraint("weekday BETWEEN 0 AND 6", name="weekday_range"),  # 0 = Monday
        CheckConstraint("kind IN ('hours', 'break')", name="kind_known"),
        CheckConstraint("ends_time > starts_time", name="ends_after_start"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    doctor_id: Mapped[int] = mapped_column(ForeignKey("doctor.id", ondelete="CASCADE"))
    weekday: Mapped[int] = mapped_column(SmallInteger)
    kind: Mapped[str] = mapped_column(String(8), default="hours", server_default="hours")
    starts_time: Mapped[time]
    ends_time: Mapped[time]


class TimeOff(Model):
    """Days a doctor does not work (inclusive dates, clinic local), with a reason."""

    __tablename__ = "time_off"
    __table_args__ = (
        Index("ix_time_off_doctor_id_starts_on", "doctor_id", "starts_on"),
        CheckConstraint("ends_on >= starts_on", name="ends_after_start"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    doctor_id: Mapped[int] = mapped_column(ForeignKey("doctor.id", ondelete="CASCADE"))
    starts_on: Mapped[date]
    ends_on: Mapped[date]
    reason: Mapped[str] = mapped_column(Text)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_user.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class AppointmentEvent(Model):
    """One change to an appointment (booked, status, rescheduled, reviewed): who, when, what."""

    __tablename__ = "appointment_event"
    __table_args__ = (
        Index("ix_appointment_event_appointment_id_at", "appointment_id", "at"),
        # Check-in and consultation start per appointment: the dashboard's waiting-room times (0010).
        Index("ix_appointment_event_visit", "appointment_id", postgresql_include=["to_status", "at"],
              postgresql_where=text("action = 'status' AND to_status IN ('checked_in', 'in_consultation')")),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    appointment_id: Mapped[int] = mapped_column(ForeignKey("appointment.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(server_default=func.now())
    user_id: Mapped[int | None] = mapped_column(ForeignKey("staff_user.id", ondelete="SET NULL"))
    action: Mapped[str] = mapped_column(String(24))
    from_status: Mapped[str | None] = mapped_column(String(20))
    to_status: Mapped[str | None] = mapped_column(String(20))
    note: Mapped[str | None] = mapped_column(Text)


class AppointmentQuarterCount(Model):
    """Appointments by the UTC quarter hour they start in, status and who cancelled: the dashboard's summary.

    Kept by statement triggers on appointment (migration 0013) in the writing transaction, never by
    Python. A clinic-local day is whole quarter hours in every zone, so any range of days sums these.
    """

    __tablename__ = "appointment_quarter_count"

    quarter: Mapped[datetime] = mapped_column(primary_key=True)
    status: Mapped[str] = mapped_column(String(20), primary_key=True)
    cancelled_by: Mapped[str] = mapped_column(String(16), primary_key=True)  # '' when not cancelled
    appointments: Mapped[int]


class ScheduleChange(Model):
    """A sum that grows by a random step with every statement writing slots or appointments of a UTC quarter hour.

    Kept by statement triggers on slot and appointment (migration 0019) in the writing transaction,
    each backend in its own row (shard = its pid), so no writer waits on another's counter. A day's
    sum is the day grid's version: it grows with every change to what the grid shows, never back to
    a value it had.
    """

    __tablename__ = "schedule_change"

    quarter: Mapped[datetime] = mapped_column(primary_key=True)
    shard: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    changes: Mapped[int] = mapped_column(BigInteger)
