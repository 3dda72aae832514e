"""Revenue by service from its day summary (migration 0018) equals a count of the bill rows, in every zone.

The summary is kept per UTC day; a clinic-local day starts at another instant, so a range's partial
UTC days at either end are read from the rows. Moves are placed just either side of UTC and local
midnights, and every range over them is checked against the rows in four zones (whole, negative,
half- and quarter-hour offsets).
"""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest
from sqlalchemy import text

from portal.actor import Actor
from portal.dashboard import queries
from portal.dashboard.queries import DateRange, whole_utc_days
from portal.extensions import db
from portal.idempotency import new_key
from portal.models import Service
from portal.payments import services
from tests.helpers import money_summaries_off

# The range's figures from the bill rows alone: what the dashboard read before the summary.
FROM_ROWS_SQL = """
WITH void_bill AS (SELECT id FROM bill WHERE status = 'void'), moves AS (
    SELECT l.service_id, l.quantity, l.line_cents AS charged, 0 AS discounted FROM bill_line l
    WHERE l.created_at >= :start AND l.created_at < :end AND l.bill_id NOT IN (SELECT id FROM void_bill)
    UNION ALL
    SELECT l.service_id, 0, 0, d.amount_cents FROM bill_discount d LEFT JOIN bill_line l ON l.id = d.bill_line_id
    WHERE d.created_at >= :start AND d.created_at < :end AND d.bill_id NOT IN (SELECT id FROM void_bill)
    UNION ALL
    SELECT l.service_id, -l.quantity, -l.line_cents,
           -(SELECT coalesce(sum(d.amount_cents), 0) FROM bill_discount d WHERE d.bill_line_id = l.id)
    FROM bill_line_void v JOIN bill_line l ON l.id = v.bill_line_id
    WHERE v.created_at >= :start AND v.created_at < :end AND v.bill_id NOT IN (SELECT id FROM void_bill)
)
SELECT s.code, sum(quantity)::bigint, sum(charged)::bigint, sum(discounted)::bigint
FROM moves LEFT JOIN service s ON s.id = moves.service_id
GROUP BY s.code HAVING sum(quantity) <> 0 OR sum(charged) <> 0 OR sum(discounted) <> 0"""

DAY = date(2026, 6, 10)
ZONES = ("Africa/Nairobi", "America/St_Johns", "Asia/Kathmandu", "UTC")


def utc(day_offset: int, hour: int, minute: int) -> datetime:
    return datetime(DAY.year, DAY.month, DAY.day, hour, minute, tzinfo=timezone.utc) + timedelta(days=day_offset)


# Instants just either side of midnight UTC, Nairobi's (21:00 UTC), St John's (02:30 or 03:30 UTC)
# and Kathmandu's (18:15 UTC), over five days.
TIMES = [utc(day, hour, minute) for day in range(-2, 3)
         for hour, minute in ((0, 5), (23, 55), (20, 55), (21, 5), (2, 25), (3, 35), (18, 10), (18, 20), (12, 0))]


def _insert(sql: str, **values) -> int:
    return db.session.execute(text(sql + " RETURNING id"), values).scalar_one()


