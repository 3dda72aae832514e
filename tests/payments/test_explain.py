"""With thousands of bills and payments loaded and analysed, every payments list and the cash-up use indexes."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from portal.db import driver_sql
from portal.models.payments import METHODS
from portal.payments import queries
from tests.helpers import admin_connection

BIG_TABLES = ("bill", "bill_line", "bill_discount", "payment", "payment_reversal", "mpesa_confirmation")
BILLS = 6000

LOAD = f"""
INSERT INTO patient (first_name, last_name, date_of_birth, sex, phone)
SELECT 'Load', 'Patient' || g, date '1980-01-01' + g, 'female', '+2547' || lpad(g::text, 8, '0')
FROM generate_series(1, 2000) g;
INSERT INTO bill (patient_id, opened_at, status)
SELECT CASE WHEN g %% 1000 = 0 THEN %(patient)s ELSE (SELECT max(id) FROM patient) - g %% 1999 END,
       now() - make_interval(mins => g), 'open' FROM generate_series(1, {BILLS}) g;
INSERT INTO bill_line (bill_id, service_id, code, name, unit_cents, quantity, line_cents, created_at)
SELECT b.id, %(service)s, 'CONS', 'Consultation', 150000, 1, 150000, b.opened_at FROM bill b;
INSERT INTO bill_discount (bill_id, amount_cents, reason, created_at)
SELECT b.id, 1000, 'loyal', b.opened_at FROM bill b WHERE b.id %% 2 = 1;
INSERT INTO payment (bill_id, method, amount_cents, reference, receipt_number, created_at)
SELECT b.id, 'card', 149000, 'T', 'R-2020-' || lpad(b.id::text, 6, '0'), b.opened_at
FROM bill b WHERE b.id %% 10 <> 0;
INSERT INTO payment_reversal (payment_id, bill_id, kind, method, amount_cents, reason, created_at)
SELECT p.id, p.bill_id, 'refund', p.method, 100, 'coins', p.created_at FROM payment p WHERE p.id %% 2 = 1;
INSERT INTO mpesa_confirmation (trans_id, amount_cents, raw, status, queue_reason, received_at)
SELECT 'Q' || lpad(g::text, 9, '0'), 100, '{{}}', CASE WHEN g %% 50 = 0 THEN 'queued' ELSE 'applied' END,
       'unmatched', now() - make_interval(mins => g) FROM generate_series(1, {BILLS}) g;
"""


@pytest.fixture
def loaded(app, database_url, visit, prices):
    with admin_connection(database_url, autocommit=True) as conn:
        for statement in filter(str.strip, LOAD.split(";")):
            conn.execute(statement, {"patient": visit["patient_id"], "service": prices["consult"]})
        conn.execute("VACUUM (ANALYZE)")
    return visit


def plan(database_url: str, sql: str, params: dict) -> str:
    with admin_connection(database_url) as conn:
        rows = conn.execute("EXPLAIN " + driver_sql(sql), params).fetchall()
    return "\n".join(row[0] for row in rows)


def assert_indexed(text: str, name: str):
    scanned = [table for table in BIG_TABLES if f"Seq Scan on {table} " in text + " "]
    assert not scanned, f"{name} scans {scanned}:\n{text}"


def test_every_payments_list_and_the_cash_up_use_indexes(loaded, database_url):
    now = datetime.now(timezone.utc)
    window = {"start": now - timedelta(hours=3), "end": now - timedelta(hours=2)}
    statements = {
        "outstanding, first page": (queries.OUTSTANDING_PAGE, {"c_at": None, "c_id": None, "limit": 26}),
        "outstanding, later page": (queries.OUTSTANDING_PAGE, {"c_at": now - timedelta(hours=50), "c_id": 10,
                                                               "limit": 26}),
        "bill": (queries.BILL, {"bill_id": 5}),
        "bill lines": (queries.LINES, {"bill_id": 5, "limit": 200}),
        "bill payments": (queries.PAYMENTS, {"bill_id": 5, "limit": 200}),
        "bill discounts": (queries.DISCOUNTS, {"bill_id": 5, "limit": 200}),
        "bill reversals": (queries.REVERSALS, {"bill_id": 5, "limit": 200}),
        "patient balance": (queries.PATIENT_BALANCE, {"patient_id": loaded["patient_id"]}),
        "waiting room balances": (queries.PATIENT_BALANCES, {"patient_ids": [loaded["patient_id"], 7, 8]}),
        "posted payment": (queries.POSTED, {"payment_id": 5}),
        "patient bills": (queries.PATIENT_BILLS, {"patient_id": loaded["patient_id"]}),
        "receipt": (queries.RECEIPT, {"payment_id": 5}),
        "shift payments": (queries.SHIFT_PAYMENTS, {"s": 1}),
        "cash-up by method": (queries.BY_METHOD, {**window, "methods": list(METHODS)}),
        "cash-up totals": (queries.DAY_TOTALS, window),
        "cash-up by doctor": (queries.BY_DOCTOR, window),
        "cash-up by service": (queries.BY_SERVICE, window),
        "cash-up reversals": (queries.REVERSALS_DAY, window),
        "mpesa queue": (queries.MPESA_QUEUE, {"c_at": None, "c_id": None, "limit": 26}),
        "shift expected": (__import__("portal.payments.services", fromlist=["EXPECTED"]).EXPECTED,
                           {"s": 1, "methods": list(METHODS)}),
    }
    for name, (sql, params) in statements.items():
        assert_indexed(plan(database_url, sql, params), name)


def test_the_outstanding_list_reads_its_partial_index(loaded, database_url):
    text = plan(database_url, queries.OUTSTANDING_PAGE, {"c_at": None, "c_id": None, "limit": 26})
    assert "ix_bill_outstanding" in text, text


def test_the_cash_ups_money_figures_read_only_their_summaries(loaded, database_url):
    now = datetime.now(timezone.utc)
    window = {"start": now - timedelta(hours=3), "end": now - timedelta(hours=2)}
    statements = {"by method": (queries.BY_METHOD, {**window, "methods": list(METHODS)}),
                  "totals": (queries.DAY_TOTALS, window), "by doctor": (queries.BY_DOCTOR, window),
                  "outstanding": (queries.OUTSTANDING_TOTAL, {})}
    for name, (sql, params) in statements.items():
        text = plan(database_url, sql, params)
        read = [table for table in BIG_TABLES if f" on {table} " in text + " "]
        assert not read, f"the cash-up's {name} reads {read}:\n{text}"
