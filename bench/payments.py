"""Payments benchmark: a raw-SQL ceiling, the audit's unlocked pattern, and Kliniki over HTTP.

    .venv/bin/python bench/payments.py            # one run, one table (a few minutes)

Creates and drops its own database (on BENCH_DATABASE_URL's server if set, else the embedded one).
Seeds BENCH_PATIENTS patients (2,000) and BENCH_BILLS past bills (20,000) with a line and about 1.5
payments each, in bulk; the issue's clinic scale is BENCH_PATIENTS=100000 BENCH_BILLS=1000000.
1. ceiling: Kliniki's whole posting transaction in plain SQL through psycopg, its own statements
   (claim the key, lock the bill and find the shift, insert the payment with its receipt number,
   store the key's result, read the payment back, insert the audit event), distinct bills; the
   target is measured against it. Beside it, its core alone (lock, balance, insert), for scale;
2. audit: read the bill's paid amount, add in Python, write it back, no lock (Phase 4's code), on
   one hot bill from 16 threads: how much money it loses;
3. Kliniki: POST /payments/bills/<id>/payments through gunicorn on distinct bills and on one hot
   bill (16 desks at once, rounds); every accepted payment must be a row, no row twice;
4. page p95: the bill page, the outstanding-bills list and the day's cash-up report.
Settings: BENCH_CLIENTS (16), BENCH_SECONDS (8), BENCH_ROUNDS (20).

At clinic scale, on a copy of a database `flask seed` filled (never the original):
    BENCH_PRESEEDED_URL=postgresql://...copy... .venv/bin/python bench/payments.py
migrates it, adds only the bench's cashier, shift and open bills, and runs there (not dropped).
"""
from __future__ import annotations

import json
import os
import secrets
import sys
import threading
from contextlib import nullcontext

import psycopg
from psycopg.rows import namedtuple_row

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (  # noqa: E402
    Client,
    Gunicorn,
    fresh_database,
    load_average,
    migrate,
    percentile,
    print_table,
    run_load,
    run_rounds,
)

from portal.audit import INSERT_EVENTS  # noqa: E402
from portal.db import driver_sql  # noqa: E402
from portal.idempotency import CLAIM_SQL, COMPLETE_SQL, fingerprint  # noqa: E402
from portal.payments.queries import POSTED  # noqa: E402
from portal.payments.services import INSERT_PAYMENT, LOCK_BILL_AND_SHIFT  # noqa: E402

CLIENTS = int(os.environ.get("BENCH_CLIENTS", 16))
SECONDS = float(os.environ.get("BENCH_SECONDS", 8))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", 20))
PATIENTS = int(os.environ.get("BENCH_PATIENTS", 2000))
BILLS = int(os.environ.get("BENCH_BILLS", 20000))
OPEN_BILLS = 6000  # bills left owing for the posting runs, each owing Ksh 100,000
PASSWORD = "bench-password-1"
PRESEEDED = os.environ.get("BENCH_PRESEEDED_URL")

CORE_TX = [
    "SELECT id FROM bill WHERE id = %(b)s FOR UPDATE",
    "SELECT balance_cents FROM bill_balance WHERE bill_id = %(b)s",
    "INSERT INTO payment (bill_id, method, amount_cents, reference, receipt_number, shift_id) "
    "VALUES (%(b)s, 'card', 100, 'CEIL', kliniki_receipt_number(2099), %(s)s) RETURNING id",
]


