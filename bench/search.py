"""Patient search at clinic scale: Kliniki's search box over HTTP vs the audit's ILIKE '%term%'.

    .venv/bin/python bench/search.py [--patients 100000] [--appointments 100000] [--per-kind 200]

Creates a database on the embedded server (or uses BENCH_DATABASE_URL), builds it with the
migrations, seeds it with `flask seed`, serves the app with gunicorn, and prints p50/p95 per
search kind for: Kliniki's /patients/?q= over HTTP (as the search box calls it), the same search
in-process (SQL and ORM only), and the audit's pattern (ILIKE '%term%' over first and last name)
on the same data, with ratios. Also shows the plan of each kind (no sequential scan expected).
"""
from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import time
from urllib.parse import quote

import psycopg
from harness import ROOT, VENV_BIN, Client, Gunicorn, bench_database, load_average, migrate, percentile, print_table

AUDIT_SQL = ("SELECT id, first_name, last_name, file_number, phone, date_of_birth FROM patient "
             "WHERE first_name ILIKE %(pattern)s OR last_name ILIKE %(pattern)s "
             "ORDER BY last_name, first_name LIMIT 50")
KINDS = ("name prefix", "two names", "phone (other format)", "phone ending", "file number",
         "date of birth")
USERNAME, PASSWORD = "bench.reception", "bench-password-123"


def seed(url: str, patients: int, appointments: int) -> float:
    """Run the project's seeder (the command a person would run); returns seconds."""
    with psycopg.connect(url) as conn:
        existing = conn.execute("SELECT count(*) FROM patient").fetchone()[0]
    if existing >= patients:
        print(f"using the {existing} patients already in BENCH_DATABASE_URL")
        return 0.0
    command = [os.path.join(VENV_BIN, "flask"), "--app", "wsgi", "seed", "--patients", str(patients),
               "--appointments", str(appointments), "--random-seed", "2026"]
    if existing:
        command.append("--add")
    started = time.perf_counter()
    subprocess.run(command, cwd=ROOT, check=True,
                   env={**os.environ, "DATABASE_URL": url, "SECRET_KEY": "bench"})
    return time.perf_counter() - started


def add_reception(url: str) -> None:
    from portal.auth.passwords import hash_password
    with psycopg.connect(url) as conn:
        conn.execute("INSERT INTO staff_user (username, full_name, role, password_hash) "
                     "VALUES (%s, 'Bench Reception', 'reception', %s) ON CONFLICT DO NOTHING",
                     (USERNAME, hash_password(PASSWORD)))


def sample_terms(url: str, per_kind: int, rng: random.Random) -> dict[str, list[str]]:
    """Search terms taken from real rows, as reception would type them."""
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT first_name, last_name, phone, file_number, date_of_birth "
                            "FROM patient TABLESAMPLE SYSTEM (5) LIMIT %s", (per_kind * 3,)).fetchall()
    rng.shuffle(rows)
    rows = rows[:per_kind]
    terms = {kind: [] for kind in KINDS}
    for first, last, phone, file_number, born in rows:
        national = "0" + phone[4:]
        terms["name prefix"].append(rng.choice((first, last))[:4].lower())
        terms["two names"].append(f"{last} {first}" if rng.random() < 0.5 else f"{first} {last}")
        terms["phone (other format)"].append(f"{national[:4]} {national[4:7]} {national[7:]}")
        terms["phone ending"].append(phone[-6:])
        terms["file number"].append(file_number)
        terms["date of birth"].append(born.strftime("%d/%m/%Y"))
    return terms


def time_http(base_url: str, terms: dict[str, list[str]]) -> dict[str, list[float]]:
    client = Client(base_url).login(USERNAME, PASSWORD)
    for term in terms["name prefix"][:20]:  # warm the workers and the cache
        client.get(f"/patients/?q={quote(term)}", headers={"HX-Request": "true"})
    timings = {}
    for kind, values in terms.items():
        timings[kind] = []
        for term in values:
            answer = client.get(f"/patients/?q={quote(term)}", headers={"HX-Request": "true"})
            if answer.status != 200:
                raise RuntimeError(f"{kind} {term!r}: HTTP {answer.status}")
            timings[kind].append(answer.seconds)
    return timings


