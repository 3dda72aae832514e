"""All models, imported here so Alembic and the app see one metadata."""
from .staff import AuditEvent, LoginEvent, StaffUser, ROLES  # noqa: F401
from .patients import Patient  # noqa: F401
from .schedule import Appointment, Doctor, IdempotencyKey, Slot  # noqa: F401
