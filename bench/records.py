"""Clinical records at clinic scale: p50/p95 over HTTP for the consultation page, an autosave, signing,
the patient timeline and the waiting room, next to the audit's pattern in the same run.

    .venv/bin/python bench/records.py [--patients 20000] [--appointments 100000] [--signed 30000] [--ops 200]

Creates a database on the embedded server (or uses BENCH_DATABASE_URL), builds it with the
migrations, seeds patients, appointments, signed consultations (diagnoses, prescriptions, vitals, a
verifiable SHA-256) and bills with `flask seed`, serves the app with gunicorn and times
each page with one client, sequentially. The baseline is the audit's pattern on the same data: an
unbounded `findMany` of a doctor's records with their diagnoses, filtered and sorted in Python for
one patient. The audit trail's share of a record view is measured in-process: the view's access
check and audit event in one transaction, with and without the audit event. The issue's target at
100,000 patients, 1,000,000 appointments and 300,000 signed notes: every p95 under 50 ms and the
audit trail under 10% of a record view.
"""
from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import time

import psycopg
from harness import ROOT, VENV_BIN, Client, Gunicorn, bench_database, load_average, migrate, percentile, print_table

PASSWORD = "bench-password-123"
DOCTOR, NURSE = "bench.doctor", "bench.nurse"
TARGET_MS = 50

NAIVE_SQL = ("SELECT c.*, d.code, d.text AS diagnosis FROM consultation c "
             "LEFT JOIN diagnosis d ON d.consultation_id = c.id WHERE c.doctor_id = %(doctor)s")


def seed(url: str, patients: int, appointments: int, signed: int) -> float:
    """`flask seed` up to the sizes asked for (a pre-seeded BENCH_DATABASE_URL needs nothing), then VACUUM."""
    started = time.perf_counter()
    with psycopg.connect(url) as conn:
        existing = conn.execute("SELECT count(*) FROM patient").fetchone()[0]
        have = conn.execute("SELECT count(*) FROM consultation WHERE status = 'signed'").fetchone()[0]
    if existing < patients or have < signed:
        sizes = (["--patients", str(patients - existing), "--appointments", str(appointments)]
                 if existing < patients else ["--patients", "0", "--appointments", "0", "--doctors", "0"])
        command = [os.path.join(VENV_BIN, "flask"), "--app", "wsgi", "seed", *sizes,
                   "--signed", str(max(signed - have, 0)), "--random-seed", "2026"] + (["--add"] if existing else [])
        subprocess.run(command, cwd=ROOT, check=True, env={**os.environ, "DATABASE_URL": url, "SECRET_KEY": "b"})
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM (ANALYZE)")
    return time.perf_counter() - started


def prepare(url: str, visits: int) -> dict:
    """The bench's doctor and nurse, and today's checked-in visits with that doctor (one per sign)."""
    from portal.auth.passwords import hash_password
    password_hash = hash_password(PASSWORD)
    with psycopg.connect(url) as conn:
        ids = {}
        for username, role in ((DOCTOR, "doctor"), (NURSE, "nurse")):
            conn.execute("INSERT INTO staff_user (username, full_name, role, password_hash) "
                         "VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING",
                         (username, f"Bench {role}", role, password_hash))
            ids[role] = conn.execute("SELECT id FROM staff_user WHERE username = %s", (username,)).fetchone()[0]
        doctor_id = conn.execute(
            "INSERT INTO doctor (user_id, name, licence_number, specialisation) "
            "VALUES (%s, 'Dr. Bench', 'BENCH-1', 'General practice') "
            "ON CONFLICT (licence_number) DO UPDATE SET user_id = EXCLUDED.user_id RETURNING id",
            (ids["doctor"],)).fetchone()[0]
        patients = [row[0] for row in conn.execute(
            "SELECT patient_id FROM consultation WHERE status = 'signed' GROUP BY patient_id "
            "ORDER BY count(*) DESC LIMIT %s", (visits,))]
        appointments = []
        for i, patient_id in enumerate(patients):
            # Today, a minute apart, checked in: the waiting room and the consultation page's visits.
            appointments.append(conn.execute(
                "INSERT INTO appointment (patient_id, doctor_id, starts_at, ends_at, status, arrived_at) "
                "VALUES (%s, %s, date_trunc('minute', now()) - make_interval(mins => %s), "
                "date_trunc('minute', now()) - make_interval(mins => %s) + interval '1 min', 'in_consultation', "
                "now()) RETURNING id", (patient_id, doctor_id, i + 1, i + 1)).fetchone()[0])
        consultations = [conn.execute(
            "INSERT INTO consultation (appointment_id, patient_id, doctor_id, subjective, plan) "
            "VALUES (%s, %s, %s, 'Cough', 'Fluids') RETURNING id", (a, p, doctor_id)).fetchone()[0]
            for a, p in zip(appointments, patients, strict=True)]
        naive_doctor = conn.execute("SELECT doctor_id FROM consultation GROUP BY doctor_id "
                                    "ORDER BY count(*) DESC LIMIT 1").fetchone()[0]
    return {"doctor_id": doctor_id, "patients": patients, "appointments": appointments,
            "consultations": consultations, "naive_doctor": naive_doctor}


