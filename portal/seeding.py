"""Clinic-scale data: Kenyan patients, doctors with availability and slots, years of appointments,
signed consultations and a bill with payments for each past visit.

Rows go in with COPY through the app's own engine connection. Large appointment loads drop the
appointment table's secondary indexes and foreign keys first and rebuild them after the load
(one sort per index, one anti-join per foreign key), which is what makes a million rows fit in
the time budget; rebuilding the partial unique index also proves there is no double booking.
"""
from __future__ import annotations

import logging
import random
import re
import time as clock
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from typing import Any, Callable, Iterable, Iterator, NamedTuple, cast
from zoneinfo import ZoneInfo

from faker.providers.person.en_KE import Provider as KenyanNames
from sqlalchemy import text

from . import clinic_time
from .auth.passwords import hash_password
from .db import transaction
from .extensions import db
from .models.records import CODE_SYSTEM_ICD10, ICD10_VERSION
from .records.services import allergy_matches, content_hash
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
    visits: VisitReport | None = None  # when signed notes or bills were asked for
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

def require_schema(cursor) -> None:
    """Refuse, with the command that fixes it, a database that has not been migrated."""
    cursor.execute("SELECT to_regclass('patient') IS NOT NULL")
    if not cursor.fetchone()[0]:
        raise SeedError("This database has no Kliniki tables yet: run `flask --app wsgi db upgrade` first.")


def unused_run_tag(cursor, rng: random.Random) -> str:
    """The tag in this load's usernames: repeatable for a seed, never one an earlier load used."""
    while True:
        run = f"{rng.randrange(36 ** 4):04x}"
        cursor.execute("SELECT NOT EXISTS (SELECT 1 FROM staff_user WHERE username LIKE %s)", (f"%.{run}.%",))
        if cursor.fetchone()[0]:
            return run


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
    if patients < 1 and appointments > 0:
        raise SeedError("Appointments need patients: give --patients.")
    if doctors < 1 and (appointments > 0 or not add):
        raise SeedError("Give at least one doctor.")
    signed = int(appointments * SIGNED_SHARE) if signed is None else signed
    payments = int(appointments * PAYMENTS_PER_APPOINTMENT) if payments is None else payments
    rng = random.Random(seed)
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
        require_schema(cursor)
        if not add and database_has_clinic_data(cursor):
            raise SeedError("This database already holds doctors, patients or appointments; "
                            "use --add to add to it.")
        run = unused_run_tag(cursor, rng)
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
        if signed > 0:
            ensure_icd10()
        password_hash = hash_password(DEMO_PASSWORD)  # for the nurses and cashiers, outside the transaction
        with transaction() as session:
            raw = session.connection().connection.driver_connection
            assert raw is not None
            cursor = raw.cursor()
            cursor.execute("SET LOCAL statement_timeout = 0")
            report.visits = seed_visit_records(cursor, signed, payments, rng, run, zone, now, say, password_hash)
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



# ---- visit records: signed notes, bills and payments ------------------------------
#
# Clinic-scale visit records: signed consultations with their parts, and each visit's bill and payments.
#
# Runs after the appointments are in (this seed's or an earlier one's, with --add). It reads the past
# completed visits that have no note or no bill and COPYs rows that look like what signing and the desk
# produce: the note's SHA-256 is records' own `content_hash` over the same values, bill lines copy the
# price list, receipts continue each year's receipt sequence. The insert triggers of these tables
# (signed parts frozen, bills settled row by row, shifts open) are disabled for the load, because rows
# go in already signed and settled; `_check_money` then checks the triggers' rules over the whole load
# in one statement each, and the load is refused (rolled back) if one fails.

VISIT_CHUNK = 20_000
SIGNED_SHARE = 0.3  # of the appointments loaded: 300,000 signed notes at 1,000,000
PAYMENTS_PER_APPOINTMENT = 1.5
ID_BLOCK = 20_000

# (code, name, category, price in cents); added when missing, never changed.
PRICE_LIST = (
    ("CONS-GEN", "General consultation", "consultation", 3000_00),
    ("CONS-SPEC", "Specialist consultation", "consultation", 5000_00),
    ("REVIEW", "Review visit", "consultation", 1500_00),
    ("DRESS", "Wound dressing", "procedure", 1200_00),
    ("SUTURE-RM", "Suture removal", "procedure", 1000_00),
    ("BOTOX-AREA", "Botulinum toxin, per area", "procedure", 25000_00),
    ("FILLER-ML", "Dermal filler, per ml", "procedure", 35000_00),
    ("LASER", "Laser session", "procedure", 15000_00),
    ("SCAR-INJ", "Intralesional steroid injection", "procedure", 4500_00),
    ("PREOP-LAB", "Pre-operative blood tests", "laboratory", 3500_00),
    ("US-SOFT", "Soft tissue ultrasound", "imaging", 4500_00),
    ("DRESS-KIT", "Dressing pack", "product", 850_00),
    ("SUNSCREEN", "Sunscreen SPF 50", "product", 2800_00),
)
REVIEW_REASONS = ("Review", "Post-operative review", "Follow-up", "Filler review")
# The procedure a visit's reason usually comes with: (service code, most units).
REASON_PROCEDURES = {"Wound dressing": ("DRESS", 1), "Suture removal": ("SUTURE-RM", 1),
                     "Botox consultation": ("BOTOX-AREA", 3), "Laser session": ("LASER", 1),
                     "Filler review": ("FILLER-ML", 2), "Scar revision consultation": ("SCAR-INJ", 1),
                     "Pre-operative assessment": ("PREOP-LAB", 1), "Skin assessment": ("US-SOFT", 1)}
