"""Clinic-scale data: Kenyan patients, doctors with availability and slots, years of appointments.

Rows go in with COPY through the app's own engine connection. Large appointment loads drop the
appointment table's secondary indexes and foreign keys first and rebuild them after the load
(one sort per index, one anti-join per foreign key), which is what makes a million rows fit in
the time budget; rebuilding the partial unique index also proves there is no double booking.
"""
from __future__ import annotations

import logging
import random
import time as clock
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from typing import Any, Callable, Iterable, Iterator
from zoneinfo import ZoneInfo

from faker.providers.person.en_KE import Provider as KenyanNames
from sqlalchemy import text

from . import clinic_time
from .auth.passwords import hash_password
from .db import transaction
from .extensions import db
from .schedule.availability import generate_slots
from .seed import DEMO_PASSWORD

log = logging.getLogger(__name__)

CHUNK_ROWS = 50_000
REBUILD_FROM_ROWS = 50_000  # below this, COPY into the indexed table directly
PAST_OCCUPANCY = 0.8
MIN_PAST_DAYS = 90
FUTURE_SHARE = 0.006  # of a large load: the slot window holds weeks, the past holds years
SLOT_MINUTES = 30
MOBILE_PREFIXES = ("70", "71", "72", "74", "75", "76", "79", "11", "10", "73", "78")
SPECIALISATIONS = ("General surgery", "Plastic and reconstructive surgery", "Aesthetic medicine",
                   "Dermatology", "Anaesthesia", "Family medicine", "Gynaecology", "Orthopaedics",
                   "ENT surgery", "Paediatrics")
ESTATES = ("Kilimani", "Westlands", "Lavington", "Karen", "South B", "South C", "Embakasi", "Kasarani",
           "Ruaka", "Kileleshwa", "Parklands", "Langata", "Donholm", "Umoja", "Rongai", "Kitengela",
           "Thika Road", "Githurai", "Kahawa", "Ngong Road")
INSURERS = ("SHA", "AAR Insurance", "Jubilee Health", "Britam", "CIC Insurance", "Madison",
            "Old Mutual", "APA Insurance", "Minet")
ALLERGIES = ("Penicillin", "Sulfonamides", "Latex", "Peanuts", "Aspirin", "Ibuprofen", "Iodine contrast",
             "Shellfish", "Codeine", "Lidocaine")
RELATIONS = ("Spouse", "Mother", "Father", "Sister", "Brother", "Son", "Daughter", "Friend")
REASONS = ("Consultation", "Review", "Post-operative review", "Wound dressing", "Pre-operative assessment",
           "Botox consultation", "Scar revision consultation", "Suture removal", "Follow-up",
           "Skin assessment", "Laser session", "Filler review")
CANCEL_REASONS = {"patient": ("Patient travelling", "Patient unwell", "Patient asked to reschedule",
                              "Transport problem"),
                  "clinic": ("Doctor in theatre", "Doctor on leave", "Clinic closed for a holiday")}
# (weekday hours, break, Saturday hours or None): every grid is on :00/:30, so two
# appointments overlap exactly when they start at the same time.
WEEK_PATTERNS = (
    ((time(8), time(17)), (time(12, 30), time(13, 30)), (time(9), time(13))),
    ((time(8), time(17)), (time(13), time(14)), None),
    ((time(9), time(18)), (time(13), time(14)), None),
    ((time(8, 30), time(16, 30)), (time(12, 30), time(13, 30)), (time(9), time(12))),
)


class SeedError(RuntimeError):
    """The seeder refused to run (for example: the database is not empty)."""


@dataclass
class SeedReport:
    """What was loaded and how long each step took."""

    patients: int = 0
    doctors: int = 0
    slots: int = 0
    appointments: int = 0
    visits: Any = None  # seeding_visits.VisitReport, when signed notes or bills were asked for
    timings: dict[str, float] = field(default_factory=dict)


# ---- COPY helpers ---------------------------------------------------------------

_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _field(value) -> str:
    if value is None:
        return "\\N"
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return str(value).translate(_ESCAPES)


def _lines(rows: Iterable[tuple]) -> Iterator[str]:
    for row in rows:
        yield "\t".join(_field(v) for v in row) + "\n"


