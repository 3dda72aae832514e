"""What auditing every read of patient data costs: pages over HTTP next to the audit event they write.

    .venv/bin/python bench/audit.py [--patients 20000] [--appointments 50000] [--requests 400]

Seeds a clinic with `flask seed`, serves it with gunicorn and times, as reception, the patient
profile (one `patient.view` event) and the name search (one `patient.search` event listing the
patients shown). In the same run it times the audit write alone, through the same code
(`record_access()`: one INSERT in its own transaction), and the raw ceiling (the same INSERT and
COMMIT through psycopg). The share printed is the audit write's p50 over the page's p50. It also
counts the events the requests wrote: one per request, not one per row or per query.

The hash chain's cost (migration 0011) is measured in the same run: the raw INSERT+COMMIT with
the chain trigger and with every trigger off (`session_replication_role = replica`, rows given an
id of their own and removed afterwards), from one writer and from 16 writers at once (events per
second; each insert holds the chain head's lock until its commit).
"""
from __future__ import annotations

import argparse
import random
import sys
import threading
import time

import psycopg
from harness import Client, Gunicorn, bench_database, load_average, migrate, percentile, print_table
from search import PASSWORD, USERNAME, add_reception, seed


def time_pages(base_url: str, patients: list[tuple[int, str]]) -> dict[str, list[float]]:
    client = Client(base_url).login(USERNAME, PASSWORD)
    for patient_id, _ in patients[:20]:  # warm the workers
        client.get(f"/patients/{patient_id}")
    timings: dict[str, list[float]] = {"profile": [], "search": []}
    for patient_id, last_name in patients:
        for kind, path, headers in (("profile", f"/patients/{patient_id}", {}),
                                    ("search", f"/patients/?q={last_name[:4].lower()}", {"HX-Request": "true"})):
            answer = client.get(path, headers=headers)
            if answer.status != 200:
                raise RuntimeError(f"{path}: HTTP {answer.status}")
            timings[kind].append(answer.seconds)
    return timings


def time_audit_write(url: str, patients: list[tuple[int, str]]) -> list[float]:
    """record_access() in-process: the event a page writes, on its own."""
    from portal import create_app
    from portal.actor import Actor
    from portal.audit import record_access
    from portal.extensions import db

    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench"})
    timings = []
    with app.app_context():
        actor = Actor(None, "reception", "127.0.0.1")
        for patient_id, _ in patients:
            started = time.perf_counter()
            record_access(actor, "bench.view", [patient_id])
            timings.append(time.perf_counter() - started)
        db.engine.dispose()
    return timings


def time_raw_insert(url: str, patients: list[tuple[int, str]]) -> list[float]:
    timings = []
    with psycopg.connect(url) as conn:
        for patient_id, _ in patients:
            started = time.perf_counter()
            conn.execute("INSERT INTO audit_event (action, entity, patient_id, ip) "
                         "VALUES ('bench.raw', 'patient', %s, '127.0.0.1')", (patient_id,))
            conn.commit()
            timings.append(time.perf_counter() - started)
    return timings


UNCHAINED_FROM = 10**15  # ids for the unchained rows, far above the chain's


def raw_insert(conn, patient_id: int, chained: bool, durable: bool) -> None:
    if not durable:
        conn.execute("SET LOCAL synchronous_commit TO OFF")
    if chained:
        conn.execute("INSERT INTO audit_event (action, entity, patient_id, ip) "
                     "VALUES ('bench.raw', 'patient', %s, '127.0.0.1')", (patient_id,))
    else:
        conn.execute("INSERT INTO audit_event (id, action, entity, patient_id, ip, hash) "
                     "VALUES (%s + nextval('audit_event_id_seq'), 'bench.unchained', 'patient', %s, "
                     "'127.0.0.1', '')", (UNCHAINED_FROM, patient_id))
    conn.commit()


def unchained(conn) -> None:
    conn.execute("SET session_replication_role = replica")  # no trigger fires: no chain, no refusal
    conn.commit()