COMMON_CODES = ("L91.0", "L90.5", "T81.4", "L70.0", "L81.4", "Z48.0", "Z41.1", "E66.9", "I10", "E11.9",
                "L30.9", "L73.2", "N62", "L02.4", "Z42.1", "L72.0", "M54.5", "J06.9", "L80", "T14.1",
                "Z09.0", "L98.4", "D23.5", "L57.0", "Z01.8")
DRUGS = (  # drug, strength, dose, route, frequency, duration, quantity, instructions
    ("Paracetamol", "500 mg", "1 g", "oral", "three times a day", "5 days", 30, "After meals"),
    ("Amoxicillin", "500 mg", "500 mg", "oral", "three times a day", "7 days", 21, "Complete the course"),
    ("Ibuprofen", "400 mg", "400 mg", "oral", "three times a day", "5 days", 15, "With food"),
    ("Cetirizine", "10 mg", "10 mg", "oral", "once at night", "10 days", 10, None),
    ("Fusidic acid cream", "2%", "thin layer", "topical", "twice a day", "7 days", 1, "To the wound edges"),
    ("Hydrocortisone cream", "1%", "thin layer", "topical", "twice a day", "7 days", 1, None),
    ("Flucloxacillin", "500 mg", "500 mg", "oral", "four times a day", "7 days", 28, "An hour before meals"),
    ("Tretinoin cream", "0.025%", "pea-sized amount", "topical", "at night", "8 weeks", 1, "Avoid the sun"),
    ("Silicone scar gel", None, "thin layer", "topical", "twice a day", "3 months", 1, None),
    ("Tramadol", "50 mg", "50 mg", "oral", "up to three times a day if needed", "3 days", 9, "No alcohol"),
    ("Metronidazole", "400 mg", "400 mg", "oral", "three times a day", "7 days", 21, "No alcohol"),
)
SAFE_DRUG = DRUGS[0]
COMPLAINTS = ("Healing well, mild discomfort at the site.", "Itching around the scar for two weeks.",
              "Concerned about swelling since the procedure.", "No new complaints; wants to discuss options.",
              "Pain 3/10, sleeping and eating well.", "Raised scar on the chest, growing slowly for a year.",
              "Dark patches on both cheeks, worse in the sun.", "Spots on the face for six months.")
FINDINGS = ("Wound clean and dry, edges well apposed.", "Mild erythema at the incision, no discharge.",
            "Firm keloid 2 x 1 cm, non-tender.", "Sutures intact, no signs of infection.",
            "Scattered comedones and papules on both cheeks.", "Symmetrical hyperpigmented macules on the malar area.")
PROGRESS = ("progressing as expected", "stable", "improving", "slower than expected")
PLANS = ("Review in two weeks.", "Dressing change every two days; review in one week.",
         "Start treatment as prescribed; review in four weeks.", "Continue current care; return if worse.",
         "Procedure booked after counselling; consent discussed.", "Sun protection daily; review in six weeks.")
ADDENDA = (("Late entry", "Patient called: the swelling has settled."),
           ("Correction", "The lesion measured 2 x 1.5 cm, not 2 x 1 cm."),
           ("Results", "Blood results normal; fit for the procedure."))
DISCOUNT_REASONS = ("Staff family discount", "Long-standing patient waiver", "Package price agreed")
REFUND_REASONS = ("Service not given: procedure postponed", "Charged twice for the dressing pack")
VOID_REASON = "Wrong amount keyed"
REJECTIONS = ("Not covered by the member's scheme", "Pre-authorisation missing")
BILL_VOID_REASON = "Opened on the wrong visit"
MPESA_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
OPENING_FLOAT = 5000_00
SHIFT_OPENS, SHIFT_CLOSES, LAST_PAYMENT = time(7, 30), time(20), time(19, 45)
INSERT_TRIGGER_TABLES = ("diagnosis", "prescription", "consultation_service", "vital_sign", "bill_line",
                         "bill_discount", "payment", "payment_reversal")
LOADED_TABLES = ("consultation", "diagnosis", "prescription", "consultation_service", "vital_sign", "addendum",
                 "cash_shift", "bill", "bill_line", "bill_discount", "payment", "payment_reversal",
                 "insurance_claim_outcome", "cash_shift_count")


class NoteRow(NamedTuple):
    id: int
    appointment_id: int
    patient_id: int
    doctor_id: int
    status: str
    subjective: str | None
    objective: str | None
    assessment: str | None
    plan: str | None
    version: int
    created_by_id: int
    created_at: datetime
    updated_at: datetime
    signed_by_id: int
    signed_at: datetime
    content_sha256: str | None


class DiagnosisRow(NamedTuple):
    id: int
    consultation_id: int
    code_system: str | None
    code_version: str | None
    code: str | None
    text: str
    is_primary: bool
    created_at: datetime