def _copy(cursor, table: str, columns: tuple[str, ...], rows: Iterable[tuple]) -> int:
    """COPY rows into table in chunks; returns how many."""
    count = 0
    with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        buffer: list[str] = []
        for line in _lines(rows):
            buffer.append(line)
            if len(buffer) >= CHUNK_ROWS:
                copy.write("".join(buffer))
                count += len(buffer)
                buffer.clear()
        if buffer:
            copy.write("".join(buffer))
            count += len(buffer)
    return count


def _reserve_ids(cursor, table: str, count: int) -> list[int]:
    """Take `count` ids from the table's own sequence (never max+1)."""
    if count <= 0:
        return []
    cursor.execute(f"SELECT nextval(pg_get_serial_sequence('{table}', 'id')) "
                   "FROM generate_series(1, %s)", (count,))
    return [row[0] for row in cursor.fetchall()]


# ---- people ---------------------------------------------------------------------

class Names:
    """Kenyan names weighted as Faker's en_KE provider weights them."""

    def __init__(self, rng: random.Random):
        self.rng = rng
        self.female = list(KenyanNames.first_names_female)
        self.female_weights = list(KenyanNames.first_names_female.values())
        self.male = list(KenyanNames.first_names_male)
        self.male_weights = list(KenyanNames.first_names_male.values())
        self.last = list(KenyanNames.last_names)
        self.last_weights = list(KenyanNames.last_names.values())

    def first(self, sex: str, k: int) -> list[str]:
        if sex == "female":
            return self.rng.choices(self.female, self.female_weights, k=k)
        return self.rng.choices(self.male, self.male_weights, k=k)

    def lasts(self, k: int) -> list[str]:
        return self.rng.choices(self.last, self.last_weights, k=k)


def kenyan_mobile(rng: random.Random) -> str:
    return f"+254{rng.choice(MOBILE_PREFIXES)}{rng.randrange(10_000_000):07d}"


def _birth_date(rng: random.Random, today: date) -> date:
    age_days = int(min(max(rng.gauss(36, 18), 0.1), 95) * 365.25)
    return today - timedelta(days=age_days)


def patient_rows(count: int, rng: random.Random, today: date, now: datetime, first_day: date,
                 ids: list[int], assignees: list[int]) -> Iterator[tuple]:
    """Rows for the patient COPY, registered over the years in id (so file number) order."""
    names = Names(rng)
    span = max((now - datetime.combine(first_day, time(8), timezone.utc)).total_seconds(), 3600)
    registered = sorted(now - timedelta(seconds=rng.random() * span) for _ in range(count))
    sexes = rng.choices(("female", "male"), (56, 44), k=count)
    females = iter(names.first("female", count))
    males = iter(names.first("male", count))
    lasts = iter(names.lasts(count * 2))
    for patient_id, created_at, sex in zip(ids, registered, sexes):
        first = next(females) if sex == "female" else next(males)
        middle = (next(females) if sex == "female" else next(males)) if rng.random() < 0.45 else None
        last = next(lasts)
        born = _birth_date(rng, today)
        adult = (today - born).days >= 18 * 365
        pending = (now - created_at).days < 3 and rng.random() < 0.5
        approved_at = None if pending else created_at + timedelta(minutes=rng.randint(2, 240))
        kin_last = next(lasts) if rng.random() < 0.3 else last
        insured = rng.random() < 0.55
        yield (patient_id, first, middle, last, born, sex, kenyan_mobile(rng),
               f"{first}.{last}{rng.randint(1, 999)}@example.co.ke".lower().replace("'", "")
               if rng.random() < 0.3 else None,
               f"{rng.randint(10_000_000, 39_999_999)}" if adult and rng.random() < 0.8 else None,
               f"{rng.choice(ESTATES)}, Nairobi" if rng.random() < 0.85 else None,
               f"{names.first(rng.choice(('female', 'male')), 1)[0]} {kin_last}",
               kenyan_mobile(rng), rng.choice(RELATIONS),
               ", ".join(rng.sample(ALLERGIES, rng.randint(1, 2))) if rng.random() < 0.12 else None,
               rng.choice(INSURERS) if insured else None,
               f"{rng.randint(1_000_000, 9_999_999)}" if insured else None,
               True, rng.random() < 0.7,
               approved_at, None, rng.choice(assignees) if assignees and rng.random() < 0.2 else None,
               created_at, approved_at or created_at)


