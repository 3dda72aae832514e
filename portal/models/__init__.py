"""All models, imported here so Alembic and the app see one metadata."""
from .audit import AuditEvent
from .billing import Service
from .idempotency import IdempotencyKey
from .patients import Patient
from .payments import (
    Bill,
    BillDiscount,
    BillLine,
    CashShift,
    CashShiftCount,
    InsuranceClaimOutcome,
    MoneyQuarterTotal,
    MpesaConfirmation,
    Payment,
    PaymentReversal,
    ReceiptPrint,
)
from .records import (
    Addendum,
    Allergy,
    Consultation,
    ConsultationService,
    Diagnosis,
    Icd10Code,
    Prescription,
    RecordAccessGrant,
    VitalSign,
)
from .schedule import Appointment, AppointmentEvent, AppointmentQuarterCount, Availability, Doctor, Slot, TimeOff
from .staff import ROLES, LoginEvent, StaffSession, StaffUser

__all__ = ["ROLES", "Addendum", "Allergy", "Appointment", "AppointmentEvent", "AppointmentQuarterCount",
           "AuditEvent", "Availability", "Bill",
           "BillDiscount", "BillLine", "CashShift", "CashShiftCount", "Consultation", "ConsultationService",
           "Diagnosis", "Doctor", "Icd10Code", "IdempotencyKey", "InsuranceClaimOutcome", "LoginEvent",
           "MoneyQuarterTotal", "MpesaConfirmation", "Patient", "Payment", "PaymentReversal", "Prescription",
           "ReceiptPrint",
           "RecordAccessGrant", "Service", "Slot", "StaffSession", "StaffUser", "TimeOff", "VitalSign"]
