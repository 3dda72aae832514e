"""Test factories: staff, doctors, slots, patients and appointments, and the settable clock.

Each factory takes the app, writes its rows in an app context of its own and returns plain ids (or a
service's result), so a test can go on with a fresh session. Where the app has a service for the
thing (registering a patient, booking), the factory goes through it, as a desk would.
"""
from __future__ import annotations

import itertools
from collections.abc import Iterable
from datetime import date, datetime, time, timedelta
from functools import lru_cache

from portal import clinic_time
from portal.extensions import db

PASSWORD = "correct-horse-battery"
ROLES = ("admin", "reception", "doctor", "nurse")
SLOTS_PER_DOCTOR = 16
# Weekly hours 08:00-12:00 with a break at 10:00-10:30, every day of the week.
EVERY_DAY = [(d, "hours", time(8), time(12)) for d in range(7)] + \
    [(d, "break", time(10), time(10, 30)) for d in range(7)]

_serial = itertools.count(1)


@lru_cache(maxsize=4)
def password_hash(password: str = PASSWORD) -> str:
    """The stored hash of a password, computed once per run (hashing is slow on purpose)."""
    from portal.auth.passwords import hash_password
    return hash_password(password)


# ---- staff ---------------------------------------------------------------------------------

def make_staff(app, role: str, username: str | None = None, full_name: str | None = None,
               password: str = PASSWORD, active: bool = True) -> int:
    """One staff member who can sign in with `password`; returns the user id."""
    from portal.models import StaffUser
    with app.app_context():
        user = StaffUser(username=username or f"{role}{next(_serial) + 100}",
                         full_name=full_name or f"Test {role.title()}", role=role,
                         password_hash=password_hash(password), is_active_flag=active)
        db.session.add(user)
        db.session.commit()
        return user.id


def make_staff_per_role(app, roles: Iterable[str] = ROLES) -> dict[str, int]:
    """One active staff member per role, `<role>1` with PASSWORD; returns {role: user id}."""
    return {role: make_staff(app, role, username=f"{role}1") for role in roles}


# ---- doctors and slots ---------------------------------------------------------------------

def make_doctor(app, name: str | None = None, licence_number: str | None = None,
                specialisation: str = "General surgery", user_id: int | None = None,
                slot_minutes: int | None = None, active: bool = True,
                hours: Iterable[tuple[int, str, time, time]] = ()) -> int:
    """A doctor, with weekly hours as (weekday, "hours"|"break", start, end) rows but no slots yet.

    The hours are stored as they are; `availability.set_availability` (the service) also makes the
    slots, `make_slots` opens slots directly.
    """
    from portal.models import Doctor
    from portal.models.schedule import Availability
    serial = next(_serial)
    with app.app_context():
        doctor = Doctor(name=name or f"Dr. Factory {serial}", licence_number=licence_number or f"KMPDC-F{serial}",
                        specialisation=specialisation, user_id=user_id, is_active=active)
        if slot_minutes is not None:
            doctor.slot_minutes = slot_minutes
        db.session.add(doctor)
        db.session.flush()
        db.session.add_all([Availability(doctor_id=doctor.id, weekday=weekday, kind=kind,
                                         starts_time=starts, ends_time=ends)
                            for weekday, kind, starts, ends in hours])
        db.session.commit()
        return doctor.id


def make_test_doctors(app, doctor_user_id: int | None) -> list[int]:
    """Dr. Test One (General surgery, the doctor1 login) and Dr. Test Two (Aesthetics); returns their ids."""
    return [make_doctor(app, "Dr. Test One", "KMPDC-T1", "General surgery", user_id=doctor_user_id),
            make_doctor(app, "Dr. Test Two", "KMPDC-T2", "Aesthetics")]


def make_slots(app, doctor_id: int, day_offset: int = 1, count: int = SLOTS_PER_DOCTOR,
               minutes: int = 30, start: time = time(8)) -> list[int]:
    """Open consecutive slots from 08:00 clinic time `day_offset` days from today; returns their ids."""
    from portal.models import Slot
    with app.app_context():
        first = clinic_time.at_local(clinic_time.today() + timedelta(days=day_offset), start)
        rows = [Slot(doctor_id=doctor_id, starts_at=first + timedelta(minutes=minutes * i),
                     ends_at=first + timedelta(minutes=minutes * (i + 1))) for i in range(count)]
        db.session.add_all(rows)
        db.session.commit()
        return [row.id for row in rows]


# ---- patients ------------------------------------------------------------------------------

