"""Real threads on real connections: desks paying one bill at once never overpay, keys and receipts hold."""
from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta, timezone

import pytest

from portal import clinic_time
from portal.domain import Conflict
from portal.extensions import db
from portal.idempotency import new_key
from portal.ops.upkeep import run_upkeep
from portal.payments import services
from portal.payments.summaries import SHARDED, fold_summary_shards
from tests.helpers import admin_connection, money_summaries_off, race
from tests.payments.conftest import figures, pay, scalar

pytestmark = pytest.mark.pgbouncer  # run again through PgBouncer by make test


def _kind(outcome) -> str:
    if isinstance(outcome, dict):
        return "paid"
    if isinstance(outcome, Conflict):
        return "refused"
    return f"error:{type(outcome).__name__}:{outcome}"


@pytest.mark.parametrize("desks, each", [(2, 100000), (16, 20000)])
def test_desks_paying_one_bill_at_once_never_overpay(racing_app, bill, shifts, desk, desks, each):
    roles = ["reception", "admin"]
    outcomes = race(racing_app, [
        (lambda role=roles[i % 2], i=i: pay(bill, each, desk[role], "card", reference=f"T{i}"))
        for i in range(desks)])
    kinds = Counter(_kind(o) for o in outcomes)
    accepted = 150000 // each
    assert kinds == {"paid": accepted, "refused": desks - accepted}, kinds
    row = figures(racing_app, bill)
    assert row.paid_cents == accepted * each <= row.total_cents
    # Every accepted payment is in a shift's expected card takings.
    with racing_app.app_context():
        expected = sum(services.expected_amounts(db.session, shifts[r])["card"] for r in roles)
        db.session.rollback()
    assert expected == accepted * each
    assert money_summaries_off(racing_app) == {}  # the cash-up's summaries kept every accepted payment


def test_the_same_key_from_100_threads_is_one_payment_and_one_answer(racing_app, bill, shifts, desk):
    key = new_key()
    outcomes = race(racing_app, [
        (lambda: pay(bill, 25000, desk["reception"], "card", key=key, reference="T1")) for _ in range(100)],
        connect_first=False)
    assert all(isinstance(o, dict) for o in outcomes), Counter(_kind(o) for o in outcomes)
    assert len({tuple(sorted(o.items())) for o in outcomes}) == 1
    assert scalar(racing_app, "SELECT count(*) FROM payment") == 1
    assert scalar(racing_app, "SELECT count(DISTINCT receipt_number) FROM payment") == 1


def test_a_void_racing_a_payment_keeps_the_bill_consistent(racing_app, app, visit, prices, shifts, desk):
    for _ in range(10):
        with app.app_context():
            bill_id = services.open_bill(visit["patient_id"], None, desk["reception"], new_key())
            services.add_line(bill_id, prices["consult"], 1, None, desk["reception"], new_key())
            first = pay(bill_id, 100000, desk["reception"], "card", reference="T1")
        outcomes = race(racing_app, [
            lambda first=first: services.reverse_payment(first["payment_id"], "void", None, "wrong", desk["admin"],
                                                         new_key()),
            lambda bill_id=bill_id: pay(bill_id, 50000, desk["reception"], "card", reference="T2")])
        assert all(isinstance(o, dict) for o in outcomes), outcomes
        row = figures(racing_app, bill_id)
        assert (row.paid_cents, row.balance_cents, row.status) == (50000, 100000, "partly_paid")


def test_receipt_numbers_are_unique_under_concurrency(racing_app, app, visit, prices, shifts, desk):
    with app.app_context():
        bills = []
        for _ in range(16):
            bill_id = services.open_bill(visit["patient_id"], None, desk["reception"], new_key())
            services.add_line(bill_id, prices["consult"], 1, None, desk["reception"], new_key())
            bills.append(bill_id)
    outcomes = race(racing_app, [
        (lambda b=b, i=i: pay(b, 1000, desk["reception" if i % 2 else "admin"], "cash")) for i, b in enumerate(bills)])
    numbers = [o["receipt_number"] for o in outcomes]
    assert len(set(numbers)) == 16
    assert len({n[:7] for n in numbers}) == 1  # one year's sequence
    serials = sorted(int(n[7:]) for n in numbers)
    assert serials == list(range(serials[0], serials[0] + 16))


