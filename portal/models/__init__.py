"""All models, imported here so Alembic and the app see one metadata."""
from .audit import AuditChainHead, AuditEvent
from .billing import Service
from .idempotency import IdempotencyKey
from .patients import Patient
from .payments import (
    Bill,
    BillDiscount,
    BillLine,
    BillLineVoid,
    CashShift,
    CashShiftCount,
    ChargeQuarterTotal,
    InsuranceClaimOutcome,
    MoneyDoctorQuarterTotal,
    MoneyQuarterTotal,
    MpesaConfirmation,
    OutstandingTotal,
    Payment,
    PaymentReversal,
    ReceiptPrint,
    ServiceDayTotal,
)
from .records import (
    Addendum,
    Allergy,
    Consultation,
    ConsultationService,
    Diagnosis,
    FollowUp,
    Icd10Code,
    Prescription,
    RecordAccessGrant,
    VitalSign,
)
from .schedule import (
    Appointment,
    AppointmentEvent,
    AppointmentQuarterCount,
    Availability,
    Doctor,
    ScheduleChange,
    Slot,
    TimeOff,
)
from .staff import ROLES, LoginEvent, StaffSession, StaffUser

__all__ = ["ROLES", "Addendum", "Allergy", "Appointment", "AppointmentEvent", "AppointmentQuarterCount",
           "AuditChainHead", "AuditEvent", "Availability", "Bill", "BillDiscount", "BillLine", "BillLineVoid",
           "CashShift", "CashShiftCount", "ChargeQuarterTotal", "Consultation", "ConsultationService", "Diagnosis",
           "Doctor", "FollowUp", "Icd10Code", "IdempotencyKey", "InsuranceClaimOutcome", "LoginEvent",
           "MoneyDoctorQuarterTotal", "MoneyQuarterTotal", "MpesaConfirmation", "OutstandingTotal", "Patient",
           "Payment", "PaymentReversal", "Prescription", "ReceiptPrint", "RecordAccessGrant", "Service",
           "ScheduleChange", "ServiceDayTotal", "Slot", "StaffSession", "StaffUser", "TimeOff", "VitalSign"]