def make_patient(app, first_name: str = "Pat", last_name: str = "Tester", date_of_birth: date = date(1990, 1, 1),
                 sex: str = "female", phone: str | None = None, **fields) -> int:
    """A patient row as the seeders write it (no audit, no duplicate check); returns the id."""
    from portal.models import Patient
    with app.app_context():
        patient = Patient(first_name=first_name, last_name=last_name, date_of_birth=date_of_birth, sex=sex,
                          phone=phone or f"+25471{next(_serial):07d}", **fields)
        db.session.add(patient)
        db.session.commit()
        return patient.id


def make_patients(app, count: int, start: int = 0, first_name: str = "Pat{i}", last_name: str = "Tester",
                  date_of_birth: date = date(1990, 1, 1), sex: str = "female",
                  phone: str = "+2547120000{i:02d}") -> list[int]:
    """`count` patients in one commit; "{i}" in a name or phone is the patient's number from `start`."""
    from portal.models import Patient
    with app.app_context():
        people = [Patient(first_name=first_name.format(i=i), last_name=last_name.format(i=i),
                          date_of_birth=date_of_birth, sex=sex, phone=phone.format(i=i))
                  for i in range(start, start + count)]
        db.session.add_all(people)
        db.session.commit()
        return [p.id for p in people]


def patient_form(**overrides) -> dict:
    """A valid registration form, with overrides."""
    form = {"first_name": "Wanjiru", "middle_name": "", "last_name": "Nyambura",
            "date_of_birth": "1990-05-17", "sex": "female", "phone": "0712 345 678",
            "email": "", "national_id": "", "address": "", "next_of_kin_name": "",
            "next_of_kin_phone": "", "next_of_kin_relation": "", "allergies": "",
            "insurance_provider": "", "insurance_member_number": "",
            "consent_data_processing": "on"}
    form.update(overrides)
    return form


def register_patient(app, reason: str = "", **overrides) -> tuple[int, str]:
    """Register a patient through the service, as reception would; returns (id, file number)."""
    from portal.actor import Actor
    from portal.patients import services
    from portal.patients.forms import parse_patient_form
    parsed = parse_patient_form(patient_form(**overrides), date(2026, 11, 24))
    assert parsed.ok, parsed.errors
    with app.test_request_context():
        patient = services.register_patient(parsed.clean, Actor.system(), reason)
        return patient.id, patient.file_number


# ---- appointments --------------------------------------------------------------------------

def book(app, slot_ids, patient_id, reason: str | None = "check-up", user_id: int | None = None,
         key: str | None = None, **options):
    """Book slots through the booking service; returns its BookingResult."""
    from portal.actor import Actor
    from portal.idempotency import new_key
    from portal.schedule import services
    actor = Actor(user_id, "reception") if user_id is not None else Actor.system()
    with app.app_context():
        try:
            return services.book(slot_ids, patient_id, reason, actor, key or new_key(), **options)
        finally:
            db.session.remove()


def today_at(hours_from_now: float = 0, minutes: int = 30) -> datetime:
    """Now plus an offset, kept inside the clinic's today: a run just after midnight still makes today's visits."""
    start, end = clinic_time.day_bounds(clinic_time.today())
    at = clinic_time.now().replace(microsecond=0) + timedelta(hours=hours_from_now)
    return min(max(at, start), end - timedelta(minutes=minutes))


def make_appointment(app, patient_id: int, doctor_id: int, starts_at: datetime, minutes: int = 30,
                     status: str = "booked", **fields) -> int:
    """An appointment row without slots (history, other days' lists), as the seeders write it; returns the id."""
    from portal.models import Appointment
    with app.app_context():
        appointment = Appointment(patient_id=patient_id, doctor_id=doctor_id, starts_at=starts_at,
                                  ends_at=starts_at + timedelta(minutes=minutes), status=status, **fields)
        db.session.add(appointment)
        db.session.commit()
        return appointment.id


# ---- the clock -----------------------------------------------------------------------------

class Clock:
    """The app's settable clock (portal.clinic_time): fixed at an instant, moved on by hand.

    `set` takes an aware datetime, or a clinic-local "YYYY-MM-DD HH:MM" string.
    """

    def now(self) -> datetime:
        return clinic_time.now()

    def set(self, at: datetime | str) -> datetime:
        if isinstance(at, str):
            at = datetime.fromisoformat(at).replace(tzinfo=clinic_time.zone())
        clinic_time.set_clock(at)
        return clinic_time.now()

    def advance(self, **delta: float) -> datetime:
        """Move the clock on by timedelta(**delta), e.g. advance(minutes=5)."""
        return self.set(clinic_time.now() + timedelta(**delta))

    def reset(self) -> None:
        """Back to the real clock."""
        clinic_time.set_clock(None)