def test_two_desks_opening_the_same_visits_bill_at_once_get_one_bill(racing_app, visit, desk):
    outcomes = race(racing_app, [
        (lambda role=role: services.open_bill(visit["patient_id"], visit["appointment_id"], desk[role]))
        for role in ("reception", "admin") * 4])
    assert len(set(outcomes)) == 1 and isinstance(outcomes[0], int), outcomes
    assert scalar(racing_app, "SELECT count(*) FROM bill") == 1


# A desk's posting as the service makes it, in plain SQL: the payment insert fires the summary triggers.
DESK_PAYMENT = ("INSERT INTO payment (bill_id, method, amount_cents, reference, receipt_number, cashier_id, shift_id) "
                "VALUES (%s, 'card', 100, 'T', kliniki_receipt_number(2099), %s, %s)")


def _open_bills(app, visit, prices, desk, count: int) -> list[int]:
    """`count` sale bills of the visit's patient, a consultation charged on each."""
    with app.app_context():
        bills = [services.open_bill(visit["patient_id"], None, desk["reception"], new_key()) for _ in range(count)]
        for bill_id in bills:
            services.add_line(bill_id, prices["consult"], 1, None, desk["reception"], new_key())
        return bills


def test_two_desks_posting_in_the_same_quarter_hour_do_not_queue_on_its_summary(database_url, app, visit, prices,
                                                                                shifts, desk, staff):
    bills = _open_bills(app, visit, prices, desk, 2)
    with admin_connection(database_url, autocommit=True) as conn:
        conn.execute("SELECT kliniki_receipt_number(2099)")  # the year's first receipt creates its sequence
    first = admin_connection(database_url)
    second = admin_connection(database_url)
    try:
        # Two backends in different shards (pids 64 apart would share one; open another if so).
        while second.info.backend_pid % 64 == first.info.backend_pid % 64:
            second.close()
            second = admin_connection(database_url)
        first.execute(DESK_PAYMENT, (bills[0], staff["reception"], shifts["reception"]))  # held open
        second.execute("SET lock_timeout = '2s'")
        # The same method in the same quarter hour: one summary row each before the shards, so this waited.
        second.execute(DESK_PAYMENT, (bills[1], staff["admin"], shifts["admin"]))
        second.commit()
        first.commit()
    finally:
        first.close()
        second.close()
    assert scalar(app, "SELECT count(DISTINCT shard) FROM money_quarter_total WHERE method = 'card'") == 2
    assert money_summaries_off(app) == {}


def test_folding_the_shards_keeps_every_summary_and_leaves_one_row_per_key(racing_app, app, visit, prices, shifts,
                                                                            desk):
    bills = _open_bills(app, visit, prices, desk, 8)
    outcomes = race(racing_app, [(lambda b=b: pay(b, 1000, desk["reception"], "card")) for b in bills])
    assert all(isinstance(o, dict) for o in outcomes), outcomes
    assert scalar(app, "SELECT count(*) FROM money_quarter_total WHERE shard <> 0") >= 1
    later = datetime(2100, 1, 1, tzinfo=timezone.utc)
    with app.app_context():
        assert fold_summary_shards(later) > 0
        assert fold_summary_shards(later) == 0  # nothing left to fold
    for table, (keys, _) in SHARDED.items():
        assert scalar(app, f"SELECT count(*) FROM {table} WHERE shard <> 0") == 0
        assert scalar(app, f"SELECT count(*) - count(DISTINCT ({', '.join(keys)})) FROM {table}") == 0
    assert money_summaries_off(app) == {}


def test_the_daily_upkeep_folds_the_shards_of_quarter_hours_over_an_hour_old(app, bill, shifts, desk):
    with app.app_context():
        pay(bill, 1000, desk["reception"], "card")
        report = run_upkeep()  # this quarter hour is too recent: left in its shard
        assert report.summary_rows_folded == 0
        with clinic_time.frozen(datetime.now(timezone.utc) + timedelta(hours=2)):
            report = run_upkeep()
    assert report.summary_rows_folded >= 3  # by method, by doctor, by service
    assert scalar(app, "SELECT count(*) FROM money_quarter_total WHERE shard <> 0") == 0
    assert money_summaries_off(app) == {}