PATIENT_COLUMNS = ("id", "first_name", "middle_name", "last_name", "date_of_birth", "sex", "phone",
                   "email", "national_id", "address", "next_of_kin_name", "next_of_kin_phone",
                   "next_of_kin_relation", "allergies", "insurance_provider",
                   "insurance_member_number", "consent_data_processing", "consent_sms",
                   "approved_at", "approved_by_id", "assigned_to_id", "created_at", "updated_at")
APPOINTMENT_COLUMNS = ("id", "patient_id", "doctor_id", "starts_at", "ends_at", "status", "reason",
                       "created_at", "updated_at", "status_changed_at", "cancel_reason",
                       "cancelled_by")


# ---- doctors --------------------------------------------------------------------

@dataclass
class SeededDoctor:
    id: int
    user_id: int
    pattern: tuple


def _insert_doctors(cursor, count: int, rng: random.Random, run: str) -> list[SeededDoctor]:
    names = Names(rng)
    password_hash = hash_password(DEMO_PASSWORD)
    doctors = []
    for index in range(count):
        sex = rng.choice(("female", "male"))
        full_name = f"Dr. {names.first(sex, 1)[0]} {names.lasts(1)[0]}"
        cursor.execute(
            "INSERT INTO staff_user (username, full_name, role, password_hash) "
            "VALUES (%s, %s, 'doctor', %s) RETURNING id",
            (f"dr.{run}.{index + 1:03d}", full_name, password_hash))
        user_id = cursor.fetchone()[0]
        cursor.execute(
            "INSERT INTO doctor (user_id, name, phone, licence_number, specialisation, slot_minutes) "
            "VALUES (%s, %s, %s, %s, %s, %s) RETURNING id",
            (user_id, full_name, kenyan_mobile(rng), f"KMPDC-S{run}-{index + 1:03d}",
             SPECIALISATIONS[index % len(SPECIALISATIONS)], SLOT_MINUTES))
        doctor = SeededDoctor(cursor.fetchone()[0], user_id, WEEK_PATTERNS[index % len(WEEK_PATTERNS)])
        doctors.append(doctor)
        rows = []
        hours, pause, saturday = doctor.pattern
        for weekday in range(5):
            rows += [(doctor.id, weekday, "hours", *hours), (doctor.id, weekday, "break", *pause)]
        if saturday:
            rows.append((doctor.id, 5, "hours", *saturday))
        cursor.executemany("INSERT INTO availability (doctor_id, weekday, kind, starts_time, ends_time) "
                           "VALUES (%s, %s, %s, %s, %s)", rows)
    return doctors


def _day_starts(pattern: tuple, weekday: int) -> list[time]:
    """The slot start times of one weekday under a week pattern (same grid as the slots)."""
    hours, pause, saturday = pattern
    if weekday == 6 or (weekday == 5 and not saturday):
        return []
    start, end = saturday if weekday == 5 else hours
    starts, current = [], datetime.combine(date.min, start)
    while current + timedelta(minutes=SLOT_MINUTES) <= datetime.combine(date.min, end):
        slot_end = current + timedelta(minutes=SLOT_MINUTES)
        in_break = weekday < 5 and (current.time() < pause[1] and slot_end.time() > pause[0])
        if not in_break:
            starts.append(current.time())
        current = slot_end
    return starts


# ---- appointments ---------------------------------------------------------------

class PatientPicker:
    """Random patients, never the same one twice at one start time (no patient double booking)."""

    def __init__(self, ids: list[int], rng: random.Random):
        self.ids, self.rng = ids, rng

    def distinct(self, k: int) -> list[int]:
        if k >= len(self.ids):
            return self.rng.sample(self.ids, min(k, len(self.ids)))
        chosen: set[int] = set()
        while len(chosen) < k:
            chosen.add(self.rng.choice(self.ids))
        return list(chosen)


