"""All models, imported here so Alembic and the app see one metadata."""
from .audit import AuditEvent
from .billing import Service
from .idempotency import IdempotencyKey
from .patients import Patient
from .schedule import Appointment, AppointmentEvent, Availability, Doctor, Slot, TimeOff
from .staff import ROLES, LoginEvent, StaffSession, StaffUser

__all__ = ["ROLES", "Appointment", "AppointmentEvent", "AuditEvent", "Availability", "Doctor",
           "IdempotencyKey", "LoginEvent", "Patient", "Service", "Slot", "StaffSession", "StaffUser", "TimeOff"]
