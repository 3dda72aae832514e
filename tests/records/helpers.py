"""Small helpers for the records tests: actors, a started consultation, a signed one."""
from __future__ import annotations

from portal.actor import Actor
from portal.idempotency import new_key
from portal.records import services


def doctor(staff) -> Actor:
    return Actor(staff["doctor"], "doctor", "127.0.0.1")


def nurse(staff) -> Actor:
    return Actor(staff["nurse"], "nurse", "127.0.0.1")


def started(app, staff, appointment_id: int) -> int:
    """Start the consultation of a checked-in appointment; returns the consultation id."""
    with app.app_context():
        return services.start_consultation(appointment_id, doctor(staff)).id


def signed(app, staff, appointment_id: int, plan: str = "Rest, fluids") -> int:
    """A consultation with a note, a diagnosis-free body, signed; returns its id."""
    consultation_id = started(app, staff, appointment_id)
    with app.app_context():
        services.save_note(consultation_id, 1, {"subjective": "Headache", "objective": None,
                                                "assessment": "Tension headache", "plan": plan}, doctor(staff))
        services.sign(consultation_id, new_key(), doctor(staff))
    return consultation_id