def _past_status(rng: random.Random) -> tuple[str, str | None, str | None]:
    roll = rng.random()
    if roll < 0.78:
        return "completed", None, None
    if roll < 0.86:
        return "no_show", None, None
    by = "patient" if rng.random() < 0.7 else "clinic"
    return "cancelled", rng.choice(CANCEL_REASONS[by]), by


def _future_status(rng: random.Random) -> tuple[str, str | None, str | None]:
    roll = rng.random()
    if roll < 0.55:
        return "booked", None, None
    if roll < 0.86:
        return "confirmed", None, None
    if roll < 0.93:
        return "pending_review", None, None
    by = "patient" if rng.random() < 0.7 else "clinic"
    return "cancelled", rng.choice(CANCEL_REASONS[by]), by


def _appointment_row(appointment_id, patient_id, doctor_id, starts_at, status_info, rng, now):
    status, cancel_reason, cancelled_by = status_info
    ends_at = starts_at + timedelta(minutes=SLOT_MINUTES)
    created_at = min(starts_at - timedelta(hours=rng.randint(2, 24 * 45)), now)
    changed = ends_at if status in ("completed", "no_show") and ends_at <= now else None
    if status == "cancelled":
        changed = min(created_at + (starts_at - created_at) * rng.random(), now)
    return (appointment_id, patient_id, doctor_id, starts_at, ends_at, status, rng.choice(REASONS),
            created_at, changed or created_at, changed, cancel_reason, cancelled_by)


def past_appointment_rows(count: int, doctors: list[SeededDoctor], picker: PatientPicker,
                          rng: random.Random, zone: ZoneInfo, now: datetime, ids: Iterator[int]
                          ) -> tuple[Iterator[tuple], date]:
    """Rows for `count` past appointments, walking back day by day; returns (rows, first day)."""
    local_now = now.astimezone(zone)
    capacity_week = sum(len(_day_starts(d.pattern, wd)) for d in doctors for wd in range(7))
    days_needed = max(MIN_PAST_DAYS, int(count / max(capacity_week * PAST_OCCUPANCY / 7, 1e-9)) + 2)
    occupancy = min(PAST_OCCUPANCY, 1.2 * count / max(capacity_week * days_needed / 7, 1))
    first_day = local_now.date() - timedelta(days=days_needed + 14)

    def rows() -> Iterator[tuple]:
        made, day = 0, local_now.date()
        while made < count:  # usually done by first_day; an unlucky draw walks further back
            by_start: dict[time, list[SeededDoctor]] = defaultdict(list)
            for doctor in doctors:
                for start in _day_starts(doctor.pattern, day.weekday()):
                    by_start[start].append(doctor)
            for start, working in sorted(by_start.items()):
                starts_at = datetime.combine(day, start, zone)
                if starts_at + timedelta(minutes=SLOT_MINUTES) > now:
                    continue
                taken = [d for d in working if rng.random() < occupancy][:count - made]
                for doctor, patient_id in zip(taken, picker.distinct(len(taken))):
                    yield _appointment_row(next(ids), patient_id, doctor.id,
                                           starts_at.astimezone(timezone.utc),
                                           _past_status(rng), rng, now)
                made += len(taken)
                if made >= count:
                    return
            day -= timedelta(days=1)

    return rows(), first_day


def _future_rows(cursor, count: int, doctors: list[SeededDoctor], picker: PatientPicker,
                 rng: random.Random, now: datetime) -> list[tuple]:
    """Rows for up to `count` future appointments on open slots, busier in the coming days."""
    if count <= 0:
        return []
    cursor.execute("SELECT doctor_id, starts_at FROM slot WHERE status = 'open' AND starts_at > now() "
                   "AND doctor_id = ANY(%s)", ([d.id for d in doctors],))
    open_slots = cursor.fetchall()
    if not open_slots:
        return []
    horizon = max((max(s for _, s in open_slots) - now).total_seconds(), 1)

    def priority(starts_at: datetime) -> float:
        # Weighted sampling without replacement (Efraimidis-Spirakis): nearer days fill up first.
        weight = 0.3 + 0.7 * (1 - (starts_at - now).total_seconds() / horizon)
        return rng.random() ** (1 / weight)

    chosen = sorted(open_slots, key=lambda slot: priority(slot[1]), reverse=True)[:count]
    by_start: dict[datetime, list[int]] = defaultdict(list)
    for doctor_id, starts_at in chosen:
        by_start[starts_at].append(doctor_id)
    return [_appointment_row(None, patient_id, doctor_id, starts_at, _future_status(rng), rng, now)
            for starts_at, doctor_ids in sorted(by_start.items())
            for doctor_id, patient_id in zip(doctor_ids, picker.distinct(len(doctor_ids)))]