def prepare(url: str, history: bool = True) -> dict:
    """Staff, a price list, patients, past bills with lines and payments (bulk), open bills, a shift.

    Without `history` (a seeded database) only the cashier, the service, the open bills and the shift.
    """
    from portal.auth.passwords import hash_password

    with psycopg.connect(url, autocommit=True) as conn:
        user = conn.execute("INSERT INTO staff_user (username, full_name, role, password_hash) VALUES "
                            "('bench-reception', 'Bench Reception', 'reception', %s) RETURNING id",
                            (hash_password(PASSWORD),)).fetchone()[0]
        service = conn.execute("INSERT INTO service (code, name, category, price_cents) "
                               "VALUES ('CONS', 'Consultation', 'consultation', 150000) RETURNING id").fetchone()[0]
        if history:
            conn.execute("INSERT INTO patient (first_name, last_name, date_of_birth, sex, phone) "
                         "SELECT 'Bench', 'Patient ' || g, DATE '1990-01-01', 'female', "
                         "'+2547' || lpad(g::text, 8, '0') "
                         "FROM generate_series(1, %s) g", (PATIENTS,))
            low = conn.execute("SELECT min(id) FROM patient").fetchone()[0]
            # Bulk history without the per-row triggers (seeding only); statuses are set once after.
            conn.execute("SET session_replication_role = replica")
            conn.execute("INSERT INTO bill (patient_id, opened_at, status) SELECT %s + g %% %s, "
                         "now() - make_interval(days => 2) - make_interval(mins => g), 'paid' "
                         "FROM generate_series(1, %s) g", (low, PATIENTS, BILLS))
            conn.execute("INSERT INTO bill_line (bill_id, service_id, code, name, unit_cents, quantity, line_cents, "
                         "created_at) SELECT id, %s, 'CONS', 'Consultation', 150000, 1, 150000, opened_at FROM bill",
                         (service,))
            conn.execute("INSERT INTO payment (bill_id, method, amount_cents, reference, receipt_number, created_at) "
                         "SELECT id, 'card', 100000, 'SEED', 'R-2000-' || lpad((id * 2)::text, 7, '0'), opened_at "
                         "FROM bill")
            conn.execute("INSERT INTO payment (bill_id, method, amount_cents, mpesa_code, receipt_number, created_at) "
                         "SELECT id, 'mpesa', 50000, 'S' || lpad(id::text, 9, '0'), "
                         "'R-2000-' || lpad((id * 2 + 1)::text, 7, '0'), opened_at FROM bill WHERE id % 2 = 0")
            conn.execute("UPDATE bill SET status = 'partly_paid' WHERE id % 2 = 1")
            conn.execute("SET session_replication_role = DEFAULT")
            conn.execute("UPDATE bill b SET balance_cents = v.balance_cents FROM bill_balance v WHERE v.bill_id = b.id")
        low = conn.execute("SELECT min(id) FROM patient").fetchone()[0]
        shift = conn.execute("INSERT INTO cash_shift (cashier_id, opening_float_cents) VALUES (%s, 0) RETURNING id",
                             (user,)).fetchone()[0]
        first_open = conn.execute("INSERT INTO bill (patient_id) SELECT %s + g %% %s FROM generate_series(1, %s) g "
                                  "RETURNING id", (low, PATIENTS, OPEN_BILLS)).fetchall()[0][0]
        conn.execute("INSERT INTO bill_line (bill_id, service_id, code, name, unit_cents, quantity, line_cents) "
                     "SELECT id, %s, 'BIG', 'Surgery', 10000000, 1, 10000000 FROM bill WHERE id >= %s",
                     (service, first_open))
        conn.execute("CREATE TABLE audit_bill (id bigint PRIMARY KEY, total numeric, paid numeric)")
        conn.execute("INSERT INTO audit_bill VALUES (1, 1000000, 0)")
        conn.execute("VACUUM (ANALYZE)")
        past_bill = conn.execute("SELECT max(id) FROM bill WHERE id < %s AND status <> 'void'",
                                 (first_open,)).fetchone()[0]
    return {"shift": shift, "first_open": first_open, "past_bill": past_bill, "cashier": user}