def time_http(base_url: str, data: dict) -> dict[str, list[float]]:
    doctor = Client(base_url).login(DOCTOR, PASSWORD)
    nurse = Client(base_url).login(NURSE, PASSWORD)
    htmx = {"HX-Request": "true"}
    timings: dict[str, list[float]] = {name: [] for name in
                                       ("consultation page", "autosave", "sign", "timeline", "waiting room")}

    def timed(name: str, answer, expected: tuple[int, ...] = (200,)) -> None:
        if answer.status not in expected:
            raise RuntimeError(f"{name}: HTTP {answer.status} {answer.body[:200]}")
        timings[name].append(answer.seconds)

    for appointment_id in data["appointments"][:5]:  # warm the workers
        doctor.get(f"/records/appointments/{appointment_id}")
    for i, (appointment_id, consultation_id, patient_id) in enumerate(
            zip(data["appointments"], data["consultations"], data["patients"], strict=True)):
        timed("consultation page", doctor.get(f"/records/appointments/{appointment_id}"))
        for version in (1, 2):
            timed("autosave", doctor.post(f"/records/consultations/{consultation_id}/note",
                                          {"version": str(version), "subjective": f"Cough, day {version}",
                                           "plan": "Fluids and rest"}, htmx))
        timed("timeline", doctor.get(f"/records/patients/{patient_id}/clinical", htmx))
        timed("waiting room", nurse.get("/records/waiting-room", htmx))
        timed("sign", doctor.post(f"/records/consultations/{consultation_id}/sign",
                                  {"key": f"bench-sign-{consultation_id:012d}-{i:04d}"}, htmx), (204,))
    return timings


def time_naive(url: str, data: dict) -> list[float]:
    """The audit's pattern: every record of the doctor, then the patient's picked out and sorted in Python."""
    timings = []
    with psycopg.connect(url) as conn:
        for patient_id in data["patients"]:
            started = time.perf_counter()
            rows = conn.execute(NAIVE_SQL, {"doctor": data["naive_doctor"]}).fetchall()
            mine = sorted((row for row in rows if row[3] == patient_id), key=lambda row: row[0], reverse=True)
            len(mine)
            timings.append(time.perf_counter() - started)
    return timings


def time_timeline_in_process(url: str, data: dict) -> list[float]:
    """Kliniki's timeline read (first page, all its parts) in-process: the same work as the naive read."""
    from portal import create_app
    from portal.extensions import db
    from portal.records import queries

    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench"})
    timings = []
    with app.app_context():
        for patient_id in data["patients"]:
            started = time.perf_counter()
            queries.timeline(db.session(), patient_id, None, 10, True)
            timings.append(time.perf_counter() - started)
            db.session.rollback()
        db.engine.dispose()
    return timings