class PrescriptionRow(NamedTuple):
    id: int
    consultation_id: int
    drug: str
    strength: str | None
    dose: str | None
    route: str | None
    frequency: str | None
    duration: str | None
    quantity: int | None
    instructions: str | None
    allergy_warning: str | None
    created_at: datetime


class ServiceLineRow(NamedTuple):
    id: int
    consultation_id: int
    service_id: int
    quantity: int
    created_at: datetime


VITAL_COLUMNS = ("id", "appointment_id", "patient_id", "recorded_by_id", "recorded_at", "temperature_c",
                 "pulse_bpm", "systolic_mmhg", "diastolic_mmhg", "resp_rate", "spo2_pct", "weight_kg",
                 "height_cm", "pain_score")
ADDENDUM_COLUMNS = ("id", "consultation_id", "author_id", "at", "reason", "text")
SHIFT_COLUMNS = ("id", "cashier_id", "opened_at", "opening_float_cents", "closed_at", "closed_by", "close_note")
COUNT_COLUMNS = ("shift_id", "method", "expected_cents", "counted_cents")
BILL_COLUMNS = ("id", "patient_id", "appointment_id", "status", "balance_cents", "opened_at", "opened_by",
                "voided_at", "voided_by", "void_reason")
LINE_COLUMNS = ("id", "bill_id", "service_id", "code", "name", "unit_cents", "quantity", "line_cents", "source",
                "source_id", "created_by", "created_at")
DISCOUNT_COLUMNS = ("id", "bill_id", "bill_line_id", "amount_cents", "reason", "given_by", "created_at")
PAYMENT_COLUMNS = ("id", "bill_id", "method", "amount_cents", "tendered_cents", "change_cents", "reference",
                   "mpesa_code", "insurer", "member_number", "preauth_number", "receipt_number", "cashier_id",
                   "shift_id", "created_at")
REVERSAL_COLUMNS = ("id", "payment_id", "bill_id", "kind", "method", "amount_cents", "reason", "actor_id",
                    "shift_id", "created_at")
OUTCOME_COLUMNS = ("id", "payment_id", "outcome", "note", "actor_id", "created_at")
METHODS = ("cash", "card", "mpesa", "insurance", "bank")


@dataclass
class VisitReport:
    """What the visit records load added."""

    consultations: int = 0
    diagnoses: int = 0
    prescriptions: int = 0
    vitals: int = 0
    addenda: int = 0
    bills: int = 0
    bill_lines: int = 0
    payments: int = 0
    reversals: int = 0
    shifts: int = 0


class Visit(NamedTuple):
    """A past completed appointment, with what it already has."""

    id: int
    patient_id: int
    doctor_id: int
    doctor_user_id: int
    starts_at: datetime
    ends_at: datetime
    reason: str | None
    insurer: str | None
    member_number: str | None
    allergies: str | None
    consultation_id: int | None
    consultation_status: str | None
    signed_at: datetime | None
    signed_by_id: int | None
    billed: bool
    services: list | None


VISITS = """
SELECT a.id, a.patient_id, a.doctor_id, d.user_id, a.starts_at, a.ends_at, a.reason,
       p.insurance_provider, p.insurance_member_number, p.allergies,
       c.id, c.status, c.signed_at, c.signed_by_id, b.id IS NOT NULL,
       (SELECT array_agg(ARRAY[cs.service_id, cs.quantity::bigint] ORDER BY cs.id)
        FROM consultation_service cs WHERE cs.consultation_id = c.id AND c.status = 'signed')
FROM appointment a
JOIN doctor d ON d.id = a.doctor_id
JOIN patient p ON p.id = a.patient_id
LEFT JOIN consultation c ON c.appointment_id = a.id
LEFT JOIN bill b ON b.appointment_id = a.id
WHERE a.status = 'completed' AND a.ends_at <= %s AND (c.id IS NULL OR b.id IS NULL)
ORDER BY a.starts_at, a.id
"""


class Ids:
    """Ids taken from a table's sequence a block at a time (rows are made before their COPY starts)."""

    def __init__(self, cursor, table: str):
        self.cursor, self.table = cursor, table
        self.free: list[int] = []

    def take(self) -> int:
        if not self.free:
            self.free = _reserve_ids(self.cursor, self.table, ID_BLOCK)[::-1]
        return self.free.pop()


# ---- reference data ---------------------------------------------------------------

def ensure_price_list(cursor) -> dict[str, tuple]:
    """The seeded price list by code (added where missing): code -> (id, code, name, price_cents)."""
    for code, name, category, price in PRICE_LIST:
        cursor.execute("INSERT INTO service (code, name, category, price_cents) VALUES (%s, %s, %s, %s) "
                       "ON CONFLICT ((lower(code))) DO NOTHING", (code, name, category, price))
    cursor.execute("SELECT id, code, name, price_cents FROM service WHERE is_active AND code = ANY(%s)",
                   ([code for code, *_ in PRICE_LIST],))
    return {row[1]: row for row in cursor.fetchall()}


