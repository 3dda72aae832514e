"""A mistaken charge is voided as a new row with a reason, by an admin; totals, the bill and the cash-up show it."""
from __future__ import annotations

import psycopg
import pytest

from portal.domain import Conflict, Forbidden
from portal.idempotency import new_key
from portal.payments import services
from tests.helpers import admin_connection, race
from tests.payments.conftest import figures, pay, scalar
from tests.payments.test_pages import HX, form_of, page


def _lab_line(app, bill_id, prices, desk) -> int:
    with app.app_context():
        return services.add_line(bill_id, prices["lab"], 1, None, desk["reception"], new_key())


def test_an_admin_voids_a_charge_and_the_totals_leave_it_out(app, bill, prices, desk, shifts):
    line = _lab_line(app, bill, prices, desk)
    assert figures(app, bill).total_cents == 230050
    with app.app_context():
        with pytest.raises(Forbidden):
            services.void_line(bill, line, "wrong test", desk["reception"], new_key())
        services.void_line(bill, line, "wrong test", desk["admin"], new_key())
        with pytest.raises(Conflict):
            services.void_line(bill, line, "again", desk["admin"], new_key())
    row = figures(app, bill)
    assert (row.charged_cents, row.voided_cents, row.total_cents, row.balance_cents) == (150000, 80050, 150000, 150000)
    assert scalar(app, "SELECT balance_cents FROM bill WHERE id = :b", b=bill) == 150000
    assert scalar(app, "SELECT count(*) FROM audit_event WHERE action = 'bill.line_void'") == 1


def test_a_voided_charge_cannot_be_discounted(app, bill, prices, desk):
    line = _lab_line(app, bill, prices, desk)
    with app.app_context():
        services.void_line(bill, line, "wrong test", desk["admin"], new_key())
        with pytest.raises(Conflict, match="void"):
            services.add_discount(bill, line, 1000, "goodwill", desk["admin"], new_key())
    assert scalar(app, "SELECT count(*) FROM bill_discount WHERE bill_id = :b", b=bill) == 0
    assert figures(app, bill).total_cents == 150000

def test_a_void_that_would_leave_the_bill_overpaid_is_refused(app, bill, prices, desk, shifts):
    line = _lab_line(app, bill, prices, desk)
    with app.app_context():
        pay(bill, 200000, desk["reception"], "card", reference="T")
        with pytest.raises(Conflict, match="refund first"):
            services.void_line(bill, line, "wrong test", desk["admin"], new_key())
    assert figures(app, bill).voided_cents == 0


def test_line_voids_are_never_updated_or_deleted(app, database_url, bill, prices, desk):
    line = _lab_line(app, bill, prices, desk)
    with app.app_context():
        services.void_line(bill, line, "wrong test", desk["admin"], new_key())
    for sql in ("UPDATE bill_line_void SET reason = 'x'", "DELETE FROM bill_line_void"):
        with admin_connection(database_url) as conn, pytest.raises(psycopg.Error, match="never changed"):
            conn.execute(sql)


def test_a_line_void_racing_a_payment_never_leaves_paid_above_total(racing_app, app, bill, prices, desk, shifts):
    for _ in range(6):
        with app.app_context():
            bill_id = services.open_bill(figures(app, bill).patient_id, None, desk["reception"], new_key())
            services.add_line(bill_id, prices["consult"], 1, None, desk["reception"], new_key())
        line = _lab_line(app, bill_id, prices, desk)
        outcomes = race(racing_app, [
            lambda b=bill_id, line=line: services.void_line(b, line, "wrong test", desk["admin"], new_key()),
            lambda b=bill_id: pay(b, 230050, desk["reception"], "card", reference="ALL")])
        won = [o for o in outcomes if not isinstance(o, Exception)]
        assert len(won) == 1 and all(isinstance(o, Conflict) for o in outcomes if isinstance(o, Exception)), outcomes
        row = figures(racing_app, bill_id)
        assert row.paid_cents <= row.total_cents and row.paid_cents + row.balance_cents == row.total_cents


def test_the_bill_page_and_the_cash_up_show_a_voided_charge(app, login_as, bill, prices, desk, shifts):
    line = _lab_line(app, bill, prices, desk)
    admin = login_as("admin")
    html = page(admin, f"/payments/bills/{bill}")
    assert f'action="/payments/bills/{bill}/lines/{line}/void"' in html
    fields = {"csrf_token": form_of(html, "payment-form")["csrf_token"], "key": new_key()}
    refused = admin.post(f"/payments/bills/{bill}/lines/{line}/void", headers=HX, data={**fields, "reason": "\x00"})
    assert refused.status_code == 422 and figures(app, bill).voided_cents == 0
    done = admin.post(f"/payments/bills/{bill}/lines/{line}/void", headers=HX,
                      data={**fields, "key": new_key(), "reason": "ordered in error"})
    body = done.get_data(as_text=True)
    assert done.status_code == 200 and 'data-voided="true"' in body and "ordered in error" in body
    assert 'id="bill-voided">Ksh 800.50' in body and 'id="bill-total">Ksh 1,500.00' in body
    option = f'<option value="{line}">Full blood count</option>'  # the discount form's choice of line
    assert option in html and option not in body  # a void charge has nothing left to discount
    report = page(admin, "/payments/report")
    assert "Charge void" in report and "ordered in error" in report
    csv = admin.get("/payments/report.csv").get_data(as_text=True)
    assert "charge void,FBC Full blood count on B" in csv and "service,FBC" not in csv  # not sold, voided


def test_reception_cannot_void_a_charge(app, login_as, bill, prices, desk, shifts):
    line = _lab_line(app, bill, prices, desk)
    reception = login_as("reception")
    html = page(reception, f"/payments/bills/{bill}")
    assert "Void charge" not in html
    answer = reception.post(f"/payments/bills/{bill}/lines/{line}/void", headers=HX,
                            data={"csrf_token": form_of(html, "payment-form")["csrf_token"], "key": new_key(),
                                  "reason": "x"})
    assert answer.status_code == 403 and figures(app, bill).voided_cents == 0
