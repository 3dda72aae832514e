"""The database itself refuses what no bill may be: edits and deletes of money, overpaying, bad codes."""
from __future__ import annotations

import psycopg
import pytest

from portal.idempotency import new_key
from portal.payments import services
from tests.helpers import admin_connection
from tests.payments.conftest import figures, pay


def _refused(database_url: str, sql: str, *params):
    with admin_connection(database_url) as conn, pytest.raises(psycopg.Error) as refused:
        conn.execute(sql, params)
    return refused.value


@pytest.fixture
def paid_bill(app, bill, shifts, desk):
    with app.app_context():
        paid = pay(bill, 50000, desk["reception"], "cash")
        services.add_discount(bill, None, 1000, "loyal", desk["reception"], new_key())
        services.reverse_payment(paid["payment_id"], "refund", 100, "coins", desk["reception"], new_key())
    return bill


@pytest.mark.parametrize("table", ["bill_line", "bill_discount", "payment", "payment_reversal"])
def test_money_rows_are_never_updated_or_deleted(database_url, paid_bill, table):
    error = _refused(database_url, f"UPDATE {table} SET created_at = created_at")
    assert "never changed" in str(error)
    error = _refused(database_url, f"DELETE FROM {table}")
    assert "never changed" in str(error)


def test_the_database_refuses_paying_above_the_total(database_url, app, bill, desk):
    error = _refused(database_url, "INSERT INTO payment (bill_id, method, amount_cents, reference, receipt_number) "
                                   "VALUES (%s, 'card', 150001, 'T', 'R-2026-999999')", bill)
    assert error.diag.constraint_name == "bill_paid_within_total"
    assert figures(app, bill).paid_cents == 0


@pytest.mark.parametrize("columns, values", [
    ("amount_cents", "0"), ("amount_cents", "-100"),
])
def test_amount_checks(database_url, bill, columns, values):
    error = _refused(database_url, "INSERT INTO payment (bill_id, method, amount_cents, reference, receipt_number) "
                                   f"VALUES (%s, 'card', {values}, 'T', 'R-2026-999998')", bill)
    assert isinstance(error, psycopg.errors.CheckViolation)


def test_mpesa_code_format_and_uniqueness_are_constraints(database_url, bill):
    error = _refused(database_url, "INSERT INTO payment (bill_id, method, amount_cents, mpesa_code, receipt_number) "
                                   "VALUES (%s, 'mpesa', 100, 'bad', 'R-2026-999997')", bill)
    assert isinstance(error, psycopg.errors.CheckViolation)
    with admin_connection(database_url) as conn:
        conn.execute("INSERT INTO payment (bill_id, method, amount_cents, mpesa_code, receipt_number) "
                     "VALUES (%s, 'mpesa', 100, 'QGH7ABC123', 'R-2026-999996')", (bill,))
    error = _refused(database_url, "INSERT INTO payment (bill_id, method, amount_cents, mpesa_code, receipt_number) "
                                   "VALUES (%s, 'mpesa', 100, 'QGH7ABC123', 'R-2026-999995')", bill)
    assert isinstance(error, psycopg.errors.UniqueViolation)


def test_a_closed_shift_can_no_longer_change(database_url, app, paid_bill, shifts, desk):
    with app.app_context():
        services.close_shift(shifts["reception"], {"cash": 149900}, "float", desk["reception"])
    error = _refused(database_url, "UPDATE cash_shift SET close_note = 'edited' WHERE id = %s", shifts["reception"])
    assert "can no longer change" in str(error)
    _refused(database_url, "DELETE FROM cash_shift WHERE id = %s", shifts["reception"])
    _refused(database_url, "UPDATE cash_shift_count SET counted_cents = 0")
    error = _refused(database_url, "INSERT INTO payment (bill_id, method, amount_cents, reference, receipt_number, "
                                   "shift_id) VALUES (%s, 'card', 100, 'T', 'R-2026-999994', %s)",
                     paid_bill, shifts["reception"])
    assert "closed" in str(error)


def test_receipt_numbers_come_from_a_sequence_per_year(database_url):
    with admin_connection(database_url) as conn:
        a, b = (conn.execute("SELECT kliniki_receipt_number(2031)").fetchone()[0] for _ in range(2))
        other = conn.execute("SELECT kliniki_receipt_number(2032)").fetchone()[0]
    assert a.startswith("R-2031-") and len(a) == len("R-2031-000001")
    assert int(b[-6:]) == int(a[-6:]) + 1
    assert other == "R-2032-000001" or other.startswith("R-2032-")


def test_the_audits_bill_date_and_created_at_indexes_exist(database_url):
    with admin_connection(database_url) as conn:
        names = {row[0] for row in conn.execute("SELECT indexname FROM pg_indexes WHERE schemaname = 'public'")}
    assert {"ix_bill_opened_at", "ix_payment_created_at", "uq_bill_appointment_id", "uq_payment_receipt_number",
            "uq_payment_mpesa_code", "ix_bill_outstanding"} <= names
