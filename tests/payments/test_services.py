"""Bills, lines, discounts, payments, refunds and voids through the services, on real PostgreSQL."""
from __future__ import annotations

import pytest
from sqlalchemy import text

from portal.domain import BadInput, Conflict, Forbidden, NotFound
from portal.extensions import db
from portal.idempotency import new_key
from portal.payments import services
from tests.payments.conftest import figures, pay, scalar

pytestmark = pytest.mark.pgbouncer  # run again through PgBouncer by make test


def test_one_bill_per_visit_opened_twice_is_the_same_bill(app, visit, desk):
    with app.app_context():
        first = services.open_bill(visit["patient_id"], visit["appointment_id"], desk["reception"])
        again = services.open_bill(visit["patient_id"], visit["appointment_id"], desk["admin"])
    assert first == again
    assert scalar(app, "SELECT count(*) FROM bill") == 1


def test_a_line_copies_name_and_price_and_a_price_change_leaves_the_bill_alone(app, bill, prices, desk):
    with app.app_context():
        db.session.execute(text("UPDATE service SET price_cents = 999900, name = 'Renamed' WHERE id = :s"),
                           {"s": prices["consult"]})
        db.session.commit()
    row = figures(app, bill)
    assert (row.total_cents, row.balance_cents, row.status) == (150000, 150000, "open")
    assert scalar(app, "SELECT name FROM bill_line WHERE bill_id = :b", b=bill) == "Consultation"


def test_variable_price_within_range_only(app, bill, prices, desk):
    with app.app_context():
        services.add_line(bill, prices["dressing"], 2, 75000, desk["reception"], new_key())
        with pytest.raises(BadInput, match="between"):
            services.add_line(bill, prices["dressing"], 1, 300000, desk["reception"], new_key())
        with pytest.raises(BadInput, match="fixed price"):
            services.add_line(bill, prices["consult"], 1, 1000, desk["reception"], new_key())
        with pytest.raises(Conflict, match="no longer"):
            services.add_line(bill, prices["old"], 1, None, desk["reception"], new_key())
    assert figures(app, bill).total_cents == 150000 + 150000


def test_charge_services_from_the_same_source_twice_adds_nothing(app, bill, prices, desk):
    with app.app_context():
        with db.session.begin():
            added = services.charge_services(db.session, bill, [(prices["lab"], 1), (prices["dressing"], 2)],
                                             desk["doctor"], "consultation", 77)
        with db.session.begin():
            again = services.charge_services(db.session, bill, [(prices["lab"], 1), (prices["dressing"], 2)],
                                             desk["doctor"], "consultation", 77)
    assert (added, again) == (2, 0)
    assert figures(app, bill).total_cents == 150000 + 80050 + 200000


def test_partial_payments_then_paid_and_change_for_cash(app, bill, shifts, desk):
    with app.app_context():
        first = pay(bill, 50000, desk["reception"], "mpesa", mpesa_code="QGH7ABC123")
        assert figures(app, bill).status == "partly_paid"
        second = pay(bill, 200000, desk["reception"], "cash", tendered_cents=200000)
    assert second["amount_cents"] == 100000 and second["change_cents"] == 100000
    row = figures(app, bill)
    assert (row.paid_cents, row.balance_cents, row.status) == (150000, 0, "paid")
    assert first["receipt_number"] != second["receipt_number"]
    assert first["receipt_number"].startswith("R-20")


def test_refused_payments_change_nothing(app, bill, shifts, desk):
    with app.app_context():
        with pytest.raises(Conflict, match="more than the balance"):
            pay(bill, 150001, desk["reception"], "card", reference="T1")
        with pytest.raises(BadInput):
            pay(bill, 0, desk["reception"], "card", reference="T1")
        with pytest.raises(Forbidden):
            pay(bill, 100, desk["doctor"], "card", reference="T1")
        with pytest.raises(Forbidden):
            pay(bill, 100, desk["nurse"], "card", reference="T1")
        pay(bill, 100, desk["reception"], "mpesa", mpesa_code="QGH7ABC999")
        with pytest.raises(Conflict, match="already on a payment"):
            pay(bill, 100, desk["reception"], "mpesa", mpesa_code="QGH7ABC999")
        with pytest.raises(NotFound):
            pay(2**62, 100, desk["reception"], "card", reference="T1")
    assert scalar(app, "SELECT count(*) FROM payment") == 1


def test_no_shift_no_money(app, bill, desk):
    with app.app_context(), pytest.raises(Conflict, match="shift"):
        pay(bill, 100, desk["reception"], "card", reference="T1")


def test_same_key_twice_is_one_payment_with_the_same_answer(app, bill, shifts, desk):
    key = new_key()
    with app.app_context():
        first = pay(bill, 1000, desk["reception"], "card", key=key, reference="T1")
        again = pay(bill, 1000, desk["reception"], "card", key=key, reference="T1")
    assert first == again
    assert scalar(app, "SELECT count(*) FROM payment") == 1


def test_discounts_need_a_role_within_limits_and_never_exceed_what_is_paid(app, bill, shifts, desk, prices):
    with app.app_context():
        with pytest.raises(Forbidden, match="up to"):
            services.add_discount(bill, None, 20000, "loyal", desk["reception"], new_key())
        services.add_discount(bill, None, 10000, "loyal", desk["reception"], new_key())
        line = db.session.execute(text("SELECT id FROM bill_line WHERE bill_id = :b"), {"b": bill}).scalar()
        db.session.rollback()
        with pytest.raises(Conflict):
            services.add_discount(bill, line, 150001, "too much", desk["admin"], new_key())
        pay(bill, 140000, desk["reception"], "card", reference="T1")
        with pytest.raises(Conflict, match="refund"):
            services.add_discount(bill, None, 100, "late", desk["admin"], new_key())
    row = figures(app, bill)
    assert (row.total_cents, row.paid_cents, row.balance_cents, row.status) == (140000, 140000, 0, "paid")


