"""Dashboard and day grid at clinic scale: Kliniki over HTTP next to the naive pattern, in one run.

    .venv/bin/python bench/dashboard.py [--patients 100000] [--appointments 1000000] [--requests 200]

Creates a database on the embedded server (or uses BENCH_DATABASE_URL, seeding it only if it has
fewer patients than asked), builds it with the migrations, seeds it with `flask seed` and adds
the status history the seeder does not write (check-in, consultation start and completion events
of the completed appointments, with waits of 0-60 minutes), then serves the app with gunicorn.

It prints p50/p95 of, one client at a time, after a warm-up:
- the admin dashboard over HTTP (/dashboard/, default 30-day range, and a 366-day range), its
  statements in-process (the money ones too: on a database without bills they count nothing),
  and the naive pattern on the same data: load today's appointment and
  event rows and the range's appointment, slot and patient rows into Python and count there
  (in-process, so the naive figure has no HTTP or rendering in it: the ratio understates the
  difference);
- the reception day grid over HTTP (/schedule/?date=, the day with most slots in the coming week,
  all doctors working that day up to the grid's 30 columns), Kliniki's day_grid() in-process, and
  the naive grid: the day's slots, then each booked slot's appointment and patient one query each.
Targets: dashboard p95 < 100 ms, day grid p95 < 20 ms (HTTP).
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from collections import Counter, defaultdict
from datetime import date, datetime, timedelta

import psycopg

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (  # noqa: E402
    ROOT,
    VENV_BIN,
    Client,
    Gunicorn,
    bench_database,
    load_average,
    migrate,
    percentile,
    print_table,
)

ADMIN, RECEPTION, PASSWORD = "bench.admin", "bench.reception", "bench-password-123"
WARMUP = 20

# The seeder writes appointments, not their history: completed visits get check-in, consultation
# start and completion events, the wait uniform in 0-60 minutes (repeatable: setseed).
EVENTS_SQL = """
SELECT setseed(0.2026);
INSERT INTO appointment_event (appointment_id, at, action, from_status, to_status)
SELECT id, at, 'status', from_status, to_status
FROM (SELECT a.id, a.starts_at - interval '10 minutes' * random() AS checked_in,
             interval '60 minutes' * random() AS waited
      FROM appointment a WHERE a.status = 'completed') v,
LATERAL (VALUES (v.checked_in, 'booked', 'checked_in'),
                (v.checked_in + v.waited, 'checked_in', 'in_consultation'),
                (v.checked_in + v.waited + interval '20 minutes', 'in_consultation', 'completed'))
        AS e(at, from_status, to_status);
VACUUM (ANALYZE) appointment_event;
"""


def seed(url: str, patients: int, appointments: int) -> float:
    """Run the project's seeder (the command a person would run) unless the data is there; seconds."""
    with psycopg.connect(url) as conn:
        existing = conn.execute("SELECT count(*) FROM patient").fetchone()[0]
    if existing >= patients:
        print(f"using the {existing} patients already in the database")
        return 0.0
    command = [os.path.join(VENV_BIN, "flask"), "--app", "wsgi", "seed", "--patients", str(patients),
               "--appointments", str(appointments), "--random-seed", "2026"]
    if existing:
        command.append("--add")
    started = time.perf_counter()
    subprocess.run(command, cwd=ROOT, check=True, env={**os.environ, "DATABASE_URL": url, "SECRET_KEY": "bench"})
    return time.perf_counter() - started


def add_history_and_users(url: str) -> int:
    """Status events for completed visits (once) and the bench's admin and reception logins."""
    from portal.auth.passwords import hash_password
    with psycopg.connect(url, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM appointment_event WHERE to_status = 'in_consultation' LIMIT 1").fetchone():
            conn.execute("SET statement_timeout = 0")
            for statement in EVENTS_SQL.split(";\n"):
                if statement.strip():
                    conn.execute(statement)
        for username, role in ((ADMIN, "admin"), (RECEPTION, "reception")):
            conn.execute("INSERT INTO staff_user (username, full_name, role, password_hash) "
                         "VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING",
                         (username, f"Bench {role}", role, hash_password(PASSWORD)))
        return conn.execute("SELECT count(*) FROM appointment_event").fetchone()[0]


def busiest_day(url: str, today: date) -> date:
    """The clinic-local day of the coming week with most slots (a full working day for the grid)."""
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT (starts_at AT TIME ZONE 'Africa/Nairobi')::date AS day, count(*) FROM slot "
                           "WHERE starts_at >= %s AND starts_at < %s GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 1",
                           (today, today + timedelta(days=8))).fetchone()
    return row[0] if row else today


def time_http(client: Client, path: str, count: int) -> list[float]:
    for _ in range(WARMUP):
        client.get(path)
    timings = []
    for _ in range(count):
        answer = client.get(path)
        if answer.status != 200:
            raise RuntimeError(f"{path}: HTTP {answer.status}")
        timings.append(answer.seconds)
    return timings