# ---- index and foreign-key rebuild around a large COPY ------------------------

def _drop_secondary(cursor, table: str) -> tuple[list[str], list[tuple[str, str]]]:
    """Drop a table's non-constraint indexes and its foreign keys; return how to restore them."""
    cursor.execute("SELECT pg_get_indexdef(i.indexrelid), c.relname FROM pg_index i "
                   "JOIN pg_class c ON c.oid = i.indexrelid "
                   "WHERE i.indrelid = %s::regclass AND NOT EXISTS "
                   "(SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid)", (table,))
    indexes = cursor.fetchall()
    cursor.execute("SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
                   "WHERE conrelid = %s::regclass AND contype = 'f'", (table,))
    foreign_keys = cursor.fetchall()
    for _, name in indexes:
        cursor.execute(f'DROP INDEX "{name}"')
    for name, _ in foreign_keys:
        cursor.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
    return [definition for definition, _ in indexes], foreign_keys


def _restore_secondary(cursor, table: str, indexes: list[str], foreign_keys: list[tuple[str, str]]):
    cursor.execute("SET LOCAL maintenance_work_mem = '256MB'")
    for definition in indexes:
        cursor.execute(definition)
    for name, definition in foreign_keys:
        cursor.execute(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')


# ---- the command ------------------------------------------------------------------

def database_has_clinic_data(cursor) -> bool:
    cursor.execute("SELECT EXISTS (SELECT 1 FROM patient) OR EXISTS (SELECT 1 FROM appointment) "
                   "OR EXISTS (SELECT 1 FROM doctor)")
    return bool(cursor.fetchone()[0])


def seed_clinic(patients: int, appointments: int, doctors: int = 40, add: bool = False,
                seed: int | None = None, say: Callable[[str], None] = log.info,
                signed: int | None = None, payments: int | None = None) -> SeedReport:
    """Load a clinic's worth of data; refuses a database with clinic data unless add=True.

    signed / payments: signed notes on past completed visits, and about that many payments on the
    bills of every unbilled past completed visit (default in proportion to `appointments`; 0: none).
    """
    from .seeding_visits import PAYMENTS_PER_APPOINTMENT, SIGNED_SHARE, seed_visit_records

    if patients < 1 and appointments > 0:
        raise SeedError("Appointments need patients: give --patients.")
    if doctors < 1 and (appointments > 0 or not add):
        raise SeedError("Give at least one doctor.")
    signed = int(appointments * SIGNED_SHARE) if signed is None else signed
    payments = int(appointments * PAYMENTS_PER_APPOINTMENT) if payments is None else payments
    rng = random.Random(seed)
    run = f"{rng.randrange(36 ** 4):04x}"
    zone = ZoneInfo(clinic_time.zone_name())
    report, started = SeedReport(), clock.perf_counter()

    def step(name: str, since: float) -> float:
        now_ = clock.perf_counter()
        report.timings[name] = now_ - since
        say(f"{name}: {now_ - since:.1f}s")
        return now_

    with transaction() as session:  # doctors and their time off first: slots are made from them
        raw = session.connection().connection.driver_connection
        assert raw is not None
        cursor = raw.cursor()
        cursor.execute("SET LOCAL statement_timeout = 0")
        if not add and database_has_clinic_data(cursor):
            raise SeedError("This database already holds doctors, patients or appointments; "
                            "use --add to add to it.")
        now = datetime.now(timezone.utc)
        today = now.astimezone(zone).date()
        mark = started
        seeded_doctors = _insert_doctors(cursor, doctors, rng, run)
        report.doctors = len(seeded_doctors)
        for doctor in seeded_doctors[::15]:
            leave = today + timedelta(days=rng.randint(7, 28))
            cursor.execute("INSERT INTO time_off (doctor_id, starts_on, ends_on, reason) "
                           "VALUES (%s, %s, %s, 'Annual leave')", (doctor.id, leave, leave + timedelta(days=4)))
    # Slots come from the schedule's own generator (its own transaction: doctors and their slots
    # are a coherent state on their own), so they match availability and time off exactly.
    report.slots = generate_slots().created if seeded_doctors else 0
    mark = step(f"doctors, availability and slots ({report.slots})", mark)

    with transaction() as session:
        raw = session.connection().connection.driver_connection
        assert raw is not None
        cursor = raw.cursor()
        cursor.execute("SET LOCAL statement_timeout = 0")
        future_wanted = int(appointments * FUTURE_SHARE) if appointments >= 1000 else appointments // 10
        patient_ids = _reserve_ids(cursor, "patient", patients)
        picker = PatientPicker(patient_ids, rng)
        future = _future_rows(cursor, future_wanted, seeded_doctors, picker, rng, now)
        past_wanted = appointments - len(future)
        id_source = iter(_reserve_ids(cursor, "appointment", past_wanted))
        past_rows, first_day = past_appointment_rows(past_wanted, seeded_doctors, picker, rng, zone, now,
                                                     id_source)
        first_day = min(first_day, today - timedelta(days=365))
        rebuild_patients = patients >= REBUILD_FROM_ROWS
        saved_patient = _drop_secondary(cursor, "patient") if rebuild_patients else ([], [])
        report.patients = _copy(cursor, "patient", PATIENT_COLUMNS,
                                patient_rows(patients, rng, today, now, first_day, patient_ids,
                                             [d.user_id for d in seeded_doctors]))
        if rebuild_patients:
            _restore_secondary(cursor, "patient", *saved_patient)
        mark = step(f"patients ({report.patients})", mark)

        rebuild = appointments >= REBUILD_FROM_ROWS
        saved = _drop_secondary(cursor, "appointment") if rebuild else ([], [])
        report.appointments = _copy(cursor, "appointment", APPOINTMENT_COLUMNS, past_rows)
        mark = step(f"past appointments ({report.appointments})", mark)

        future_ids = _reserve_ids(cursor, "appointment", len(future))
        future = [(new_id, *row[1:]) for new_id, row in zip(future_ids, future)]
        report.appointments += _copy(cursor, "appointment", APPOINTMENT_COLUMNS, future)
        cursor.execute("UPDATE slot SET status = 'booked', appointment_id = a.id FROM appointment a "
                       "WHERE a.id = ANY(%s) AND a.status <> 'cancelled' "
                       "AND slot.doctor_id = a.doctor_id AND slot.starts_at = a.starts_at",
                       (future_ids,))
        mark = step(f"future appointments ({len(future)}) on their slots", mark)

        if rebuild:
            _restore_secondary(cursor, "appointment", *saved)
            mark = step("appointment indexes and foreign keys rebuilt", mark)
    mark = step("commit", mark)
    vacuumed = "patient, appointment, slot"
    if signed > 0 or payments > 0:
        with transaction() as session:
            raw = session.connection().connection.driver_connection
            assert raw is not None
            cursor = raw.cursor()
            cursor.execute("SET LOCAL statement_timeout = 0")
            report.visits = seed_visit_records(cursor, signed, payments, rng, run, zone, now, say)
        mark = step("signed consultations, bills and payments", mark)
        vacuumed += (", consultation, diagnosis, prescription, consultation_service, vital_sign, addendum, "
                     "bill, bill_line, bill_discount, payment, payment_reversal, cash_shift")
    # VACUUM, not just ANALYZE: a GIN index's own statistics (which the planner reads to cost
    # a name-prefix search) are refreshed only by VACUUM; it also sets the visibility map.
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("SET statement_timeout = 0"))
        try:
            conn.execute(text(f"VACUUM (ANALYZE) {vacuumed}"))
        finally:
            conn.execute(text("RESET statement_timeout"))  # back to the pool's configured limit
    step("vacuum and analyze", mark)
    report.timings["total"] = clock.perf_counter() - started
    return report

