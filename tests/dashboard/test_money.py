"""Revenue by day, method and service and outstanding balances, against bills made through the payments services.

The day's money (see `money` below): bill A (consultation + 2 blood counts, a line discount and a
whole-bill discount) paid by cash and card, part of the cash refunded; bill B (a consultation) paid by
card and the card payment voided; bill C charged and voided; bill D opened with nothing on it.
One more cash payment on bill A is dated yesterday (written as an import would, with its time).
"""
from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from datetime import date, timedelta

import pytest
from sqlalchemy import text

from portal import clinic_time
from portal.actor import Actor
from portal.dashboard import queries, reports
from portal.dashboard.queries import DateRange
from portal.extensions import db
from portal.idempotency import new_key
from portal.models import Service
from portal.payments import services
from portal.payments.forms import PaymentInput
from tests.helpers import login, money_summaries_off


@dataclass
class Money:
    today: date
    bills: dict[str, int]
    services: dict[str, int]


def _pay(bill_id: int, cents: int, method: str, actor: Actor, **details) -> int:
    return services.post_payment(bill_id, PaymentInput(method, cents, **details), actor, new_key())["payment_id"]


@pytest.fixture
def money(app, staff, patients):
    desk, admin = Actor(staff["reception"], "reception"), Actor(staff["admin"], "admin")
    with app.app_context():
        rows = {"consult": Service(code="CONS", name="Consultation", category="consultation", price_cents=150000),
                "lab": Service(code="FBC", name="Full blood count", category="laboratory", price_cents=80050),
                "dressing": Service(code="DRS", name="Wound dressing", category="procedure", price_cents=100000)}
        db.session.add_all(rows.values())
        db.session.commit()
        prices = {name: row.id for name, row in rows.items()}
        services.open_shift(desk, 0)
        services.open_shift(admin, 0)
        a = services.open_bill(patients[0], None, desk, new_key())
        services.add_line(a, prices["consult"], 1, None, desk, new_key())
        lab_line = services.add_line(a, prices["lab"], 2, None, desk, new_key())
        services.add_discount(a, lab_line, 10000, "staff family", admin, new_key())
        services.add_discount(a, None, 5000, "loyal patient", admin, new_key())  # total 295,100
        cash = _pay(a, 200000, "cash", desk)
        _pay(a, 95100, "card", desk, reference="4242")
        services.reverse_payment(cash, "refund", 20000, "overcharged", desk, new_key())
        b = services.open_bill(patients[1], None, desk, new_key())
        services.add_line(b, prices["consult"], 1, None, desk, new_key())
        card = _pay(b, 150000, "card", desk, reference="1111")
        services.reverse_payment(card, "void", None, "wrong card", admin, new_key())
        c = services.open_bill(patients[2], None, desk, new_key())
        services.add_line(c, prices["dressing"], 1, None, desk, new_key())
        services.void_bill(c, "opened in error", admin)
        d = services.open_bill(patients[3], None, desk, new_key())
        today = clinic_time.today()
        yesterday_noon = clinic_time.day_bounds(today - timedelta(days=1))[0] + timedelta(hours=12)
        db.session.execute(text(
            "INSERT INTO payment (bill_id, method, amount_cents, receipt_number, created_at) "
            "VALUES (:b, 'cash', 10000, kliniki_receipt_number(:year), :at)"),
            {"b": a, "at": yesterday_noon, "year": yesterday_noon.year})
        db.session.commit()
        db.session.remove()
    return Money(today, {"A": a, "B": b, "C": c, "D": d}, prices)


def test_revenue_counts_payments_less_refunds_and_voids_by_method(app, money):
    with app.app_context():
        figures = queries.revenue(DateRange(money.today, money.today))
    t = figures.total
    assert (t.payments, t.taken_cents, t.refunded_cents, t.voided_cents, t.net_cents) == \
        (3, 445100, 20000, 150000, 275100)
    by_method = {r.method: (r.payments, r.taken_cents, r.refunded_cents, r.voided_cents, r.net_cents)
                 for r in figures.by_method}
    assert by_method == {"cash": (1, 200000, 20000, 0, 180000), "card": (2, 245100, 0, 150000, 95100),
                         "mpesa": (0, 0, 0, 0, 0), "insurance": (0, 0, 0, 0, 0), "bank": (0, 0, 0, 0, 0)}
    assert [(r.bucket, r.net_cents) for r in figures.by_bucket.rows] == [(money.today, 275100)]


