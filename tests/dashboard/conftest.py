"""Dashboard fixtures: a small hand-made clinic day, booked and moved through the schedule's services."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

import pytest
from sqlalchemy import text

from portal import clinic_time
from portal.actor import Actor
from portal.extensions import db
from portal.idempotency import new_key
from portal.models import Slot
from portal.schedule import services

DAY = date(2031, 3, 4)  # a Tuesday, in the future so the services accept the bookings


def at(day: date, hour: int, minute: int = 0) -> datetime:
    """A clinic-local wall-clock instant (aware, UTC)."""
    return clinic_time.at_local(day, time(hour, minute))


def day_slots(app, doctor_id: int, day: date, count: int, start_hour: int = 8) -> list[int]:
    """Open 30-minute slots from start_hour on `day`."""
    with app.app_context():
        rows = [Slot(doctor_id=doctor_id, starts_at=at(day, start_hour) + timedelta(minutes=30 * i),
                     ends_at=at(day, start_hour) + timedelta(minutes=30 * (i + 1))) for i in range(count)]
        db.session.add_all(rows)
        db.session.commit()
        return [row.id for row in rows]


@dataclass
class Clinic:
    doctors: list[int]
    patients: list[int]
    appointments: dict[str, int]
    now: datetime  # the clock the figures are read at: DAY 09:30


@pytest.fixture
def clinic(app, staff, doctors, patients):
    """DAY's schedule, made through portal.schedule.services:

    Dr. Test One (8 slots, 1 blocked extra): A1 completed (waited 12 min), A2 in consultation
    (waited 40), A3 no show, A4 cancelled by the patient.
    Dr. Test Two (8 slots): A5 checked in at 09:00 (still waiting at 09:30), A6 cancelled by the
    clinic, A7 confirmed, A8 booked, A9 completed (waited 3 min).
    The next day: B1 (Dr. One) cancelled by the patient; 2 more slots of Dr. One.
    Patients registered: 3 on DAY at 10:00, 1 at DAY 00:00 exactly, 1 at 23:59 the day before,
    2 on the next day; the other 33 long before.
    """
    one, two = doctors
    desk = Actor(staff["reception"], "reception")
    admin = Actor(staff["admin"], "admin")
    first = day_slots(app, one, DAY, 8)
    second = day_slots(app, two, DAY, 8)
    following = day_slots(app, one, DAY + timedelta(days=1), 3)
    with app.app_context():
        db.session.add(Slot(doctor_id=one, starts_at=at(DAY, 12), ends_at=at(DAY, 12, 30), status="blocked"))
        db.session.commit()
    plan = {"A1": first[0], "A2": first[1], "A3": first[2], "A4": first[3],
            "A5": second[0], "A6": second[1], "A7": second[2], "A8": second[3], "A9": second[4],
            "B1": following[0]}
    made = {}
    with app.app_context(), clinic_time.frozen(at(DAY, 6)):
        for index, (name, slot_id) in enumerate(plan.items()):
            made[name] = services.book([slot_id], patients[index], "check-up", desk, new_key()).appointment_id
        for name in ("A1", "A2", "A5", "A9"):
            services.change_status(made[name], "checked_in", desk)
        for name in ("A1", "A2", "A9"):
            services.change_status(made[name], "in_consultation", admin)
        for name in ("A1", "A9"):
            services.change_status(made[name], "completed", admin)
        services.change_status(made["A3"], "no_show", desk)
        services.change_status(made["A7"], "confirmed", desk)
        services.cancel(made["A4"], "patient", "travelling", desk)
        services.cancel(made["A6"], "clinic", "doctor called away", desk)
        services.cancel(made["B1"], "patient", "feeling better", desk)
        db.session.remove()
    # The events carry the database's clock; the day's real times are set here.
    times = {("A1", "checked_in"): at(DAY, 8, 0), ("A1", "in_consultation"): at(DAY, 8, 12),
             ("A2", "checked_in"): at(DAY, 8, 30), ("A2", "in_consultation"): at(DAY, 9, 10),
             ("A5", "checked_in"): at(DAY, 9, 0),
             ("A9", "checked_in"): at(DAY, 9, 20), ("A9", "in_consultation"): at(DAY, 9, 23)}
    registered = [at(DAY, 10)] * 3 + [at(DAY, 0), at(DAY, 0) - timedelta(minutes=1)] + \
        [at(DAY + timedelta(days=1), 9)] * 2
    with app.app_context():
        for (name, status), moment in times.items():
            db.session.execute(text("UPDATE appointment_event SET at = :at WHERE appointment_id = :id "
                                    "AND to_status = :status"), {"at": moment, "id": made[name], "status": status})
        for patient_id, moment in zip(patients, registered):
            db.session.execute(text("UPDATE patient SET created_at = :at WHERE id = :id"),
                               {"at": moment, "id": patient_id})
        db.session.execute(text("UPDATE patient SET created_at = :at WHERE NOT (id = ANY(:ids))"),
                           {"at": at(DAY - timedelta(days=400), 9), "ids": patients[:len(registered)]})
        db.session.commit()
    with clinic_time.frozen(at(DAY, 9, 30)) as now:
        yield Clinic(doctors, patients, made, now)
