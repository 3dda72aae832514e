"""Any sequence of charges, discounts, payments and refunds keeps paid + balance = total, in whole cents."""
from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from portal.domain import DomainError
from portal.idempotency import new_key
from portal.payments import services
from tests.payments.conftest import figures, pay, scalar

AMOUNT = st.integers(min_value=1, max_value=300_000)
STEP = st.one_of(
    st.tuples(st.just("charge"), st.sampled_from(["consult", "lab", "dressing"]), st.integers(1, 3)),
    st.tuples(st.just("discount"), AMOUNT, st.booleans()),
    st.tuples(st.just("pay"), AMOUNT, st.sampled_from(["cash", "card", "mpesa", "insurance", "bank"])),
    st.tuples(st.just("refund"), AMOUNT, st.booleans()),
)
DETAILS = {"cash": {}, "card": {"reference": "T1"}, "bank": {"reference": "B1"},
           "insurance": {"insurer": "NHIF", "member_number": "M1"}}


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(STEP, min_size=1, max_size=12))
def test_paid_plus_balance_is_always_the_total(app, visit, prices, shifts, desk, steps):
    with app.app_context():
        bill_id = services.open_bill(visit["patient_id"], None, desk["reception"], new_key())
        payments: list[int] = []
        for number, step in enumerate(steps):
            try:
                if step[0] == "charge":
                    services.add_line(bill_id, prices[step[1]], step[2], None, desk["reception"], new_key())
                elif step[0] == "discount":
                    services.add_discount(bill_id, None, step[1], "property", desk["admin"], new_key())
                elif step[0] == "pay":
                    details = DETAILS.get(step[2], {"mpesa_code": f"PROP{bill_id % 10000:04d}{number:02d}"})
                    payments.append(pay(bill_id, step[1], desk["reception"], step[2], **details)["payment_id"])
                elif payments:
                    kind = "void" if step[2] else "refund"
                    services.reverse_payment(payments[-1], kind, step[1], "property", desk["admin"], new_key())
            except DomainError:
                pass  # a refused step changes nothing; the figures below must still hold
            row = figures(app, bill_id)
            values = (row.total_cents, row.paid_cents, row.balance_cents, row.charged_cents, row.discount_cents)
            assert all(type(v) is int for v in values)
            assert row.paid_cents + row.balance_cents == row.total_cents
            assert 0 <= row.paid_cents <= row.total_cents
            assert row.total_cents == row.charged_cents - row.discount_cents >= 0
            kept = scalar(app, "SELECT balance_cents FROM bill WHERE id = :b", b=bill_id)
            assert kept == row.balance_cents  # the trigger's copy never drifts from the view
            assert row.status == ("open" if row.paid_cents == 0 else "paid" if row.balance_cents == 0
                                  else "partly_paid")