def post_in_raw_sql(conn: psycopg.Connection, bill: int, ids: dict) -> None:
    """Kliniki's posting transaction, its own statements in order, with no web framework or ORM around them."""
    key, cashier = secrets.token_urlsafe(24), ids["cashier"]
    with conn.transaction():
        request = {"bill_id": bill, "method": "card", "amount_cents": 100, "reference": "CEIL"}
        conn.execute(driver_sql(CLAIM_SQL), {"key": key, "scope": "payment", "user_id": cashier, "ttl": 86400,
                                             "hash": fingerprint("payment", request)})
        locked = conn.execute(driver_sql(LOCK_BILL_AND_SHIFT), {"bill_id": bill, "user_id": cashier}).fetchone()
        assert locked is not None and locked.balance_cents >= 100
        posted = conn.execute(driver_sql(INSERT_PAYMENT), {
            **request, "tendered_cents": None, "change_cents": 0, "mpesa_code": None, "insurer": None,
            "member_number": None, "preauth_number": None, "year": 2099, "cashier_id": cashier,
            "shift_id": locked.shift_id}).fetchone()
        result = {"payment_id": posted.id, "receipt_number": posted.receipt_number, "amount_cents": 100,
                  "change_cents": 0, "bill_id": bill}
        conn.execute(driver_sql(COMPLETE_SQL), {"key": key, "result": json.dumps(result)})
        conn.execute(driver_sql(POSTED), {"payment_id": posted.id}).fetchone()
        event = {"user_id": cashier, "role": "reception", "action": "payment.post", "entity": "payment",
                 "entity_id": posted.id, "patient_id": locked.patient_id, "ip": "127.0.0.1", "detail": result}
        conn.execute(driver_sql(INSERT_EVENTS), {"rows": json.dumps([event])})


def post_core_in_raw_sql(conn: psycopg.Connection, bill: int, ids: dict) -> None:
    """Only the posting's core: lock the bill, read its balance, insert the payment."""
    with conn.transaction():
        for statement in CORE_TX:
            conn.execute(statement, {"b": bill, "s": ids["shift"]})


def run_ceiling(url: str, ids: dict, post, first_bill: int) -> tuple:
    """`post(conn, bill, ids)` on distinct bills from `first_bill`, one plain psycopg connection per thread."""
    connections = [psycopg.connect(url, row_factory=namedtuple_row) for _ in range(CLIENTS)]

    def pay(worker, index, _):
        post(connections[worker], first_bill + worker * 100 + index % 100, ids)
        return "paid"
    try:
        return run_load(CLIENTS, pay, duration_s=SECONDS)
    finally:
        for conn in connections:
            conn.close()


def run_audit(url: str) -> tuple:
    """The audit's read-add-write without a lock on one hot bill: returns (result, money lost in cents)."""
    connections = [psycopg.connect(url, autocommit=True) for _ in range(CLIENTS)]
    accepted = [0]
    lock = threading.Lock()

    def pay(worker, index, _):
        conn = connections[worker]
        paid = conn.execute("SELECT paid FROM audit_bill WHERE id = 1").fetchone()[0]
        conn.execute("UPDATE audit_bill SET paid = %s WHERE id = 1", (paid + 100,))
        with lock:
            accepted[0] += 100
        return "paid"
    try:
        result = run_rounds(CLIENTS, ROUNDS, pay)
        stored = connections[0].execute("SELECT paid FROM audit_bill WHERE id = 1").fetchone()[0]
        return result, accepted[0] - int(stored)
    finally:
        for conn in connections:
            conn.close()


def desk(server: Gunicorn):
    return Client(server.base_url).login("bench-reception", PASSWORD)


def http_pay(client: Client, bill: int, cents: int, key: str) -> str:
    answer = client.post(f"/payments/bills/{bill}/payments",
                         {"key": key, "method": "card", "amount": f"{cents // 100}.{cents % 100:02d}",
                          "reference": "BENCH"}, headers={"HX-Request": "true"})
    if answer.status == 200 and 'id="payment-posted"' in answer.body:
        return "paid"
    return str(answer.status)


