"""Demo schedule: weekly hours for the demo doctors, slots, and a few appointments so a day looks real."""
from __future__ import annotations

from datetime import time

from sqlalchemy import func, select, text

from .. import clinic_time
from ..actor import Actor
from ..db import transaction
from ..extensions import db
from ..idempotency import new_key
from ..models import Patient
from ..models.schedule import Appointment, Availability, Doctor, Slot
from . import services
from .availability import generate_slots

WEEKLY_HOURS = [(day, "hours", time(8), time(17)) for day in range(5)] + \
    [(day, "break", time(13), time(14)) for day in range(5)] + [(5, "hours", time(9), time(13))]
DEMO_REASONS = ["Post-op review", "Consultation: rhinoplasty", "Dressing change", "Botox follow-up",
                "Scar assessment", "Pre-op assessment"]


def seed_schedule_demo(reception_user_id: int | None) -> None:
    """Idempotent: hours for doctors that have none, slots for the window, appointments if there are none."""
    with transaction() as session:
        bare = session.scalars(select(Doctor.id).where(~Doctor.id.in_(select(Availability.doctor_id)))).all()
        for doctor_id in bare:
            session.add_all(Availability(doctor_id=doctor_id, weekday=d, kind=k, starts_time=s, ends_time=e)
                            for d, k, s, e in WEEKLY_HOURS)
    generate_slots()
    if db.session.scalar(select(func.count()).select_from(Appointment)):
        return
    patients = db.session.scalars(select(Patient.id).order_by(Patient.id).limit(8)).all()
    if not patients:
        return
    _past_appointments_today(list(patients), reception_user_id)
    for day_offset in range(4):
        day = clinic_time.today().toordinal() + day_offset
        start, end = clinic_time.day_bounds(clinic_time.today().fromordinal(day))
        free = db.session.execute(
            select(Slot.id, Slot.doctor_id).where(Slot.status == "open", Slot.starts_at >= start,
                                                  Slot.starts_at < end, Slot.starts_at > func.now())
            .order_by(Slot.starts_at, Slot.doctor_id).limit(60)).all()
        for index, slot in enumerate(free[::5][:6]):
            try:
                services.book([slot.id], patients[(index + day_offset) % len(patients)],
                              DEMO_REASONS[index % len(DEMO_REASONS)], Actor(reception_user_id, "reception"), new_key(),
                              pending_review=index == 4)
            except services.ScheduleError:
                continue  # the patient is busy then: the demo simply has one fewer booking


def _past_appointments_today(patients: list[int], user_id: int | None) -> None:
    """Earlier today's slots cannot be booked through the rules, so write a few completed ones."""
    start, _ = clinic_time.day_bounds(clinic_time.today())
    with transaction() as session:
        past = session.execute(select(Slot.id, Slot.doctor_id, Slot.starts_at, Slot.ends_at)
                               .where(Slot.status == "open", Slot.starts_at >= start,
                                      Slot.ends_at <= func.now())
                               .order_by(Slot.starts_at, Slot.doctor_id).limit(40)).all()
        for index, slot in enumerate(past[::4][:4]):
            appointment = Appointment(patient_id=patients[index % len(patients)], doctor_id=slot.doctor_id,
                                      starts_at=slot.starts_at, ends_at=slot.ends_at, status="completed",
                                      reason=DEMO_REASONS[index % len(DEMO_REASONS)], created_by_id=user_id)
            session.add(appointment)
            session.flush()
            session.execute(text("UPDATE slot SET status = 'booked', appointment_id = :a WHERE id = :s"),
                            {"a": appointment.id, "s": slot.id})