def time_in_process(url: str, terms: dict[str, list[str]]) -> tuple[dict, dict]:
    """Kliniki's search_patients in-process, and the plans of its statements."""
    from portal import create_app
    from portal.extensions import db
    from portal.patients.search import search_patients, search_statements

    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench"})
    timings, plans = {}, {}
    with app.app_context():
        for kind, values in terms.items():
            timings[kind] = []
            for term in values:
                started = time.perf_counter()
                search_patients(term)
                timings[kind].append(time.perf_counter() - started)
                db.session.rollback()
            scans = set()
            for stmt in search_statements(values[0]):
                compiled = stmt.limit(50).compile(dialect=db.engine.dialect)
                plan = db.session.connection().exec_driver_sql("EXPLAIN " + str(compiled),
                                                               compiled.params)
                for (line,) in plan:
                    for marker in ("Seq Scan on", "Index Scan using", "Index Only Scan using",
                                   "Bitmap Index Scan on"):
                        if marker in line:
                            scans.add(line.strip().split("  (")[0].replace("->  ", ""))
            plans[kind] = sorted(scans)
            db.session.rollback()
        db.engine.dispose()
    return timings, plans


def time_audit_pattern(url: str, terms: dict[str, list[str]]) -> dict[str, list[float]]:
    timings = {}
    with psycopg.connect(url) as conn:
        for kind, values in terms.items():
            timings[kind] = []
            for term in values:
                started = time.perf_counter()
                conn.execute(AUDIT_SQL, {"pattern": f"%{term}%"}).fetchall()
                timings[kind].append(time.perf_counter() - started)
    return timings


def ms(values: list[float], p: float) -> float:
    return percentile(values, p) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=100_000)
    parser.add_argument("--appointments", type=int, default=100_000)
    parser.add_argument("--per-kind", type=int, default=200)
    args = parser.parse_args()
    rng = random.Random(7)
    with bench_database("search") as url:
        migrate(url)
        seconds = seed(url, args.patients, args.appointments)
        add_reception(url)
        terms = sample_terms(url, args.per_kind, rng)
        with Gunicorn(url) as server:
            http = time_http(server.base_url, terms)
        inproc, plans = time_in_process(url, terms)
        audit = time_audit_pattern(url, terms)
        with psycopg.connect(url) as conn:
            patients = conn.execute("SELECT count(*) FROM patient").fetchone()[0]
            appointments = conn.execute("SELECT count(*) FROM appointment").fetchone()[0]

    print()
    print(f"patients: {patients}, appointments: {appointments}"
          + (f", seeded in {seconds:.1f}s" if seconds else "")
          + f"; {args.per_kind} searches per kind, one client, sequential")
    print(f"load average (1, 5, 15 min) at the end: {load_average()}")
    print()
    rows = []
    for kind in KINDS:
        rows.append([kind, ms(http[kind], 50), ms(http[kind], 95), ms(inproc[kind], 50),
                     ms(inproc[kind], 95), ms(audit[kind], 50), ms(audit[kind], 95),
                     f"{ms(audit[kind], 95) / ms(inproc[kind], 95):.0f}x",
                     "yes" if ms(http[kind], 95) < 20 else "NO"])
    print_table(["kind", "http p50", "http p95", "sql p50", "sql p95", "ILIKE p50", "ILIKE p95",
                 "ILIKE/sql p95", "http p95<20ms"], rows)
    print("(milliseconds; http = Kliniki's /patients/?q= fragment through gunicorn incl. rendering;"
          " sql = search_patients in-process; ILIKE = the audit's '%term%' over first/last name)")
    print()
    for kind in KINDS:
        print(f"plan, {kind}: {'; '.join(plans[kind])}")


if __name__ == "__main__":
    sys.exit(main())