def timed(call, count: int) -> list[float]:
    for _ in range(min(WARMUP, count)):
        call()
    timings = []
    for _ in range(count):
        started = time.perf_counter()
        call()
        timings.append(time.perf_counter() - started)
    return timings


# ---- the naive patterns, on plain psycopg ------------------------------------------

def naive_dashboard(conn, today: date, first: date, last: date, tz) -> dict:
    """Every figure from rows loaded into Python (the pattern the dashboard avoids)."""
    def bounds(a: date, b: date) -> tuple[datetime, datetime]:
        return (datetime.combine(a, datetime.min.time(), tz), datetime.combine(b + timedelta(days=1),
                                                                              datetime.min.time(), tz))
    day_start, day_end = bounds(today, today)
    start, end = bounds(first, last)
    todays = conn.execute("SELECT a.status, d.name FROM appointment a JOIN doctor d ON d.id = a.doctor_id "
                          "WHERE a.starts_at >= %s AND a.starts_at < %s", (day_start, day_end)).fetchall()
    by_status = Counter(status for status, _ in todays)
    by_doctor: dict[str, Counter] = defaultdict(Counter)
    for status, doctor in todays:
        by_doctor[doctor][status] += 1
    rows = conn.execute("SELECT id, status, cancelled_by, starts_at FROM appointment "
                        "WHERE starts_at >= %s AND starts_at < %s", (start, end)).fetchall()
    per_day: dict[date, Counter] = defaultdict(Counter)
    for _, status, _, starts_at in rows:
        per_day[starts_at.astimezone(tz).date()][status] += 1
    events = conn.execute("SELECT e.appointment_id, e.to_status, e.at FROM appointment_event e "
                          "JOIN appointment a ON a.id = e.appointment_id WHERE a.starts_at >= %s "
                          "AND a.starts_at < %s AND e.to_status IN ('checked_in', 'in_consultation')",
                          (day_start, day_end)).fetchall()
    marks: dict[int, dict[str, datetime]] = defaultdict(dict)
    for appointment_id, to_status, at in events:
        marks[appointment_id][to_status] = at
    waits = sorted((m["in_consultation"] - m["checked_in"]).total_seconds() / 60
                   for m in marks.values() if len(m) == 2)
    slots = conn.execute("SELECT doctor_id, status FROM slot WHERE starts_at >= %s AND starts_at < %s",
                         (start, end)).fetchall()
    utilisation = Counter(slots)
    patients = conn.execute("SELECT created_at FROM patient WHERE created_at >= %s AND created_at < %s",
                            (start, end)).fetchall()
    new = Counter(created.astimezone(tz).date() for (created,) in patients)
    return {"status": by_status, "doctors": by_doctor, "days": per_day, "waits": waits[len(waits) // 2:][:1],
            "slots": utilisation, "new": new}


def naive_grid(conn, start: datetime, end: datetime) -> int:
    """The day's slots, then each booked slot's appointment and its patient, one query each."""
    slots = conn.execute("SELECT id, doctor_id, starts_at, status, appointment_id FROM slot "
                         "WHERE starts_at >= %s AND starts_at < %s ORDER BY starts_at, doctor_id",
                         (start, end)).fetchall()
    cells = 0
    for _, doctor_id, _, _, appointment_id in slots:
        conn.execute("SELECT name FROM doctor WHERE id = %s", (doctor_id,)).fetchone()
        if appointment_id:
            row = conn.execute("SELECT patient_id, status FROM appointment WHERE id = %s",
                               (appointment_id,)).fetchone()
            conn.execute("SELECT first_name, last_name FROM patient WHERE id = %s", (row[0],)).fetchone()
        cells += 1
    return cells


# ---- main ---------------------------------------------------------------------

def ms(values: list[float], p: float) -> float:
    return percentile(values, p) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=100_000)
    parser.add_argument("--appointments", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    count = args.requests
    with bench_database("dashboard") as url:
        migrate(url)
        seconds = seed(url, args.patients, args.appointments)
        events = add_history_and_users(url)

        from portal import clinic_time, create_app
        from portal.dashboard import queries
        from portal.extensions import db
        from portal.schedule.queries import day_grid

        app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench"})
        with app.app_context():
            tz = clinic_time.zone()
            today = clinic_time.today()
        grid_day = busiest_day(url, today)
        long_first = today - timedelta(days=queries.MAX_RANGE_DAYS - 1)
        short_first = today - timedelta(days=queries.DEFAULT_RANGE_DAYS - 1)
        long_path = f"/dashboard/?from={long_first.isoformat()}&to={today.isoformat()}"
        grid_path = f"/schedule/?date={grid_day.isoformat()}"

        with Gunicorn(url) as server:
            admin = Client(server.base_url).login(ADMIN, PASSWORD)
            http_short = time_http(admin, "/dashboard/", count)
            http_long = time_http(admin, long_path, max(count // 4, 20))
            desk = Client(server.base_url).login(RECEPTION, PASSWORD)
            http_grid = time_http(desk, grid_path, count)
            page = desk.get(grid_path).body
            grid_columns = page.count('scope="col"')

        with app.app_context():
            def sql_figures(first: date):
                context_span = queries.DateRange(first, today)
                queries.by_status(today)
                queries.by_doctor(today)
                queries.waits(queries.DateRange(today, today))
                queries.rates(context_span)
                queries.utilisation(context_span)
                queries.new_patients(context_span)
                queries.revenue(context_span)
                queries.by_service(context_span)
                queries.outstanding()
                db.session.rollback()

            def grid():
                day_grid(grid_day)
                db.session.rollback()

            sql_short = timed(lambda: sql_figures(short_first), count)
            sql_long = timed(lambda: sql_figures(long_first), max(count // 4, 20))
            sql_grid = timed(grid, count)
            db.engine.dispose()

        with psycopg.connect(url) as conn:
            naive_short = timed(lambda: naive_dashboard(conn, today, short_first, today, tz), max(count // 4, 20))
            naive_long = timed(lambda: naive_dashboard(conn, today, long_first, today, tz), 10)
            start, end = (datetime.combine(grid_day, datetime.min.time(), tz),
                          datetime.combine(grid_day + timedelta(days=1), datetime.min.time(), tz))
            naive_cells = naive_grid(conn, start, end)
            naive_grid_t = timed(lambda: naive_grid(conn, start, end), 20)
            patients = conn.execute("SELECT count(*) FROM patient").fetchone()[0]
            appointments = conn.execute("SELECT count(*) FROM appointment").fetchone()[0]
            in_long = conn.execute("SELECT count(*) FROM appointment WHERE starts_at >= %s",
                                   (datetime.combine(long_first, datetime.min.time(), tz),)).fetchone()[0]
            in_short = conn.execute("SELECT count(*) FROM appointment WHERE starts_at >= %s AND starts_at < %s",
                                    (datetime.combine(short_first, datetime.min.time(), tz),
                                     datetime.combine(today + timedelta(days=1), datetime.min.time(),
                                                      tz))).fetchone()[0]

    print()
    print(f"patients: {patients}, appointments: {appointments}, appointment events: {events}"
          + (f", seeded in {seconds:.1f}s" if seconds else ""))
    print(f"appointments in the 30-day range: {in_short}, in the 366-day range: {in_long}; "
          f"grid day {grid_day} ({naive_cells} slots, {grid_columns} header cells)")
    print(f"one client, sequential, {WARMUP} warm-up requests each; load average (1, 5, 15 min): {load_average()}")
    print()
    rows = [
        ["dashboard, 30 days (default)", ms(http_short, 50), ms(http_short, 95), ms(sql_short, 50),
         ms(sql_short, 95), ms(naive_short, 50), ms(naive_short, 95),
         f"{ms(naive_short, 95) / ms(sql_short, 95):.1f}x", f"{ms(naive_short, 95) / ms(http_short, 95):.1f}x",
         "MET" if ms(http_short, 95) < 100 else "NOT MET"],
        ["dashboard, 366 days", ms(http_long, 50), ms(http_long, 95), ms(sql_long, 50), ms(sql_long, 95),
         ms(naive_long, 50), ms(naive_long, 95), f"{ms(naive_long, 95) / ms(sql_long, 95):.1f}x",
         f"{ms(naive_long, 95) / ms(http_long, 95):.1f}x",
         "MET" if ms(http_long, 95) < 100 else "NOT MET"],
        ["day grid, all doctors", ms(http_grid, 50), ms(http_grid, 95), ms(sql_grid, 50), ms(sql_grid, 95),
         ms(naive_grid_t, 50), ms(naive_grid_t, 95), f"{ms(naive_grid_t, 95) / ms(sql_grid, 95):.1f}x",
         f"{ms(naive_grid_t, 95) / ms(http_grid, 95):.1f}x",
         "MET" if ms(http_grid, 95) < 20 else "NOT MET"],
    ]
    print_table(["page", "http p50", "http p95", "sql p50", "sql p95", "naive p50", "naive p95",
                 "naive/sql p95", "naive/http p95", "target (100 / 20 ms p95)"], rows)
    print("(milliseconds; http = the page through gunicorn incl. rendering; sql = Kliniki's statements "
          "in-process; naive = rows loaded into Python and counted there / the grid cell by cell, "
          "in-process on psycopg, no HTTP or rendering)")


if __name__ == "__main__":
    sys.exit(main())
