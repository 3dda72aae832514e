"""The money summaries' shards, folded: past quarter hours and days end up one row per key again (shard 0).

Writers add to their backend's own shard (migrations 0017 and 0018), so a busy quarter hour has a
row per desk; reports sum over shards either way, and folding keeps a year's report from reading them all.
"""
from __future__ import annotations

from datetime import datetime

from ..db import fetch, transaction

# Each summary: its keys (the time first), and how the values of rows being folded together combine.
SHARDED = {
    "money_quarter_total": (("quarter", "method", "kind"), {"moves": "sum", "cents": "sum"}),
    "money_doctor_quarter_total": (("quarter", "doctor_id"), {"payments": "sum", "cents": "sum"}),
    "charge_quarter_total": (("quarter", "code"), {"name": "min", "quantity": "sum", "cents": "sum"}),
    "service_day_total": (("day", "service_id"),
                          {"quantity": "sum", "charged_cents": "sum", "discount_cents": "sum"}),
}
# What is past, by the time key: quarter hours before `before`, UTC days wholly before it.
_PAST = {"quarter": "quarter < :before", "day": "day < (CAST(:before AS timestamptz) AT TIME ZONE 'UTC')::date"}
_ON_CONFLICT = {"sum": "{c} = t.{c} + EXCLUDED.{c}", "min": "{c} = least(t.{c}, EXCLUDED.{c})"}


def _fold_sql(table: str) -> str:
    keys, values = SHARDED[table]
    key_list, value_list = ", ".join(keys), ", ".join(values)
    combined = ", ".join(f"{how}({column})" for column, how in values.items())
    updates = ", ".join(_ON_CONFLICT[how].format(c=column) for column, how in values.items())
    # Key order, as the writers' upserts lock theirs; shard 0 is only ever written here.
    return (f"WITH moved AS (DELETE FROM {table} WHERE shard <> 0 AND {_PAST[keys[0]]} "
            f"RETURNING {key_list}, {value_list}), "
            f"folded AS (INSERT INTO {table} AS t ({key_list}, shard, {value_list}) "
            f"SELECT {key_list}, 0, {combined} FROM moved GROUP BY {key_list} ORDER BY {key_list} "
            f"ON CONFLICT ({key_list}, shard) DO UPDATE SET {updates}) "
            f"SELECT (SELECT count(*) FROM moved) AS moved")


FOLD = {table: _fold_sql(table) for table in SHARDED}


def fold_summary_shards(before: datetime) -> int:
    """Fold every summary's shards of the quarter hours (and UTC days) before `before` into shard 0; rows folded."""
    moved = 0
    for sql in FOLD.values():
        with transaction() as session:  # one summary at a time: short transactions
            moved += fetch(session, sql, {"before": before})[0].moved
    return moved