def ensure_icd10() -> None:
    """Load the ICD-10 list if it is empty (before the load's transaction: parsing it takes a while)."""
    with transaction() as session:
        loaded = session.scalar(text("SELECT EXISTS (SELECT 1 FROM icd10_code)"))
    if not loaded:
        from .records.services import load_icd10
        load_icd10()


def diagnosis_choices(cursor, rng: random.Random) -> list[tuple[str, str]]:
    """ICD-10 codes a plastic-surgery and skin clinic uses, from the loaded list."""
    cursor.execute("SELECT code, title FROM icd10_code WHERE code = ANY(%s) ORDER BY code", (list(COMMON_CODES),))
    choices = cursor.fetchall()
    if len(choices) < 5:
        cursor.execute("SELECT code, title FROM icd10_code ORDER BY code LIMIT 200")
        choices += cursor.fetchall()
    if not choices:
        raise SeedError("The ICD-10 list is empty: run flask records load-icd10.")
    return [(code, title[:300]) for code, title in choices]


def _insert_staff(cursor, role: str, prefix: str, count: int, rng: random.Random, run: str,
                  password_hash: str) -> list[int]:
    names, ids = Names(rng), []
    for index in range(count):
        sex = rng.choice(("female", "male"))
        cursor.execute("INSERT INTO staff_user (username, full_name, role, password_hash) VALUES (%s, %s, %s, %s) "
                       "RETURNING id", (f"{prefix}.{run}.{index + 1:02d}",
                                        f"{names.first(sex, 1)[0]} {names.lasts(1)[0]}", role, password_hash))
        ids.append(cursor.fetchone()[0])
    return ids


# ---- the notes ------------------------------------------------------------------

def _vital_row(reading_id: int, visit: Visit, nurse: int, at: datetime, rng: random.Random) -> tuple:
    systolic = rng.randint(100, 155)
    return (reading_id, visit.id, visit.patient_id, nurse, at, f"{rng.uniform(36.1, 37.6):.1f}",
            rng.randint(58, 102), systolic, rng.randint(60, min(95, systolic - 20)), rng.randint(12, 20),
            rng.randint(95, 100), f"{rng.uniform(48, 112):.1f}", f"{rng.uniform(150, 190):.1f}",
            rng.randint(0, 5))


def _visit_services(visit: Visit, prices: dict[str, tuple], rng: random.Random) -> list[tuple[int, int]]:
    """(service_id, quantity) for a visit: its consultation fee and, often, the procedure of its reason."""
    fee = prices.get("REVIEW" if visit.reason in REVIEW_REASONS else rng.choice(("CONS-GEN", "CONS-SPEC")))
    chosen = [(fee[0], 1)] if fee else []
    procedure = REASON_PROCEDURES.get(visit.reason or "")
    if procedure and procedure[0] in prices and rng.random() < 0.6:
        chosen.append((prices[procedure[0]][0], rng.randint(1, procedure[1])))
    if not chosen:
        chosen.append((next(iter(prices.values()))[0], 1))
    return chosen


_ALLERGY_SPLIT = re.compile(r"[,;\n]")


def note_rows(visit: Visit, ids: dict[str, Ids], prices: dict[str, tuple], codes: list[tuple[str, str]],
              nurses: list[int], now: datetime, rng: random.Random) -> dict[str, list]:
    """A signed note of a visit, as signing leaves it: parts, services, a vitals reading, the hash."""
    starts = visit.starts_at.astimezone(timezone.utc)
    ends = visit.ends_at.astimezone(timezone.utc)
    consultation_id = ids["consultation"].take()
    created = starts + timedelta(minutes=rng.randint(0, 10), seconds=rng.randint(0, 59))
    signed_at = min(ends + timedelta(minutes=rng.randint(0, 90), seconds=rng.random() * 60), now)
    chosen = rng.sample(codes, min(len(codes), rng.choice((1, 1, 2, 2, 3))))
    diagnoses = [DiagnosisRow(ids["diagnosis"].take(), consultation_id, CODE_SYSTEM_ICD10, ICD10_VERSION, code,
                              title, index == 0, created + timedelta(minutes=5 + index))
                 for index, (code, title) in enumerate(chosen)]
    substances = [s.strip() for s in _ALLERGY_SPLIT.split(visit.allergies or "") if s.strip()]
    drugs = rng.sample(DRUGS, 2 if rng.random() < 0.3 else 1)
    prescriptions = []
    for drug in drugs:
        if substances and allergy_matches(drug[0], substances):
            drug = SAFE_DRUG
        prescriptions.append(PrescriptionRow(ids["prescription"].take(), consultation_id, *drug, None,
                                             created + timedelta(minutes=8)))
    services = [ServiceLineRow(ids["consultation_service"].take(), consultation_id, service_id, quantity,
                               created + timedelta(minutes=9))
                for service_id, quantity in _visit_services(visit, prices, rng)]
    note = NoteRow(consultation_id, visit.id, visit.patient_id, visit.doctor_id, "signed",
                   f"{visit.reason or 'Consultation'}. {rng.choice(COMPLAINTS)}",
                   f"Alert, afebrile. {rng.choice(FINDINGS)}",
                   f"{chosen[0][1]}: {rng.choice(PROGRESS)}." if chosen else None,
                   rng.choice(PLANS), rng.randint(2, 14), visit.doctor_user_id, created, signed_at,
                   visit.doctor_user_id, signed_at, None)
    note = note._replace(content_sha256=content_hash(cast(Any, note), diagnoses, prescriptions, services))
    rows: dict[str, list] = {"consultation": [note], "diagnosis": diagnoses, "prescription": prescriptions,
                             "consultation_service": services,
                             "vital_sign": [_vital_row(ids["vital_sign"].take(), visit, rng.choice(nurses),
                                                       starts + timedelta(minutes=rng.randint(-20, 0)), rng)],
                             "addendum": []}
    if rng.random() < 0.04:
        at = signed_at + timedelta(days=rng.randint(0, 20), minutes=rng.randint(5, 600))
        if at <= now:
            reason, text = rng.choice(ADDENDA)
            rows["addendum"].append((ids["addendum"].take(), consultation_id, visit.doctor_user_id, at, reason, text))
    return rows