def test_revenue_over_a_range_puts_each_payment_on_its_own_day(app, money):
    yesterday = money.today - timedelta(days=1)
    with app.app_context():
        both = queries.revenue(DateRange(yesterday, money.today))
        before = queries.revenue(DateRange(yesterday - timedelta(days=5), yesterday))
        earlier = queries.revenue(DateRange(yesterday - timedelta(days=5), yesterday - timedelta(days=1)))
    assert [(r.bucket, r.payments, r.net_cents) for r in both.by_bucket.rows] == \
        [(yesterday, 1, 10000), (money.today, 3, 275100)]
    assert (both.total.payments, both.total.net_cents) == (4, 285100)
    assert (before.total.net_cents, before.by_method[0].net_cents) == (10000, 10000)
    assert (earlier.total.payments, earlier.total.net_cents, earlier.by_bucket.rows) == (0, 0, [])


def test_revenue_by_service_leaves_out_void_bills_and_counts_discounts(app, money):
    with app.app_context():
        rows, total = queries.by_service(DateRange(money.today, money.today))
    assert [(r.code, r.name, r.quantity, r.charged_cents, r.discount_cents, r.net_cents) for r in rows] == [
        ("CONS", "Consultation", 2, 300000, 0, 300000),
        ("FBC", "Full blood count", 2, 160100, 10000, 150100),
        (None, "Discounts on whole bills", 0, 0, 5000, -5000)]
    assert (total.quantity, total.charged_cents, total.discount_cents, total.net_cents) == (4, 460100, 15000, 445100)


def test_outstanding_balances_count_only_bills_still_owed_on(app, money):
    with app.app_context():
        owed = queries.outstanding()
    # A: 295,100 less 275,100 paid today and 10,000 yesterday; B: its payment was voided. C void, D empty.
    assert (owed.bills, owed.cents) == (2, 160000)
    assert clinic_time.local(owed.oldest_at).date() == money.today
    assert owed.bands == [("0–30 days", 2, 160000), ("30–60 days", 0, 0), ("60–90 days", 0, 0), ("90+ days", 0, 0)]


def test_the_dashboard_shows_the_money_as_shillings(app, client, staff, money):
    login(client, "admin1")
    page = client.get("/dashboard/", query_string={"from": money.today.isoformat(),
                                                   "to": money.today.isoformat()}).get_data(as_text=True)
    revenue = re.search(r'<section class="report" id="report-revenue-by-day".*?</section>', page, re.S).group(0)
    assert "Ksh\xa02,751.00" in revenue or "Ksh 2,751.00" in revenue
    assert 'id="chart-revenue"' in revenue
    method = re.search(r'<section class="report" id="report-revenue-by-method".*?</section>', page, re.S).group(0)
    assert "M-Pesa" in method and 'id="chart-revenue-method"' in method
    owed = re.search(r'<section class="report" id="report-outstanding".*?</section>', page, re.S).group(0)
    assert "1,600.00" in owed


def test_money_exports_are_integer_cents(app, client, staff, money):
    login(client, "admin1")
    day = {"from": money.today.isoformat(), "to": money.today.isoformat()}
    exports = {}
    for name in ("revenue-by-day", "revenue-by-method", "revenue-by-service", "outstanding"):
        response = client.get(f"/dashboard/{name}.csv", query_string=day)
        assert response.status_code == 200 and response.mimetype == "text/csv", name
        exports[name] = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert exports["revenue-by-day"][1:] == [[money.today.isoformat(), "3", "445100", "20000", "150000", "275100"],
                                            ["total", "3", "445100", "20000", "150000", "275100"]]
    assert exports["revenue-by-method"][1] == ["Cash", "1", "200000", "20000", "0", "180000"]
    assert exports["revenue-by-service"][-1] == ["", "total", "4", "460100", "15000", "445100"]
    # A whole-bill discount's row has no service code; its net is negative.
    assert exports["revenue-by-service"][3] == ["", "Discounts on whole bills", "0", "0", "5000", "-5000"]
    assert exports["outstanding"][1:3] == [["bills with a balance", "2"], ["owed (cents)", "160000"]]


def test_the_money_sections_are_registered_with_exports():
    names = {report.name for report in reports.MONEY_REPORTS}
    assert names == {"revenue-by-day", "revenue-by-method", "revenue-by-service", "outstanding"}
    assert all(report.name in reports.BY_NAME for report in reports.MONEY_REPORTS)


def test_the_money_summaries_equal_a_recount_of_payments_reversals_and_bills(app, money):
    assert money_summaries_off(app) == {}
    with app.app_context():
        kept = db.session.execute(text("SELECT sum(bills), sum(cents) FROM outstanding_total")).one()
        db.session.remove()
    assert tuple(kept) == (2, 160000)  # as the dashboard's outstanding figure above, from the shards
