"""The reception day grid with every doctor at clinic scale: Kliniki over HTTP next to the naive pattern.

    .venv/bin/python bench/grid.py [--patients 100000] [--appointments 1000000] [--requests 200]

Uses BENCH_DATABASE_URL as is (seeding it only if it has fewer patients than asked), else a fresh
database on the embedded server seeded with `flask seed`, as bench/dashboard.py does. The grid
day is the day of the coming week with most slots (all doctors working that day).

It prints p50/p95 of, one client at a time, after a warm-up:
- the day page over HTTP as reception (/schedule/?date=), and its 10-second poll both when the
  day changed (an appointment of the day touched before each poll: the grid is drawn again, its
  unchanged cells reused) and when it did not (204);
- in-process: day_grid() (its three statements and the cells), and the page through Flask's
  test client with the grid and every cell drawn anew (as after a restart), and with what was
  drawn kept (every desk's page and poll while the day is unchanged);
- the naive pattern the audit describes: the day's slots, then each one's doctor, appointment
  and patient, one query each (in-process on psycopg, no HTTP or rendering).
Target: the page's p95 under 20 ms over HTTP.
"""
from __future__ import annotations

import argparse
import html
import os
import re
import sys
import time
from datetime import datetime, timedelta

import psycopg

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dashboard import (  # noqa: E402
    PASSWORD,
    RECEPTION,
    WARMUP,
    add_history_and_users,
    busiest_day,
    naive_grid,
    seed,
    time_http,
    timed,
)
from harness import Client, Gunicorn, bench_database, csrf_from, load_average, migrate, percentile, print_table  # noqa: E402

TARGET_MS = 20


def ms(values: list[float], p: float) -> float:
    return percentile(values, p) * 1000


def in_process_page(app, path: str, count: int, fresh_cells: bool) -> list[float]:
    """The page through Flask's test client; with fresh_cells every cell is drawn anew each time."""
    from portal.schedule import views

    client = app.test_client()
    token = csrf_from(client.get("/login").get_data(as_text=True))
    client.post("/login", data={"username": RECEPTION, "password": PASSWORD, "csrf_token": token})

    def page() -> None:
        if fresh_cells:
            views._CELL_HTML.clear()
            app.extensions.pop(views._GRID_HTML, None)
        if client.get(path).status_code != 200:
            raise RuntimeError(f"{path}: not 200")
    return timed(page, count)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=100_000)
    parser.add_argument("--appointments", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    count = args.requests
    with bench_database("grid") as url:
        migrate(url)
        seed(url, args.patients, args.appointments)
        add_history_and_users(url)

        from portal import clinic_time, create_app
        from portal.extensions import db
        from portal.schedule.queries import day_grid, day_version

        app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench"})
        with app.app_context():
            tz = clinic_time.zone()
            grid_day = busiest_day(url, clinic_time.today())
            version = day_version(grid_day)
            db.session.rollback()
        with app.test_request_context():
            bounds = clinic_time.day_bounds(grid_day)
        path = f"/schedule/?date={grid_day.isoformat()}"
        fragment = {"HX-Request": "true", "HX-Target": "grid"}
        poll_changed = f"/schedule/grid?date={grid_day.isoformat()}&v=stale"

        with Gunicorn(url) as server:
            desk = Client(server.base_url).login(RECEPTION, PASSWORD)
            http_page = time_http(desk, path, count)
            page = desk.get(path).body
            doctors, cells = page.count('scope="col"') - 1, page.count('id="cell-')
            with psycopg.connect(url, autocommit=True) as conn:
                touched = conn.execute("SELECT id FROM appointment WHERE starts_at >= %s AND starts_at < %s "
                                       "LIMIT 1", bounds).fetchone()
                http_redraw = []
                for index in range(WARMUP + count):
                    if touched:  # a change on the day (as a check-in elsewhere): the next poll draws anew
                        conn.execute("UPDATE appointment SET updated_at = now() WHERE id = %s", touched)
                    # `at` after the change: a screen holding a later read gets no worker's earlier read
                    answer = desk.get(f"{poll_changed}&at={int(time.time() * 1000)}", headers=fragment)
                    if answer.status != 200:
                        raise RuntimeError(f"changed poll: HTTP {answer.status}")
                    if index >= WARMUP:
                        http_redraw.append(answer.seconds)
            version = re.search(r'data-version="([^"]+)"', desk.get(path).body).group(1)  # after the touches
            poll_same = f"/schedule/grid?date={grid_day.isoformat()}&v={html.unescape(version)}"
            http_same = []
            for _ in range(count):
                answer = desk.get(poll_same, headers=fragment)
                if answer.status != 204:
                    raise RuntimeError(f"unchanged poll: HTTP {answer.status}")
                http_same.append(answer.seconds)

        with app.app_context():
            def grid() -> None:
                day_grid(grid_day)
                db.session.rollback()
            sql_grid = timed(grid, count)
        cold = in_process_page(app, path, max(count // 4, 20), fresh_cells=True)
        warm = in_process_page(app, path, count, fresh_cells=False)
        with app.app_context():
            db.engine.dispose()

        with psycopg.connect(url) as conn:
            start = datetime.combine(grid_day, datetime.min.time(), tz)
            end = start + timedelta(days=1)
            slots = naive_grid(conn, start, end)
            naive = timed(lambda: naive_grid(conn, start, end), max(count // 10, 20))
            appointments = conn.execute("SELECT count(*) FROM appointment").fetchone()[0]

    print()
    print(f"appointments: {appointments}; grid day {grid_day}: {doctors} doctors, {cells} cells ({slots} slots)")
    print(f"one client, sequential, {WARMUP} warm-up requests each; load average (1, 5, 15 min): {load_average()}")
    print()
    rows = [
        ["page over HTTP (reception)", ms(http_page, 50), ms(http_page, 95),
         "MET" if ms(http_page, 95) < TARGET_MS else "NOT MET"],
        ["poll over HTTP, day changed (grid redrawn)", ms(http_redraw, 50), ms(http_redraw, 95), ""],
        ["poll over HTTP, unchanged (204)", ms(http_same, 50), ms(http_same, 95), ""],
        ["day_grid() in-process (SQL + cells)", ms(sql_grid, 50), ms(sql_grid, 95), ""],
        ["page in-process, grid and every cell drawn anew", ms(cold, 50), ms(cold, 95), ""],
        ["page in-process, drawn grid kept", ms(warm, 50), ms(warm, 95), ""],
        ["naive: slots, then doctor/appointment/patient per slot", ms(naive, 50), ms(naive, 95),
         f"{ms(naive, 95) / ms(http_page, 95):.1f}x the page's p95"],
    ]
    print_table(["day grid, all doctors", "p50 ms", "p95 ms", f"target (p95 < {TARGET_MS} ms)"], rows)
    print(f"(finished {time.strftime('%H:%M:%S')}; naive = rows fetched one query at a time, no HTTP or rendering)")


if __name__ == "__main__":
    sys.exit(main())