def test_void_is_admin_only_and_a_refund_reopens_the_balance(app, bill, shifts, desk):
    with app.app_context():
        paid = pay(bill, 150000, desk["reception"], "card", reference="T1")
        with pytest.raises(Forbidden):
            services.reverse_payment(paid["payment_id"], "void", None, "mistake", desk["reception"], new_key())
        with pytest.raises(Forbidden):
            services.reverse_payment(paid["payment_id"], "refund", 100, "x", desk["doctor"], new_key())
        services.reverse_payment(paid["payment_id"], "refund", 50000, "overcharged", desk["reception"], new_key())
        assert figures(app, bill).status == "partly_paid"
        with pytest.raises(Conflict, match="left"):
            services.reverse_payment(paid["payment_id"], "refund", 100001, "again", desk["reception"], new_key())
        services.reverse_payment(paid["payment_id"], "void", None, "wrong bill", desk["admin"], new_key())
        with pytest.raises(Conflict):
            services.reverse_payment(paid["payment_id"], "void", None, "twice", desk["admin"], new_key())
    row = figures(app, bill)
    assert (row.paid_cents, row.balance_cents, row.status) == (0, 150000, "open")
    assert scalar(app, "SELECT sum(amount_cents) FROM payment_reversal") == 150000


def test_void_bill_needs_nothing_paid(app, bill, shifts, desk):
    with app.app_context():
        paid = pay(bill, 100, desk["reception"], "card", reference="T1")
        with pytest.raises(Conflict):
            services.void_bill(bill, "duplicate", desk["admin"])
        services.reverse_payment(paid["payment_id"], "void", None, "mistake", desk["admin"], new_key())
        with pytest.raises(Forbidden):
            services.void_bill(bill, "duplicate", desk["reception"])
        services.void_bill(bill, "duplicate", desk["admin"])
        with pytest.raises(Conflict, match="void"):
            pay(bill, 100, desk["reception"], "card", reference="T2")
    row = figures(app, bill)
    assert (row.status, row.total_cents, row.balance_cents) == ("void", 0, 0)


def test_shift_close_expects_what_sql_sums_and_a_difference_needs_a_note(app, bill, shifts, desk):
    with app.app_context():
        pay(bill, 60000, desk["reception"], "cash")
        pay(bill, 40000, desk["reception"], "card", reference="T1")
        counted = {"cash": 160000, "card": 40000, "mpesa": 0, "insurance": 0, "bank": 0}
        with pytest.raises(BadInput, match="explain"):
            services.close_shift(shifts["reception"], {**counted, "cash": 150000}, None, desk["reception"])
        with pytest.raises(Forbidden):
            services.close_shift(shifts["reception"], counted, None, Actor_other(desk))
        assert services.close_shift(shifts["reception"], counted, None, desk["reception"])["cash"] == 0
        with pytest.raises(Conflict, match="already closed"):
            services.close_shift(shifts["reception"], counted, None, desk["reception"])
        with pytest.raises(Conflict, match="shift"):
            pay(bill, 100, desk["reception"], "card", reference="T3")
        with pytest.raises(Forbidden, match="closed"):
            payment_id = db.session.execute(text("SELECT min(id) FROM payment")).scalar()
            db.session.rollback()
            services.reverse_payment(payment_id, "refund", 100, "x", desk["reception"], new_key())
    assert scalar(app, "SELECT count(*) FROM cash_shift_count WHERE shift_id = :s", s=shifts["reception"]) == 5


def Actor_other(desk):
    from portal.actor import Actor
    return Actor(desk["doctor"].user_id, "reception")


def test_only_admin_voids_a_closed_shifts_payment_and_the_void_lands_in_an_open_shift(app, bill, shifts, desk):
    with app.app_context():
        paid = pay(bill, 50000, desk["reception"], "cash")
        services.close_shift(shifts["reception"], {"cash": 150000}, None, desk["reception"])
        with pytest.raises(Forbidden, match="closed"):
            services.reverse_payment(paid["payment_id"], "refund", None, "changed mind", desk["reception"], new_key())
        services.reverse_payment(paid["payment_id"], "void", None, "wrong patient", desk["admin"], new_key())
    assert scalar(app, "SELECT shift_id FROM payment_reversal") == shifts["admin"]
    assert figures(app, bill).paid_cents == 0


def test_an_insurance_payment_is_a_claim_until_the_insurer_answers(app, bill, shifts, desk):
    with app.app_context():
        first = pay(bill, 100000, desk["reception"], "insurance", insurer="NHIF", member_number="M-1",
                    preauth_number="PA-9")
        second = pay(bill, 50000, desk["reception"], "insurance", insurer="AAR", member_number="M-2")
        with pytest.raises(BadInput, match="why"):
            services.record_claim_outcome(second["payment_id"], "rejected", None, desk["reception"])
        services.record_claim_outcome(first["payment_id"], "settled", None, desk["reception"])
        with pytest.raises(Conflict, match="already"):
            services.record_claim_outcome(first["payment_id"], "rejected", "late", desk["admin"])
        services.record_claim_outcome(second["payment_id"], "rejected", "not covered", desk["reception"])
        from portal.payments import queries
        statuses = [p.claim_status for p in queries.bill_detail(db.session, bill)["payments"]]
        db.session.rollback()
    assert statuses == ["settled", "rejected"]
    row = figures(app, bill)
    assert (row.paid_cents, row.balance_cents, row.status) == (100000, 50000, "partly_paid")
