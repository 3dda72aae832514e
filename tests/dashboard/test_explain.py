"""Each dashboard statement reads its table through an index range, not a scan of the table."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from portal.dashboard import queries
from portal.db import driver_sql
from portal.extensions import db

START = datetime(2031, 3, 3, 21, tzinfo=timezone.utc)
END = START + timedelta(days=30)
PARAMS = {"start": START, "end": END, "tz": "Africa/Nairobi", "unit": "day", "now": END,
          "limit": queries.MAX_DOCTORS, "first": date(2031, 3, 4), "last": date(2031, 4, 2), "step": "1 day",
          "whole_from": START + timedelta(hours=3), "whole_to": END - timedelta(hours=21),
          **{f"opened_{days}": END - timedelta(days=days) for days in (30, 60, 90)}}
EXPECTED = {  # the index each statement must range over
    "by status": "ix_appointment_starts_at", "by doctor": "ix_appointment_starts_at",
    "waits": "ix_appointment_event_visit", "rates": "pk_appointment_quarter_count",
    "utilisation": "ix_slot_starts_at_doctor_id", "new patients": "ix_patient_created_at",
    "revenue": "pk_money_quarter_total", "by service": "pk_service_day_total",
    # Either partial index of open bills serves it (both carry the balance).
    "outstanding": ("ix_bill_outstanding_balance", "ix_bill_owed_by_patient"),
}
ALSO = {  # further tables a statement reads, each through its index
    "waits": ("ix_appointment_starts_at",),
    "by service": ("ix_bill_line_created_at_covering", "ix_bill_void", "ix_bill_discount_created_at",
                   "ix_bill_line_void_created_at"),
}
TABLES = ("appointment", "appointment_event", "slot", "patient", "payment", "payment_reversal", "bill",
          "appointment_quarter_count", "money_quarter_total",
          "bill_line", "bill_discount", "bill_line_void", "service_day_total")


def plan_of(statement: str) -> str:
    """EXPLAIN of a statement as psycopg sends it, with sequential scans priced out."""
    connection = db.session.connection().connection.driver_connection
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("EXPLAIN " + driver_sql(statement), PARAMS)
        return "\n".join(row[0] for row in cursor.fetchall())


@pytest.mark.parametrize("name", queries.STATEMENTS)
def test_dashboard_statement_uses_an_index(app, name):
    with app.app_context():
        plan = plan_of(queries.STATEMENTS[name])
        db.session.rollback()
    for table in TABLES:
        assert f"Seq Scan on {table} " not in plan + " ", plan
    expected = EXPECTED[name]
    assert any(index in plan for index in ((expected,) if isinstance(expected, str) else expected)), plan
    for index in ALSO.get(name, ()):
        assert index in plan, plan


def test_every_statement_is_checked():
    assert set(EXPECTED) == set(queries.STATEMENTS)
