"""Demo data for trying Kliniki: staff for each role, doctors and a few patients."""
from __future__ import annotations

from datetime import date

from sqlalchemy import func, select

from .auth.passwords import DEMO_PASSWORD, hash_password
from .db import transaction
from .extensions import db
from .models import Doctor, Patient, StaffUser

DEMO_STAFF = [
    ("admin", "Amina Njoroge", "admin"),
    ("reception", "Grace Wanjiru", "reception"),
    ("nurse", "Faith Achieng", "nurse"),
    ("dr.mwangi", "Dr. Peter Mwangi", "doctor"),
    ("dr.otieno", "Dr. Sarah Otieno", "doctor"),
    ("dr.kamau", "Dr. James Kamau", "doctor"),
]
DEMO_DOCTORS = {
    "dr.mwangi": ("+254722100200", "KMPDC-A1001", "Plastic and reconstructive surgery"),
    "dr.otieno": ("+254733200300", "KMPDC-A1002", "Aesthetic medicine"),
    "dr.kamau": ("+254711300400", "KMPDC-A1003", "General surgery"),
}
DEMO_PATIENTS = [
    ("Wanjiru", "Nyambura", date(1990, 5, 17), "female", "+254712345678"),
    ("Brian", "Ochieng", date(1985, 11, 2), "male", "+254723456789"),
    ("Mercy", "Otieno", date(1978, 1, 30), "female", "+254734567890"),
    ("John", "Kamau", date(1969, 7, 8), "male", "+254745678901"),
    ("John", "Kamau", date(2001, 3, 14), "male", "+254756789012"),
    ("Aisha", "Mohamed", date(1995, 9, 21), "female", "+254767890123"),
    ("Kevin", "N'Dege", date(1988, 12, 1), "male", "+254778901234"),
    ("Esther", "Nyambura-Otieno", date(1992, 4, 5), "female", "+254789012345"),
]


class SeedRefused(RuntimeError):
    """The database holds data that is not demo data."""


def database_has_real_data() -> bool:
    """True when any staff member is not a demo account."""
    demo = [username for username, _, _ in DEMO_STAFF]
    return bool(db.session.scalar(
        select(func.count()).select_from(StaffUser).where(StaffUser.username.notin_(demo))))


def database_is_empty() -> bool:
    return not db.session.scalar(select(func.count()).select_from(StaffUser))


def seed_demo(force: bool = False) -> list[tuple[str, str]]:
    """Create the demo staff, doctors and patients; returns (username, role) logins."""
    if database_has_real_data() and not force:
        raise SeedRefused("This database holds staff who are not demo accounts; use --force.")
    password_hash = hash_password(DEMO_PASSWORD)
    with transaction() as session:
        users = {}
        for username, full_name, role in DEMO_STAFF:
            user = session.scalar(select(StaffUser).where(StaffUser.username == username))
            if user is None:
                user = StaffUser(username=username, full_name=full_name, role=role,
                                 password_hash=password_hash)
                session.add(user)
            users[username] = user
        session.flush()
        for username, (phone, licence, specialisation) in DEMO_DOCTORS.items():
            if session.scalar(select(Doctor.id).where(Doctor.licence_number == licence)) is None:
                session.add(Doctor(user_id=users[username].id, name=users[username].full_name,
                                   phone=phone, licence_number=licence,
                                   specialisation=specialisation))
        if not session.scalar(select(func.count()).select_from(Patient)):
            for first, last, born, sex, phone in DEMO_PATIENTS:
                session.add(Patient(first_name=first, last_name=last, date_of_birth=born, sex=sex,
                                    phone=phone, consent_data_processing=True,
                                    approved_at=func.now(), approved_by_id=users["reception"].id))
    from .schedule.demo import seed_schedule_demo
    seed_schedule_demo(users["reception"].id)
    return [(username, role) for username, _, role in DEMO_STAFF]