# ---- bills and money ------------------------------------------------------------

@dataclass
class Desk:
    """The cashiers, their shifts and what each shift should hold, built up as payments are made."""

    cashiers: list[int]
    admin: int
    zone: ZoneInfo
    now: datetime
    shift_ids: Ids
    rng: random.Random
    shifts: dict[tuple[int, date], int] = field(default_factory=dict)
    new_shifts: list[tuple] = field(default_factory=list)
    expected: dict[int, dict[str, int]] = field(default_factory=lambda: defaultdict(lambda: defaultdict(int)))
    closed: dict[int, int] = field(default_factory=dict)  # shift -> counted difference in cash
    receipt_next: dict[int, int] = field(default_factory=dict)
    receipt_used: dict[int, int] = field(default_factory=dict)
    mpesa_codes: set[str] = field(default_factory=set)

    def shift(self, cashier: int, at: datetime) -> int:
        day = at.astimezone(self.zone).date()
        key = (cashier, day)
        if key not in self.shifts:
            shift_id = self.shift_ids.take()
            opened = datetime.combine(day, SHIFT_OPENS, self.zone)
            closes = datetime.combine(day, SHIFT_CLOSES, self.zone)
            closed = closes if closes <= self.now else None
            note = None
            if closed is not None:
                difference = self.rng.choice((-500_00, -200_00, 100_00)) if self.rng.random() < 0.03 else 0
                self.closed[shift_id] = difference
                note = f"Cash {'over' if difference > 0 else 'short'} by KES {abs(difference) // 100}" \
                    if difference else None
            self.new_shifts.append((shift_id, cashier, opened, OPENING_FLOAT, closed,
                                    cashier if closed else None, note))
            self.shifts[key] = shift_id
        return self.shifts[key]

    def receipt(self, at: datetime) -> str:
        year = at.astimezone(self.zone).year
        number = self.receipt_next[year]
        self.receipt_next[year] = number + 1
        self.receipt_used[year] = number
        return f"R-{year}-{number:06d}"

    def mpesa_code(self, at: datetime) -> str:
        while True:  # the first letter runs with the year, as Safaricom's do
            code = chr(ord("A") + (at.year - 2006) % 26) + "".join(self.rng.choices(MPESA_ALPHABET, k=9))
            if code not in self.mpesa_codes:
                self.mpesa_codes.add(code)
                return code

    def count_rows(self) -> list[tuple]:
        """The counts of every closed shift: what SQL would expect, and what was counted."""
        rows = []
        for shift_id, difference in self.closed.items():
            for method in METHODS:
                expected = self.expected[shift_id][method] + (OPENING_FLOAT if method == "cash" else 0)
                counted = max(expected + (difference if method == "cash" else 0), 0)
                rows.append((shift_id, method, expected, counted))
        return rows


