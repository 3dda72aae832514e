"""The schedule's frequent queries can be served by an index (EXPLAIN with sequential scans off)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import text

from portal.extensions import db
from portal.idempotency import CLAIM_SQL
from portal.schedule.availability import NEEDS_RESCHEDULING_SQL
from portal.schedule.queries import CELLS_SQL, DAY_LIST_SQL, DAY_VERSION_SQL, QUESTIONS_SQL
from portal.schedule.services import LOCK_SLOTS_SQL, PATIENT_CLASH_SQL

START = datetime(2030, 1, 7, 5, tzinfo=timezone.utc)
QUERIES = {
    "day grid": (CELLS_SQL.format(where="s.starts_at >= :start AND s.starts_at < :end "
                                        "AND s.doctor_id = ANY(:doctors)"),
                 {"start": START, "end": START + timedelta(days=1), "doctors": [1, 2], "limit": 100}),
    "grid poll version": (DAY_VERSION_SQL, {"start": START, "end": START + timedelta(days=1),
                                               "now": START}),
    "patient overlap": (PATIENT_CLASH_SQL, {"patient": 1, "starts": START, "ends": START + timedelta(minutes=30),
                                         "except": 0}),
    "lock slots": (LOCK_SLOTS_SQL.replace(" FOR UPDATE OF s", ""), {"ids": [1, 2]}),
    "doctor's upcoming": ("SELECT id FROM appointment WHERE doctor_id = :d AND status <> 'cancelled' "
                          "AND starts_at >= :start AND starts_at < :end ORDER BY starts_at, id LIMIT 26",
                          {"d": 1, "start": START, "end": START + timedelta(days=14)}),
    "free slots": ("SELECT id FROM slot WHERE doctor_id = :d AND status = 'open' AND starts_at >= :start "
                   "AND starts_at < :end ORDER BY starts_at LIMIT 100",
                   {"d": 1, "start": START, "end": START + timedelta(days=1)}),
    "day list": (DAY_LIST_SQL, {"start": START, "end": START + timedelta(days=1), "doctor": None,
                                "limit": 1001}),
    "key lookup": ("SELECT result FROM idempotency_key WHERE key = :key", {"key": "k" * 20}),
    "questions for reception": (QUESTIONS_SQL, {"now": START, "limit": 20}),
    "appointments to reschedule": (NEEDS_RESCHEDULING_SQL, {"tz": "Africa/Nairobi", "today": START.date(),
                                                           "now": START, "limit": 20, "doctor": None,
                                                           "outside_hours": "outside"}),
}


@pytest.mark.parametrize("name", QUERIES)
def test_frequent_query_uses_an_index(app, name):
    sql, params = QUERIES[name]
    with app.app_context():
        db.session.execute(text("SET LOCAL enable_seqscan = off"))
        plan = "\n".join(row[0] for row in db.session.execute(text("EXPLAIN " + sql), params))
        db.session.rollback()
    for table in ("slot", "appointment", "idempotency_key", "patient"):
        assert f"Seq Scan on {table}" not in plan, plan


def test_claim_statement_is_one_round_trip():
    assert CLAIM_SQL.count(";") == 0 and "ON CONFLICT (key) DO UPDATE" in CLAIM_SQL
