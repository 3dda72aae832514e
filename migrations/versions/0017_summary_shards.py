"""summary_shards: the money and charge summaries are kept in shards, one per backend (mod 64), and
the daily upkeep folds past shards into shard 0; every desk posting in the same quarter hour used to
update one row per method, holding its lock to the end of the posting transaction

Revision ID: 0017
Revises: 0016
"""
import importlib.util
import os

import sqlalchemy as sa
from alembic import op

revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None

# Writers add to their own backend's shard (1 to 64); shard 0 holds what the upkeep has folded.
# Concurrent desks then do not queue on one row, and a writer never locks a row another writer
# or the fold is waiting for in the other order (the fold only waits for writers' shards).
SHARD = "(pg_backend_pid() % 64 + 1)::smallint"
QUARTER = "date_bin('15 minutes', {row}.created_at, TIMESTAMPTZ '2000-01-01 00:00+00')"

MONEY_FUNCTION = """
CREATE OR REPLACE FUNCTION kliniki_money_quarter_total() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_TABLE_NAME = 'payment' THEN
        INSERT INTO money_quarter_total AS t (quarter, method, kind, shard, moves, cents)
        SELECT {quarter}, n.method, 'payment', {shard}, count(*), sum(n.amount_cents) FROM new_rows n
        GROUP BY 1, 2 ORDER BY 1, 2
        ON CONFLICT (quarter, method, kind, shard)
        DO UPDATE SET moves = t.moves + EXCLUDED.moves, cents = t.cents + EXCLUDED.cents;
    ELSE
        INSERT INTO money_quarter_total AS t (quarter, method, kind, shard, moves, cents)
        SELECT {quarter}, n.method, n.kind, {shard}, count(*), sum(n.amount_cents) FROM new_rows n
        GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
        ON CONFLICT (quarter, method, kind, shard)
        DO UPDATE SET moves = t.moves + EXCLUDED.moves, cents = t.cents + EXCLUDED.cents;
    END IF;
    RETURN NULL;
END $$;
""".format(quarter=QUARTER.format(row="n"), shard=SHARD)

DOCTOR_FUNCTION = """
CREATE OR REPLACE FUNCTION kliniki_money_doctor_total() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO money_doctor_quarter_total AS t (quarter, doctor_id, shard, payments, cents)
    SELECT {quarter}, coalesce(a.doctor_id, 0), {shard}, count(*), sum(n.amount_cents)
    FROM new_rows n JOIN bill b ON b.id = n.bill_id LEFT JOIN appointment a ON a.id = b.appointment_id
    GROUP BY 1, 2 ORDER BY 1, 2
    ON CONFLICT (quarter, doctor_id, shard) DO UPDATE SET payments = t.payments + EXCLUDED.payments,
                                                          cents = t.cents + EXCLUDED.cents;
    RETURN NULL;
END $$;
""".format(quarter=QUARTER.format(row="n"), shard=SHARD)

CHARGE_FUNCTION = """
CREATE OR REPLACE FUNCTION kliniki_charge_quarter_total() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_TABLE_NAME = 'bill_line' THEN
        INSERT INTO charge_quarter_total AS t (quarter, code, shard, name, quantity, cents)
        SELECT {new_quarter}, n.code, {shard}, min(n.name), sum(n.quantity), sum(n.line_cents) FROM new_rows n
        GROUP BY 1, 2 ORDER BY 1, 2
        ON CONFLICT (quarter, code, shard) DO UPDATE SET name = least(t.name, EXCLUDED.name),
            quantity = t.quantity + EXCLUDED.quantity, cents = t.cents + EXCLUDED.cents;
    ELSE
        INSERT INTO charge_quarter_total AS t (quarter, code, shard, name, quantity, cents)
        SELECT {voided_quarter}, l.code, {shard}, min(l.name), -sum(l.quantity), -sum(l.line_cents)
        FROM new_rows n JOIN bill_line l ON l.id = n.bill_line_id
        GROUP BY 1, 2 ORDER BY 1, 2
        ON CONFLICT (quarter, code, shard) DO UPDATE SET name = least(t.name, EXCLUDED.name),
            quantity = t.quantity + EXCLUDED.quantity, cents = t.cents + EXCLUDED.cents;
    END IF;
    RETURN NULL;
END $$;
""".format(new_quarter=QUARTER.format(row="n"), voided_quarter=QUARTER.format(row="l"), shard=SHARD)

# The keys each summary had before its shard.
KEYS = {"money_quarter_total": ("quarter", "method", "kind"),
        "money_doctor_quarter_total": ("quarter", "doctor_id"),
        "charge_quarter_total": ("quarter", "code")}


def upgrade():
    for table, keys in KEYS.items():
        op.add_column(table, sa.Column('shard', sa.SmallInteger(), server_default='0', nullable=False))
        op.alter_column(table, 'shard', server_default=None)
        op.drop_constraint(f'pk_{table}', table, type_='primary')
        op.create_primary_key(f'pk_{table}', table, [*keys, 'shard'])
    op.execute(MONEY_FUNCTION)
    op.execute(DOCTOR_FUNCTION)
    op.execute(CHARGE_FUNCTION)


def _revision(name: str):
    """An earlier revision's module, for the functions it created."""
    spec = importlib.util.spec_from_file_location(name, os.path.join(os.path.dirname(__file__), f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def downgrade():
    values = {"money_quarter_total": "sum(moves) AS moves, sum(cents) AS cents",
              "money_doctor_quarter_total": "sum(payments) AS payments, sum(cents) AS cents",
              "charge_quarter_total": "min(name) AS name, sum(quantity) AS quantity, sum(cents) AS cents"}
    for table, keys in KEYS.items():  # fold every shard into one row per key, then drop the shard
        columns = ", ".join(keys)
        op.execute(f"CREATE TEMP TABLE folded AS SELECT {columns}, {values[table]} FROM {table} GROUP BY {columns}")
        op.execute(f"DELETE FROM {table}")
        op.drop_constraint(f'pk_{table}', table, type_='primary')
        op.drop_column(table, 'shard')
        op.execute(f"INSERT INTO {table} SELECT * FROM folded")
        op.execute("DROP TABLE folded")
        op.create_primary_key(f'pk_{table}', table, list(keys))
    money, cash_up = _revision("0013_dashboard_money"), _revision("0016_cash_up_summaries")
    for function in (money.MONEY_FUNCTION, cash_up.DOCTOR_FUNCTION, cash_up.CHARGE_FUNCTION):
        op.execute(function.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION"))