def _split(total: int, parts: int, rng: random.Random) -> list[int]:
    """total cents in `parts` positive amounts of whole shillings (the last takes the rest)."""
    parts = max(1, min(parts, total // 100_00 or 1))
    amounts, left = [], total
    for _ in range(parts - 1):
        share = max(100, int(left * rng.uniform(0.3, 0.7)) // 100 * 100)
        if left - share < 100:
            break
        amounts.append(share)
        left -= share
    amounts.append(left)
    return amounts


def _method(visit: Visit, rng: random.Random, first: bool) -> str:
    if first and visit.insurer and visit.member_number and rng.random() < 0.55:
        return "insurance"
    roll = rng.random()
    return "mpesa" if roll < 0.5 else "cash" if roll < 0.8 else "card"


def _payment_row(payment_id: int, bill_id: int, method: str, amount: int, cashier: int, at: datetime,
                 visit: Visit, desk: Desk) -> tuple:
    rng = desk.rng
    tendered = change = None
    reference = mpesa = insurer = member = preauth = None
    if method == "cash":
        tendered = amount if rng.random() < 0.5 else -(-amount // 500_00) * 500_00
        change = tendered - amount
    elif method == "card":
        reference = f"AUTH {rng.randrange(1_000_000):06d}"
    elif method == "mpesa":
        mpesa = desk.mpesa_code(at)
    else:
        insurer, member = visit.insurer, visit.member_number
        preauth = f"PA-{rng.randrange(10_000_000):07d}" if rng.random() < 0.5 else None
    shift_id = desk.shift(cashier, at)
    desk.expected[shift_id][method] += amount
    return (payment_id, bill_id, method, amount, tendered, change or 0, reference, mpesa, insurer, member, preauth,
            desk.receipt(at), cashier, shift_id, at)


def _last_payment_time(at: datetime, desk: Desk) -> datetime:
    local = at.astimezone(desk.zone)
    return min(datetime.combine(local.date(), LAST_PAYMENT, desk.zone), desk.now)


def bill_rows(visit: Visit, note: dict[str, list] | None, ids: dict[str, Ids], prices: dict[str, tuple],
              by_id: dict[int, tuple], payments_each: float, desk: Desk) -> dict[str, list]:
    """The visit's bill as the desk and signing leave it: lines, payments, a few refunds and voids."""
    rng, now = desk.rng, desk.now
    rows: dict[str, list] = {name: [] for name in ("bill", "bill_line", "bill_discount", "payment",
                                                   "payment_reversal", "insurance_claim_outcome")}
    bill_id = ids["bill"].take()
    cashier = rng.choice(desk.cashiers)
    if note is not None or visit.consultation_status == "signed":
        signed = note["consultation"][0] if note else None
        consultation_id = signed.id if signed else visit.consultation_id
        signer = signed.signed_by_id if signed else visit.signed_by_id
        opened = signed.signed_at if signed else (visit.signed_at or visit.ends_at).astimezone(timezone.utc)
        services = [(line.service_id, line.quantity) for line in note["consultation_service"]] if note else \
            [(int(s), int(q)) for s, q in (visit.services or [])]
        lines = [(service_id, quantity, "consultation", consultation_id, signer, opened)
                 for service_id, quantity in services]
        opened_by = signer
    else:
        opened = min(visit.ends_at.astimezone(timezone.utc) + timedelta(minutes=rng.randint(1, 20)), now)
        lines = [(service_id, quantity, "desk", None, cashier, opened)
                 for service_id, quantity in _visit_services(visit, prices, rng)]
        opened_by = cashier
    if "DRESS-KIT" in prices and rng.random() < 0.08:
        lines.append((prices["DRESS-KIT"][0], 1, "desk", None, cashier, opened))
    charged = 0
    for service_id, quantity, source, source_id, by, at in lines:
        _, code, name, price = by_id[service_id]
        rows["bill_line"].append((ids["bill_line"].take(), bill_id, service_id, code, name, price, quantity,
                                  price * quantity, source, source_id, by, at))
        charged += price * quantity
    void = note is None and visit.consultation_status is None and rng.random() < 0.004
    if void:
        rows["bill"].append((bill_id, visit.patient_id, visit.id, "void", 0, opened, opened_by,
                             opened + timedelta(minutes=20), desk.admin, BILL_VOID_REASON))
        return rows
    discount = 0
    if rng.random() < 0.02:
        discount = charged // 10 // 100 * 100
        if discount > 0:
            rows["bill_discount"].append((ids["bill_discount"].take(), bill_id, None, discount,
                                          rng.choice(DISCOUNT_REASONS), desk.admin, opened))
    total = charged - discount
    paid = reversed_ = 0
    recent = (now - opened).days < 30
    unpaid = rng.random() < (0.25 if recent else 0.03)
    count = 0 if unpaid or total <= 0 else int(payments_each) + (rng.random() < payments_each % 1)
    amounts = _split(total, max(count, 1), rng) if count else []
    if amounts and rng.random() < 0.05:  # the patient pays the rest another day
        amounts[-1] = amounts[-1] // 2 // 100 * 100
        amounts = [a for a in amounts if a > 0]
    at = opened + timedelta(minutes=rng.randint(3, 25))
    closing = _last_payment_time(opened, desk)
    for index, amount in enumerate(amounts):
        at = min(at + timedelta(minutes=rng.randint(0, 4), seconds=rng.randint(5, 59)), closing)
        if at <= opened:
            break
        method = _method(visit, rng, index == 0)
        payment = _payment_row(ids["payment"].take(), bill_id, method, amount, cashier, at, visit, desk)
        rows["payment"].append(payment)
        paid += amount
        roll = rng.random()
        if method != "insurance" and roll < 0.005:  # keyed wrong: voided and taken again
            reversal_at = min(at + timedelta(minutes=2), closing)
            rows["payment_reversal"].append((ids["payment_reversal"].take(), payment[0], bill_id, "void", method,
                                             amount, VOID_REASON, desk.admin, payment[13], reversal_at))
            desk.expected[payment[13]][method] -= amount
            at = reversal_at
            rows["payment"].append(_payment_row(ids["payment"].take(), bill_id, method, amount, cashier, at,
                                                visit, desk))
        elif method != "insurance" and roll < 0.015 and amount >= 200_00:  # refunded in part, with a discount
            refund = amount // 3 // 100 * 100
            refund_at = min(at + timedelta(minutes=rng.randint(5, 90)), closing)
            rows["payment_reversal"].append((ids["payment_reversal"].take(), payment[0], bill_id, "refund", method,
                                             refund, rng.choice(REFUND_REASONS), cashier, payment[13], refund_at))
            rows["bill_discount"].append((ids["bill_discount"].take(), bill_id, None, refund, "Refunded to the patient",
                                          cashier, refund_at))
            desk.expected[payment[13]][method] -= refund
            reversed_ += refund
            total -= refund
        elif method == "insurance" and at + timedelta(days=60) <= now:
            outcome_at = at + timedelta(days=rng.randint(20, 59), hours=rng.randint(0, 8))
            rejected = rng.random() < 0.04
            note_text = rng.choice(REJECTIONS) if rejected else None
            rows["insurance_claim_outcome"].append((ids["insurance_claim_outcome"].take(), payment[0],
                                                    "rejected" if rejected else "settled", note_text, cashier,
                                                    outcome_at))
            if rejected:
                rows["payment_reversal"].append((ids["payment_reversal"].take(), payment[0], bill_id, "void",
                                                 "insurance", amount, f"claim rejected: {note_text}", cashier, None,
                                                 outcome_at))
                reversed_ += amount
    balance = total - (paid - reversed_)
    status = "open" if paid - reversed_ == 0 else "paid" if balance == 0 else "partly_paid"
    rows["bill"].append((bill_id, visit.patient_id, visit.id, status, balance, opened, opened_by, None, None, None))
    return rows


# ---- the load -------------------------------------------------------------------

def _receipt_starts(cursor, years: range) -> dict[int, int]:
    """The next free receipt number of each year, creating the year's sequence as the app would."""
    starts = {}
    for year in years:
        cursor.execute(f"CREATE SEQUENCE IF NOT EXISTS receipt_number_{year}_seq")
        cursor.execute(f"SELECT last_value, is_called FROM receipt_number_{year}_seq")
        last, called = cursor.fetchone()
        starts[year] = last + 1 if called else last
    return starts


CHECKS = {
    "bill figures": """
        SELECT count(*) FROM bill b JOIN bill_balance v ON v.bill_id = b.id
        WHERE b.id >= %(first_bill)s AND (v.total_cents < 0 OR v.paid_cents < 0 OR v.paid_cents > v.total_cents
              OR b.balance_cents <> v.balance_cents
              OR b.status <> CASE WHEN b.status = 'void' THEN 'void' WHEN v.paid_cents = 0 THEN 'open'
                                  WHEN v.balance_cents = 0 THEN 'paid' ELSE 'partly_paid' END
              OR (b.status = 'void' AND v.paid_cents <> 0))""",
    "reversals within their payment": """
        SELECT count(*) FROM (SELECT r.payment_id FROM payment_reversal r JOIN payment p ON p.id = r.payment_id
            WHERE r.id >= %(first_reversal)s
            GROUP BY r.payment_id, p.amount_cents, p.bill_id, p.method
            HAVING sum(r.amount_cents) > p.amount_cents OR bool_or(r.bill_id <> p.bill_id OR r.method <> p.method)
        ) over_reversed""",
    "money inside an open shift": """
        SELECT count(*) FROM (SELECT created_at, shift_id FROM payment WHERE id >= %(first_payment)s
                              UNION ALL SELECT created_at, shift_id FROM payment_reversal
                              WHERE id >= %(first_reversal)s) m
        JOIN cash_shift s ON s.id = m.shift_id
        WHERE m.created_at < s.opened_at OR m.created_at > coalesce(s.closed_at, 'infinity')""",
    "signed notes complete": """
        SELECT count(*) FROM consultation c WHERE c.id >= %(first_consultation)s AND (c.status <> 'signed'
              OR NOT EXISTS (SELECT 1 FROM diagnosis d WHERE d.consultation_id = c.id AND d.is_primary))""",
}


# The summaries' statement triggers stay on through the load (one grouped upsert per COPY), so the
# dashboard's revenue and the cash-up count the loaded money the way they count the desk's.
SUMMARY_TRIGGERS = {"bill_line": ("bill_line_charge_total", "bill_line_service_day_total"),
                    "bill_discount": ("bill_discount_service_day_total",),
                    "payment": ("payment_quarter_total", "payment_doctor_total"),
                    "payment_reversal": ("payment_reversal_quarter_total",)}


def _check_money(cursor, firsts: dict[str, int]) -> None:
    """The disabled triggers' rules, over the whole load; a failure rolls the load back."""
    for name, sql in CHECKS.items():
        cursor.execute(sql, firsts)
        broken = cursor.fetchone()[0]
        if broken:
            raise SeedError(f"Seeded rows break a rule ({name}): {broken} rows. Nothing was loaded.")


def seed_visit_records(cursor, signed: int, payments: int, rng: random.Random, run: str, zone: ZoneInfo,
                       now: datetime, say: Callable[[str], None], password_hash: str) -> VisitReport:
    """Sign `signed` past completed visits and bill every unbilled one with about `payments` payments."""
    report = VisitReport()
    if signed <= 0 and payments <= 0:
        return report
    cursor.execute(VISITS, (now,))
    visits = [Visit(*row) for row in cursor.fetchall()]
    to_sign = [v for v in visits if v.consultation_id is None]
    signing = {v.id for v in rng.sample(to_sign, min(signed, len(to_sign)))} if signed > 0 else set()
    to_bill = [v for v in visits if not v.billed] if payments > 0 else []
    say(f"visits without a note or a bill: {len(visits)}; signing {len(signing)}, billing {len(to_bill)}")
    if not signing and not to_bill:
        return report
    prices = ensure_price_list(cursor)
    if not prices:
        raise SeedError("The price list has no active seeded services to bill.")
    by_id = {row[0]: row for row in prices.values()}
    cursor.execute("SELECT id, code, name, price_cents FROM service")
    by_id.update({row[0]: row for row in cursor.fetchall()})
    codes = diagnosis_choices(cursor, rng) if signing else []
    cursor.execute("SELECT count(*) FROM doctor")
    doctors = cursor.fetchone()[0]
    nurses = _insert_staff(cursor, "nurse", "nurse", max(1, doctors // 8), rng, run, password_hash)
    cashiers = _insert_staff(cursor, "reception", "desk", max(2, doctors // 10), rng, run, password_hash)
    admin = _insert_staff(cursor, "admin", "admin", 1, rng, run, password_hash)[0]
    ids = {table: Ids(cursor, table) for table in LOADED_TABLES if table != "cash_shift_count"}
    firsts = {f"first_{name}": ids[table].take() for name, table in (
        ("bill", "bill"), ("payment", "payment"), ("reversal", "payment_reversal"),
        ("consultation", "consultation"))}
    desk = Desk(cashiers, admin, zone, now, ids["cash_shift"], rng)
    if to_bill:
        first_year = min(v.ends_at for v in to_bill).astimezone(zone).year
        desk.receipt_next = _receipt_starts(cursor, range(first_year, now.astimezone(zone).year + 1))
        cursor.execute("SELECT mpesa_code FROM payment WHERE mpesa_code IS NOT NULL")
        desk.mpesa_codes = {row[0] for row in cursor.fetchall()}
    payments_each = payments / max(len(to_bill) * 0.93, 1)  # about 7% of bills end with nothing paid

    large = len(signing) + len(to_bill) >= REBUILD_FROM_ROWS
    saved = {table: _drop_secondary(cursor, table) for table in LOADED_TABLES} if large else {}
    for table in INSERT_TRIGGER_TABLES:
        cursor.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")
        for trigger in SUMMARY_TRIGGERS.get(table, ()):
            cursor.execute(f"ALTER TABLE {table} ENABLE TRIGGER {trigger}")
    columns = {"consultation": NoteRow._fields, "diagnosis": DiagnosisRow._fields,
               "prescription": PrescriptionRow._fields, "consultation_service": ServiceLineRow._fields,
               "vital_sign": VITAL_COLUMNS, "addendum": ADDENDUM_COLUMNS, "cash_shift": SHIFT_COLUMNS,
               "bill": BILL_COLUMNS, "bill_line": LINE_COLUMNS, "bill_discount": DISCOUNT_COLUMNS,
               "payment": PAYMENT_COLUMNS, "payment_reversal": REVERSAL_COLUMNS,
               "insurance_claim_outcome": OUTCOME_COLUMNS}
    order = ("cash_shift", "consultation", "diagnosis", "prescription", "consultation_service", "vital_sign",
             "addendum", "bill", "bill_line", "bill_discount", "payment", "payment_reversal",
             "insurance_claim_outcome")
    counted: dict[str, int] = defaultdict(int)
    work = [v for v in visits if v.id in signing or not v.billed and payments > 0]
    for start in range(0, len(work), VISIT_CHUNK):
        chunk = work[start:start + VISIT_CHUNK]
        rows: dict[str, list] = defaultdict(list)
        for visit in chunk:
            note = note_rows(visit, ids, prices, codes, nurses, now, rng) if visit.id in signing else None
            if note:
                for table, table_rows in note.items():
                    rows[table] += table_rows
            if payments > 0 and not visit.billed:
                for table, table_rows in bill_rows(visit, note, ids, prices, by_id, payments_each, desk).items():
                    rows[table] += table_rows
        rows["cash_shift"], desk.new_shifts = desk.new_shifts, []
        for table in order:
            if rows.get(table):
                counted[table] += _copy(cursor, table, columns[table], rows[table])
    if desk.closed:
        counted["cash_shift_count"] = _copy(cursor, "cash_shift_count", COUNT_COLUMNS, desk.count_rows())
    for year, last in desk.receipt_used.items():
        cursor.execute(f"SELECT setval('receipt_number_{year}_seq', %s)", (last,))
    say(f"visit records copied: {dict(counted)}")
    for table in INSERT_TRIGGER_TABLES:
        cursor.execute(f"ALTER TABLE {table} ENABLE TRIGGER USER")
    for table, (indexes, foreign_keys) in saved.items():
        _restore_secondary(cursor, table, indexes, foreign_keys)
    if large:
        say("visit record indexes and foreign keys rebuilt")
    _check_money(cursor, firsts)
    report.consultations, report.diagnoses = counted["consultation"], counted["diagnosis"]
    report.prescriptions, report.vitals, report.addenda = (counted["prescription"], counted["vital_sign"],
                                                           counted["addendum"])
    report.bills, report.bill_lines, report.payments = counted["bill"], counted["bill_line"], counted["payment"]
    report.reversals, report.shifts = counted["payment_reversal"], counted["cash_shift"]
    return report
