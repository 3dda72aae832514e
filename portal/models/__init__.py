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
                       MpesaConfirmation,
                       Payment,
                       PaymentReversal,
                       ReceiptPrint,
)
from .schedule import Appointment, AppointmentEvent, Availability, Doctor, Slot, TimeOff
from .staff import ROLES, LoginEvent, StaffUser

__all__ = ["ROLES", "Appointment", "AppointmentEvent", "AuditEvent", "Availability", "Bill", "BillDiscount",
           "BillLine", "CashShift", "CashShiftCount", "Doctor", "IdempotencyKey", "InsuranceClaimOutcome",
           "LoginEvent",
           "MpesaConfirmation", "Patient", "Payment", "PaymentReversal", "ReceiptPrint", "Service", "Slot",
           "StaffUser", "TimeOff"]