@pytest.fixture
def charged(app, staff, patients):
    """Lines, line and whole-bill discounts and line voids at TIMES on four bills; one bill voided after."""
    desk, admin = Actor(staff["reception"], "reception"), Actor(staff["admin"], "admin")
    with app.app_context():
        rows = [Service(code=f"S{i}", name=f"Service {i}", category="procedure", price_cents=1000 * (i + 1))
                for i in range(3)]
        db.session.add_all(rows)
        db.session.commit()
        prices = [(row.id, row.code, row.name, row.price_cents) for row in rows]
        bills = [services.open_bill(patients[i], None, desk, new_key()) for i in range(4)]
        for index, at in enumerate(TIMES):
            bill = bills[index % len(bills)]
            service_id, code, name, price = prices[index % len(prices)]
            quantity = 1 + index % 3
            line = _insert("INSERT INTO bill_line (bill_id, service_id, code, name, unit_cents, quantity, line_cents, "
                           "source, created_at) VALUES (:b, :s, :c, :n, :p, :q, :p * :q, 'import', :at)",
                           b=bill, s=service_id, c=code, n=name, p=price, q=quantity, at=at)
            if index % 4 == 0:  # a discount on the line, a few hours later
                _insert("INSERT INTO bill_discount (bill_id, bill_line_id, amount_cents, reason, created_at) "
                        "VALUES (:b, :l, 100, 'goodwill', :at)", b=bill, l=line, at=at + timedelta(hours=3))
            if index % 5 == 0:  # on the whole bill
                _insert("INSERT INTO bill_discount (bill_id, amount_cents, reason, created_at) "
                        "VALUES (:b, 50, 'loyal', :at)", b=bill, at=at)
            if index % 7 == 3:  # voided by mistake the next day, its discounts with it
                _insert("INSERT INTO bill_line_void (bill_line_id, bill_id, amount_cents, reason, actor_id, "
                        "created_at) VALUES (:l, :b, :a, 'wrong', :u, :at)",
                        l=line, b=bill, a=price * quantity, u=staff["admin"], at=at + timedelta(days=1, hours=1))
        db.session.commit()
        services.void_bill(bills[3], "opened in error", admin)
        db.session.remove()
    return bills


def test_the_day_summary_follows_lines_discounts_line_voids_and_a_bill_void(app, charged):
    assert money_summaries_off(app) == {}
    with app.app_context():
        kept = db.session.execute(text("SELECT count(*) FROM service_day_total")).scalar_one()
        db.session.remove()
    assert kept > 0


def test_by_service_equals_the_rows_for_every_range_in_every_zone(app, charged):
    checked = 0
    try:
        for zone in ZONES:
            app.config["CLINIC_TIMEZONE"] = zone
            with app.app_context():
                for first in (DAY + timedelta(days=d) for d in range(-3, 3)):
                    for last in (first + timedelta(days=d) for d in range(0, 4)):
                        span = DateRange(first, last)
                        start, end = span.bounds
                        rows, total = queries.by_service(span)
                        got = {(r.code, r.quantity, r.charged_cents, r.discount_cents) for r in rows}
                        want = {tuple(row) for row in db.session.execute(
                            text(FROM_ROWS_SQL), {"start": start, "end": end})}
                        assert got == want, (zone, first, last)
                        assert (total.quantity, total.charged_cents, total.discount_cents) == \
                            tuple(sum(row[i] for row in want) for i in (1, 2, 3)), (zone, first, last)
                        assert all(r.net_cents == r.charged_cents - r.discount_cents for r in rows)
                        checked += 1 if want else 0
                db.session.remove()
    finally:
        app.config["CLINIC_TIMEZONE"] = "Africa/Nairobi"
    assert checked > 60  # most ranges had something in them


@pytest.mark.parametrize(("start", "end", "whole"), [
    (datetime(2026, 6, 9, 21, tzinfo=timezone.utc), datetime(2026, 6, 12, 21, tzinfo=timezone.utc),
     (datetime(2026, 6, 10, tzinfo=timezone.utc), datetime(2026, 6, 12, tzinfo=timezone.utc))),
    (datetime(2026, 6, 10, tzinfo=timezone.utc), datetime(2026, 6, 11, tzinfo=timezone.utc),
     (datetime(2026, 6, 10, tzinfo=timezone.utc), datetime(2026, 6, 11, tzinfo=timezone.utc))),
    (datetime(2026, 6, 9, 21, tzinfo=timezone.utc), datetime(2026, 6, 10, 21, tzinfo=timezone.utc),
     (datetime(2026, 6, 10, 21, tzinfo=timezone.utc), datetime(2026, 6, 10, 21, tzinfo=timezone.utc))),
])
def test_whole_utc_days(start, end, whole):
    assert whole_utc_days(start, end) == whole