def main() -> None:
    scale = "a pre-seeded database" if PRESEEDED else f"{PATIENTS} patients, {BILLS} past bills"
    print(f"payments benchmark: {scale}, {CLIENTS} clients, load {load_average()}")
    with (nullcontext(PRESEEDED) if PRESEEDED else fresh_database("payments")) as url:
        migrate(url)
        ids = prepare(url, history=not PRESEEDED)
        ceiling = run_ceiling(url, ids, post_in_raw_sql, ids["first_open"])
        core = run_ceiling(url, ids, post_core_in_raw_sql, ids["first_open"] + 4000)
        audit, lost = run_audit(url)
        # A loaded machine can take more than the default 30 s to bring the workers up.
        server = Gunicorn(url).start(timeout_s=180)
        try:
            distinct_bills = ids["first_open"] + 2000
            distinct = run_load(CLIENTS, lambda w, i, c: http_pay(c, distinct_bills + w * 100 + i % 100, 100,
                                                                   secrets.token_urlsafe(24)),
                                setup=lambda w: desk(server), duration_s=SECONDS)
            # The target: 1/5 of the ceiling at a steady rate, each payment timed from when it was due.
            target = ceiling.per_second / 5
            paced_bills = ids["first_open"] + 3600
            paced = run_load(CLIENTS, lambda w, i, c: http_pay(c, paced_bills + w * 20 + i % 20, 100,
                                                                secrets.token_urlsafe(24)),
                             setup=lambda w: desk(server), duration_s=SECONDS, rate_per_s=target)
            hot_bill = ids["first_open"] + 3999
            hot = run_rounds(CLIENTS, ROUNDS, lambda w, r, c: http_pay(c, hot_bill, 100, secrets.token_urlsafe(24)),
                             setup=lambda w: desk(server))
            pages = {
                # A visit's bill as the desk sees it (a line, a payment or two); the hot bill's
                # CLIENTS x ROUNDS payments are shown apart, as the page's worst case.
                "bill page": f"/payments/bills/{ids['past_bill']}",
                f"bill page, hot bill ({CLIENTS * ROUNDS} payments)": f"/payments/bills/{hot_bill}",
                "outstanding bills": "/payments/?limit=25",
                "day's cash-up": "/payments/report",
            }
            page_results = {name: run_load(4, lambda w, i, c, p=path: str(c.get(p).status),
                                           setup=lambda w: desk(server), duration_s=SECONDS / 2)
                            for name, path in pages.items()}
        finally:
            server.stop()
        with psycopg.connect(url) as conn:
            rows = conn.execute("SELECT count(*), count(DISTINCT receipt_number) FROM payment "
                                "WHERE reference = 'BENCH'").fetchone()
            overpaid = conn.execute("SELECT count(*) FROM bill_balance WHERE paid_cents > total_cents").fetchone()[0]
    accepted = sum(r.outcomes.get("paid", 0) for r in (distinct, paced, hot))
    ms = lambda r: percentile(r.latencies, 95) * 1000  # noqa: E731
    print_table(["run", "per s", "p95 ms", "vs ceiling", "outcomes"], [
        ["ceiling: whole posting tx in raw SQL, distinct bills", ceiling.per_second, ms(ceiling), 1.0,
         ceiling.outcomes],
        ["its core alone (lock, balance, insert), raw SQL", core.per_second, ms(core),
         core.per_second / ceiling.per_second, core.outcomes],
        ["audit: read-add-write, no lock, hot bill", audit.per_second, ms(audit), audit.per_second / ceiling.per_second,
         f"lost Ksh {lost / 100:.2f} of {audit.ops} payments"],
        ["Kliniki HTTP, distinct bills", distinct.per_second, ms(distinct), distinct.per_second / ceiling.per_second,
         distinct.outcomes],
        [f"Kliniki HTTP, steady {target:.0f}/s (1/5 ceiling)", paced.per_second, ms(paced),
         paced.per_second / ceiling.per_second, paced.outcomes],
        ["Kliniki HTTP, one hot bill (rounds)", hot.per_second, ms(hot), hot.per_second / ceiling.per_second,
         hot.outcomes],
        *[[f"page: {name}", r.per_second, ms(r), "", r.outcomes] for name, r in page_results.items()],
    ])
    print(f"accepted over HTTP: {accepted}; payment rows: {rows[0]}; distinct receipts: {rows[1]}; "
          f"bills paid above total: {overpaid}")
    steady_met = paced.per_second >= 0.95 * target and ms(paced) < 100
    print(f"target (1/5 of the ceiling, p95 under 100 ms, steady): {'MET' if steady_met else 'NOT MET'}")
    slow_pages = [name for name, r in page_results.items() if ms(r) >= 50 and "hot bill" not in name]
    print("pages p95 under 50 ms:", "MET" if not slow_pages else f"NOT MET ({', '.join(slow_pages)})")
    print("lost or duplicated payments:", "0 (MET)" if accepted == rows[0] == rows[1] and not overpaid
          else "NOT MET")


if __name__ == "__main__":
    main()
