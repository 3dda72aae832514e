"""Clinical records: consultations (SOAP note), diagnoses, prescriptions, billable services,
vital signs, addenda, allergies, the ICD-10 list and "break the glass" access grants.

Once a consultation is signed the database refuses any change to it, its diagnoses,
prescriptions and services and the visit's vitals; addenda are insert-only (migration 0007).
"""
from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Computed,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy import text as sql_text
from sqlalchemy.dialects.postgresql import TSVECTOR
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import Model

CODE_SYSTEM_ICD10 = "ICD-10"
ICD10_VERSION = "2019"


class Consultation(Model):
    """The doctor's note of one appointment: a draft saved as typed, then signed once."""

    __tablename__ = "consultation"
    __table_args__ = (
        UniqueConstraint("appointment_id", name="uq_consultation_appointment_id"),
        # The patient's timeline and a doctor's recent notes, newest first (keyset).
        Index("ix_consultation_patient_created", "patient_id", sql_text("created_at DESC"), sql_text("id DESC")),
        Index("ix_consultation_doctor_created", "doctor_id", sql_text("created_at DESC"), sql_text("id DESC")),
        Index("ix_consultation_created", sql_text("created_at DESC"), sql_text("id DESC")),
        CheckConstraint("status IN ('draft', 'signed')", name="status_known"),
        CheckConstraint("version > 0", name="version_positive"),
        CheckConstraint("status = 'draft' OR (signed_by_id IS NOT NULL AND signed_at IS NOT NULL "
                        "AND content_sha256 IS NOT NULL)", name="signed_is_complete"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    appointment_id: Mapped[int] = mapped_column(ForeignKey("appointment.id"))
    patient_id: Mapped[int] = mapped_column(ForeignKey("patient.id"))
    doctor_id: Mapped[int] = mapped_column(ForeignKey("doctor.id"))
    status: Mapped[str] = mapped_column(String(8), default="draft", server_default="draft")
    subjective: Mapped[str | None] = mapped_column(Text)
    objective: Mapped[str | None] = mapped_column(Text)
    assessment: Mapped[str | None] = mapped_column(Text)
    plan: Mapped[str | None] = mapped_column(Text)
    # Optimistic autosave: a save names the version it was typed on.
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_user.id"))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())
    signed_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_user.id"))
    signed_at: Mapped[datetime | None]
    content_sha256: Mapped[str | None] = mapped_column(String(64))


class Diagnosis(Model):
    """One diagnosis of a consultation: coded (system, version, code) or free text."""

    __tablename__ = "diagnosis"
    __table_args__ = (
        Index("ix_diagnosis_consultation_id", "consultation_id", "id"),
        Index("uq_diagnosis_one_primary", "consultation_id", unique=True, postgresql_where=sql_text("is_primary")),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    consultation_id: Mapped[int] = mapped_column(ForeignKey("consultation.id"))
    code_system: Mapped[str | None] = mapped_column(String(16))
    code_version: Mapped[str | None] = mapped_column(String(16))
    code: Mapped[str | None] = mapped_column(String(16))
    text: Mapped[str] = mapped_column(String(300))
    is_primary: Mapped[bool] = mapped_column(default=False, server_default=sql_text("false"))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class Prescription(Model):
    """One structured prescription line of a consultation."""

    __tablename__ = "prescription"
    __table_args__ = (
        Index("ix_prescription_consultation_id", "consultation_id", "id"),
        CheckConstraint("quantity IS NULL OR quantity > 0", name="quantity_positive"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    consultation_id: Mapped[int] = mapped_column(ForeignKey("consultation.id"))
    drug: Mapped[str] = mapped_column(String(120))
    strength: Mapped[str | None] = mapped_column(String(60))
    dose: Mapped[str | None] = mapped_column(String(60))
    route: Mapped[str | None] = mapped_column(String(30))
    frequency: Mapped[str | None] = mapped_column(String(60))
    duration: Mapped[str | None] = mapped_column(String(60))
    quantity: Mapped[int | None] = mapped_column(Integer)
    instructions: Mapped[str | None] = mapped_column(Text)
    # The allergy this line matched when it was written (the doctor prescribed knowingly).
    allergy_warning: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class ConsultationService(Model):
    """A billable service of a consultation (the payments area reads these once signed)."""

    __tablename__ = "consultation_service"
    __table_args__ = (
        UniqueConstraint("consultation_id", "service_id", name="uq_consultation_service"),
        Index("ix_consultation_service_service_id", "service_id"),
        CheckConstraint("quantity > 0", name="quantity_positive"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    consultation_id: Mapped[int] = mapped_column(ForeignKey("consultation.id"))
    service_id: Mapped[int] = mapped_column(ForeignKey("service.id"))
    quantity: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class VitalSign(Model):
    """One reading of a patient's vital signs at a visit; impossible values are refused by CHECKs."""

    __tablename__ = "vital_sign"
    __table_args__ = (
        Index("ix_vital_sign_patient_recorded", "patient_id", sql_text("recorded_at DESC"), sql_text("id DESC")),
        Index("ix_vital_sign_appointment_recorded", "appointment_id", "recorded_at"),
        CheckConstraint("temperature_c IS NULL OR temperature_c BETWEEN 25 AND 45", name="temperature_possible"),
        CheckConstraint("pulse_bpm IS NULL OR pulse_bpm BETWEEN 20 AND 300", name="pulse_possible"),
        CheckConstraint("systolic_mmhg IS NULL OR systolic_mmhg BETWEEN 40 AND 300", name="systolic_possible"),
        CheckConstraint("diastolic_mmhg IS NULL OR diastolic_mmhg BETWEEN 20 AND 200", name="diastolic_possible"),
        CheckConstraint("(systolic_mmhg IS NULL) = (diastolic_mmhg IS NULL)", name="pressure_pair"),
        CheckConstraint("systolic_mmhg IS NULL OR systolic_mmhg > diastolic_mmhg", name="pressure_order"),
        CheckConstraint("resp_rate IS NULL OR resp_rate BETWEEN 3 AND 80", name="resp_rate_possible"),
        CheckConstraint("spo2_pct IS NULL OR spo2_pct BETWEEN 50 AND 100", name="spo2_possible"),
        CheckConstraint("weight_kg IS NULL OR weight_kg BETWEEN 0.3 AND 400", name="weight_possible"),
        CheckConstraint("height_cm IS NULL OR height_cm BETWEEN 20 AND 250", name="height_possible"),
        CheckConstraint("pain_score IS NULL OR pain_score BETWEEN 0 AND 10", name="pain_possible"),
        CheckConstraint("num_nonnulls(temperature_c, pulse_bpm, systolic_mmhg, resp_rate, spo2_pct, "
                        "weight_kg, height_cm, pain_score) > 0", name="something_measured"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    appointment_id: Mapped[int] = mapped_column(ForeignKey("appointment.id"))
    patient_id: Mapped[int] = mapped_column(ForeignKey("patient.id"))
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_user.id"))
    recorded_at: Mapped[datetime] = mapped_column(server_default=func.now())
    temperature_c: Mapped[Decimal | None] = mapped_column(Numeric(4, 1))
    pulse_bpm: Mapped[int | None] = mapped_column(SmallInteger)
    systolic_mmhg: Mapped[int | None] = mapped_column(SmallInteger)
    diastolic_mmhg: Mapped[int | None] = mapped_column(SmallInteger)
    resp_rate: Mapped[int | None] = mapped_column(SmallInteger)
    spo2_pct: Mapped[int | None] = mapped_column(SmallInteger)
    weight_kg: Mapped[Decimal | None] = mapped_column(Numeric(5, 1))
    height_cm: Mapped[Decimal | None] = mapped_column(Numeric(4, 1))
    pain_score: Mapped[int | None] = mapped_column(SmallInteger)


class Addendum(Model):
    """A correction or addition to a signed note: author, time, a required reason; never changed."""

    __tablename__ = "addendum"
    __table_args__ = (
        Index("ix_addendum_consultation_at", "consultation_id", "at", "id"),
        CheckConstraint("length(btrim(reason)) > 0", name="reason_given"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    consultation_id: Mapped[int] = mapped_column(ForeignKey("consultation.id"))
    author_id: Mapped[int | None] = mapped_column(ForeignKey("staff_user.id"))
    at: Mapped[datetime] = mapped_column(server_default=func.now())
    reason: Mapped[str] = mapped_column(String(300))
    text: Mapped[str] = mapped_column(Text)


class Icd10Code(Model):
    """The WHO ICD-10 (2019) categories and subcategories, for the diagnosis picker."""

    __tablename__ = "icd10_code"
    __table_args__ = (
        # A list loaded once: no pending list (fastupdate), so the planner costs the index truthfully.
        Index("ix_icd10_code_title_words", "title_words", postgresql_using="gin",
              postgresql_with={"fastupdate": "off"}),
    )

    # "C" collation: the primary key's index serves `code LIKE 'I1%'` as typed.
    code: Mapped[str] = mapped_column(String(8, collation="C"), primary_key=True)
    title: Mapped[str] = mapped_column(Text)
    # Lower-cased words of the title; `@@ to_tsquery('simple', 'hypert:*')` is a GIN index scan.
    title_words: Mapped[str] = mapped_column(
        TSVECTOR, Computed("to_tsvector('simple'::regconfig, title)", persisted=True), deferred=True)


class Allergy(Model):
    """A recorded allergy of a patient (substance and reaction), kept by nurses and doctors."""

    __tablename__ = "allergy"
    __table_args__ = (
        Index("ix_allergy_patient_id", "patient_id", "id"),
        CheckConstraint("severity IN ('mild', 'moderate', 'severe', 'unknown')", name="severity_known"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patient.id"))
    substance: Mapped[str] = mapped_column(String(120))
    reaction: Mapped[str | None] = mapped_column(String(200))
    severity: Mapped[str] = mapped_column(String(10), default="unknown", server_default="unknown")
    is_active: Mapped[bool] = mapped_column(default=True, server_default=sql_text("true"))
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_user.id"))
    recorded_at: Mapped[datetime] = mapped_column(server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())


class RecordAccessGrant(Model):
    """A doctor opened a patient they do not treat, giving a reason ("break the glass")."""

    __tablename__ = "record_access_grant"
    __table_args__ = (Index("ix_record_access_grant_user_patient", "user_id", "patient_id", "at"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("staff_user.id"))
    patient_id: Mapped[int] = mapped_column(ForeignKey("patient.id"))
    reason: Mapped[str] = mapped_column(String(300))
    at: Mapped[datetime] = mapped_column(server_default=func.now())


class FollowUp(Model):
    """An appointment booked from a consultation note (through the schedule's booking rules)."""

    __tablename__ = "follow_up"
    __table_args__ = (
        UniqueConstraint("appointment_id", name="uq_follow_up_appointment_id"),
        Index("ix_follow_up_consultation_id", "consultation_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    consultation_id: Mapped[int] = mapped_column(ForeignKey("consultation.id"))
    appointment_id: Mapped[int] = mapped_column(ForeignKey("appointment.id"))
    booked_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_user.id"))
    booked_at: Mapped[datetime] = mapped_column(server_default=func.now())