def time_audit_share(url: str, data: dict, rounds: int) -> tuple[float, float]:
    """A record view's access check and audit event (services.open_record), and the same check without it."""
    from sqlalchemy import exists, func, select

    from portal import create_app
    from portal.actor import Actor
    from portal.db import transaction
    from portal.extensions import db
    from portal.models import Patient
    from portal.records import services

    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench"})
    with psycopg.connect(url) as conn:
        user_id = conn.execute("SELECT id FROM staff_user WHERE username = %s", (DOCTOR,)).fetchone()[0]
    actor = Actor(user_id, "doctor", "127.0.0.1")
    with_audit, without = [], []
    with app.app_context():
        for i in range(rounds):
            patient_id = data["patients"][i % len(data["patients"])]
            started = time.perf_counter()
            services.open_record(patient_id, actor, "bench.view", "patient", patient_id)  # as the views do
            with_audit.append(time.perf_counter() - started)
            started = time.perf_counter()
            with transaction() as session:  # open_record's own statement, without the audit event
                session.execute(select(exists().where(Patient.id == patient_id),
                                       services._treats_clause(actor, patient_id),
                                       func.set_config("synchronous_commit", "off", True))).one()
            without.append(time.perf_counter() - started)
        db.engine.dispose()
    return percentile(with_audit, 50) * 1000, percentile(without, 50) * 1000


def ms(values: list[float], p: float) -> float:
    return percentile(values, p) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=20_000)
    parser.add_argument("--appointments", type=int, default=100_000)
    parser.add_argument("--signed", type=int, default=30_000)
    parser.add_argument("--ops", type=int, default=200, help="visits timed (each: page, 2 saves, sign, ...)")
    args = parser.parse_args()
    random.seed(7)
    with bench_database("records") as url:
        migrate(url)
        seconds = seed(url, args.patients, args.appointments, args.signed)
        data = prepare(url, args.ops)
        with Gunicorn(url) as server:
            http = time_http(server.base_url, data)
        naive = time_naive(url, data)
        timeline_sql = time_timeline_in_process(url, data)
        audited, unaudited = time_audit_share(url, data, args.ops)
        with psycopg.connect(url) as conn:
            counts = [conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                      for t in ("patient", "appointment", "consultation")]
            naive_rows = conn.execute("SELECT count(*) FROM consultation WHERE doctor_id = %s",
                                      (data["naive_doctor"],)).fetchone()[0]

    print()
    print(f"patients: {counts[0]}, appointments: {counts[1]}, consultations: {counts[2]}"
          f" (seeded in {seconds:.1f}s); {len(data['patients'])} visits timed, one client, sequential")
    print(f"load average (1, 5, 15 min) at the end: {load_average()}")
    print()
    rows = [[name, ms(values, 50), ms(values, 95), "yes" if ms(values, 95) < TARGET_MS else "NO"]
            for name, values in http.items()]
    print_table(["over HTTP", "p50 ms", "p95 ms", f"p95<{TARGET_MS}ms"], rows)
    print()
    print_table(["in-process read of a patient's visits", "p50 ms", "p95 ms", "naive/Kliniki p95"], [
        ["Kliniki: timeline page (10 visits, parts batched)", ms(timeline_sql, 50), ms(timeline_sql, 95), "1x"],
        [f"naive: all {naive_rows} records of the doctor, filtered in Python", ms(naive, 50), ms(naive, 95),
         f"{ms(naive, 95) / ms(timeline_sql, 95):.1f}x"]])
    share = (audited - unaudited) / max(ms(http["consultation page"], 50), 1e-9)
    print()
    print(f"record view in-process, access check + commit: {unaudited:.2f} ms without the audit event, "
          f"{audited:.2f} ms with it; the event costs {audited - unaudited:.2f} ms = {share:.1%} of the "
          f"consultation page's p50 over HTTP ({'MET' if share < 0.10 else 'NOT MET'}: under 10%)")


if __name__ == "__main__":
    sys.exit(main())