def time_chain(url: str, patients: list[tuple[int, str]], chained: bool) -> list[float]:
    """One writer: the raw INSERT+COMMIT with or without the chain trigger."""
    timings = []
    with psycopg.connect(url) as conn:
        if not chained:
            unchained(conn)
        for patient_id, _ in patients:
            started = time.perf_counter()
            raw_insert(conn, patient_id, chained, durable=True)
            timings.append(time.perf_counter() - started)
    return timings


def concurrent_rate(url: str, patients: list[tuple[int, str]], chained: bool, durable: bool,
                    writers: int = 16) -> float:
    """Events per second from `writers` connections inserting at once."""
    barrier = threading.Barrier(writers + 1)
    errors: list[BaseException] = []

    def write() -> None:
        try:
            with psycopg.connect(url) as conn:
                if not chained:
                    unchained(conn)
                barrier.wait()
                for patient_id, _ in patients:
                    raw_insert(conn, patient_id, chained, durable)
        except BaseException as error:  # noqa: B036 - reported below
            errors.append(error)

    threads = [threading.Thread(target=write) for _ in range(writers)]
    for thread in threads:
        thread.start()
    barrier.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return writers * len(patients) / (time.perf_counter() - started)


def remove_unchained(url: str) -> None:
    with psycopg.connect(url) as conn:
        unchained(conn)
        conn.execute("DELETE FROM audit_event WHERE id >= %s", (UNCHAINED_FROM,))
        conn.commit()


def ms(values: list[float], p: float) -> float:
    return percentile(values, p) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=20_000)
    parser.add_argument("--appointments", type=int, default=50_000)
    parser.add_argument("--requests", type=int, default=400)
    args = parser.parse_args()
    with bench_database("audit") as url:
        migrate(url)
        seed(url, args.patients, args.appointments)
        add_reception(url)
        with psycopg.connect(url) as conn:
            rows = conn.execute("SELECT id, last_name FROM patient ORDER BY id").fetchall()
            before = conn.execute("SELECT count(*) FROM audit_event").fetchone()[0]
        sample = random.Random(11).sample(rows, min(args.requests, len(rows)))
        with Gunicorn(url) as server:
            pages = time_pages(server.base_url, sample)
        with psycopg.connect(url) as conn:
            written = conn.execute("SELECT count(*) FROM audit_event").fetchone()[0] - before
        audit = time_audit_write(url, sample)
        raw = time_raw_insert(url, sample)
        chain = {chained: time_chain(url, sample, chained) for chained in (True, False)}
        few = sample[:50]
        rates = {(chained, durable): concurrent_rate(url, few, chained, durable)
                 for durable in (True, False) for chained in (True, False)}
        remove_unchained(url)
    requests = sum(len(values) for values in pages.values()) + 20
    print()
    print(f"{len(rows)} patients; {len(sample)} profiles and {len(sample)} searches as reception, one client")
    print(f"load average (1, 5, 15 min) at the end: {load_average()}")
    print(f"audit events written by {requests} page requests (20 of them warm-up): {written}")
    print()
    table = []
    for kind, values in pages.items():
        table.append([kind, ms(values, 50), ms(values, 95), ms(audit, 50), ms(raw, 50),
                      f"{ms(audit, 50) / ms(values, 50):.0%}"])
    print_table(["page", "http p50", "http p95", "audit write p50", "raw INSERT+COMMIT p50",
                 "audit share of page p50"], table)
    print(f"(milliseconds; audit write p95 {ms(audit, 95):.2f}, raw p95 {ms(raw, 95):.2f})")
    print()
    print("the hash chain, same run: raw INSERT+COMMIT of one event")
    print_table(["", "one writer p50 ms", "one writer p95 ms", "16 writers, durable: events/s",
                 "16 writers, synchronous_commit off: events/s"],
                [[label, ms(chain[chained], 50), ms(chain[chained], 95), f"{rates[(chained, True)]:.0f}",
                  f"{rates[(chained, False)]:.0f}"]
                 for label, chained in (("chained (trigger on)", True), ("unchained (triggers off)", False))])


if __name__ == "__main__":
    sys.exit(main())
