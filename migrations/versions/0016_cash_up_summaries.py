"""cash_up_summaries: payments by UTC quarter hour and doctor, charges by quarter hour and service
code, and what is outstanding, kept by triggers in the writing transactions (the day's cash-up read
every payment and charge of the day and every open bill: 50 ms at clinic scale)

Revision ID: 0016
Revises: 0015
"""
import sqlalchemy as sa
from alembic import op

revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None

QUARTER = "date_bin('15 minutes', {row}.created_at, TIMESTAMPTZ '2000-01-01 00:00+00')"
# Payments are only ever inserted; the doctor is the visit's as the payment is made (0: no visit).
DOCTOR_FUNCTION = """
CREATE FUNCTION kliniki_money_doctor_total() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO money_doctor_quarter_total AS t (quarter, doctor_id, payments, cents)
    SELECT {quarter}, coalesce(a.doctor_id, 0), count(*), sum(n.amount_cents)
    FROM new_rows n JOIN bill b ON b.id = n.bill_id LEFT JOIN appointment a ON a.id = b.appointment_id
    GROUP BY 1, 2 ORDER BY 1, 2
    ON CONFLICT (quarter, doctor_id) DO UPDATE SET payments = t.payments + EXCLUDED.payments,
                                                   cents = t.cents + EXCLUDED.cents;
    RETURN NULL;
END $$;
""".format(quarter=QUARTER.format(row="n"))

# A charge counts in its own quarter hour; voiding it (bill_line_void) takes it out of that quarter.
CHARGE_FUNCTION = """
CREATE FUNCTION kliniki_charge_quarter_total() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_TABLE_NAME = 'bill_line' THEN
        INSERT INTO charge_quarter_total AS t (quarter, code, name, quantity, cents)
        SELECT {new_quarter}, n.code, min(n.name), sum(n.quantity), sum(n.line_cents) FROM new_rows n
        GROUP BY 1, 2 ORDER BY 1, 2
        ON CONFLICT (quarter, code) DO UPDATE SET name = least(t.name, EXCLUDED.name),
            quantity = t.quantity + EXCLUDED.quantity, cents = t.cents + EXCLUDED.cents;
    ELSE
        INSERT INTO charge_quarter_total AS t (quarter, code, name, quantity, cents)
        SELECT {voided_quarter}, l.code, min(l.name), -sum(l.quantity), -sum(l.line_cents)
        FROM new_rows n JOIN bill_line l ON l.id = n.bill_line_id
        GROUP BY 1, 2 ORDER BY 1, 2
        ON CONFLICT (quarter, code) DO UPDATE SET quantity = t.quantity + EXCLUDED.quantity,
                                                  cents = t.cents + EXCLUDED.cents;
    END IF;
    RETURN NULL;
END $$;
""".format(new_quarter=QUARTER.format(row="n"), voided_quarter=QUARTER.format(row="l"))

OWED = "{row}.status IN ('open', 'partly_paid') AND {row}.balance_cents > 0"
# What is owed is spread over shards by backend, so concurrent desks settling different bills do
# not queue on one row, and a transaction only ever locks its own backend's shard (no deadlock).
OUTSTANDING_FUNCTION = """
CREATE FUNCTION kliniki_bill_outstanding() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    bills bigint := 0;
    cents bigint := 0;
BEGIN
    IF {new_owed} THEN
        bills := 1;
        cents := NEW.balance_cents;
    END IF;
    IF TG_OP = 'UPDATE' AND {old_owed} THEN
        bills := bills - 1;
        cents := cents - OLD.balance_cents;
    END IF;
    IF bills <> 0 OR cents <> 0 THEN
        INSERT INTO outstanding_total AS o (shard, bills, cents) VALUES (pg_backend_pid() % 64, bills, cents)
        ON CONFLICT (shard) DO UPDATE SET bills = o.bills + EXCLUDED.bills, cents = o.cents + EXCLUDED.cents;
    END IF;
    RETURN NULL;
END $$;
""".format(new_owed=OWED.format(row="NEW"), old_owed=OWED.format(row="OLD"))


def upgrade():
    op.create_table(
        'money_doctor_quarter_total',
        sa.Column('quarter', sa.DateTime(timezone=True), nullable=False),
        sa.Column('doctor_id', sa.BigInteger(), nullable=False),
        sa.Column('payments', sa.BigInteger(), nullable=False),
        sa.Column('cents', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('quarter', 'doctor_id', name='pk_money_doctor_quarter_total'))
    op.create_table(
        'charge_quarter_total',
        sa.Column('quarter', sa.DateTime(timezone=True), nullable=False),
        sa.Column('code', sa.String(32), nullable=False),
        sa.Column('name', sa.String(200), nullable=False),
        sa.Column('quantity', sa.BigInteger(), nullable=False),
        sa.Column('cents', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('quarter', 'code', name='pk_charge_quarter_total'))
    op.create_table(
        'outstanding_total',
        sa.Column('shard', sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column('bills', sa.BigInteger(), nullable=False),
        sa.Column('cents', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('shard', name='pk_outstanding_total'))
    op.execute(DOCTOR_FUNCTION)
    op.execute(OUTSTANDING_FUNCTION)
    op.execute(CHARGE_FUNCTION)
    for table in ('bill_line', 'bill_line_void'):
        op.execute(f"CREATE TRIGGER {table}_charge_total AFTER INSERT ON {table} REFERENCING NEW TABLE AS new_rows "
                   "FOR EACH STATEMENT EXECUTE FUNCTION kliniki_charge_quarter_total()")
    op.execute("CREATE TRIGGER payment_doctor_total AFTER INSERT ON payment REFERENCING NEW TABLE AS new_rows "
               "FOR EACH STATEMENT EXECUTE FUNCTION kliniki_money_doctor_total()")
    op.execute(f"CREATE TRIGGER bill_outstanding_insert AFTER INSERT ON bill FOR EACH ROW "
               f"WHEN ({OWED.format(row='NEW')}) EXECUTE FUNCTION kliniki_bill_outstanding()")
    op.execute("CREATE TRIGGER bill_outstanding_update AFTER UPDATE OF status, balance_cents ON bill FOR EACH ROW "
               "WHEN (OLD.status IS DISTINCT FROM NEW.status OR OLD.balance_cents IS DISTINCT FROM NEW.balance_cents) "
               "EXECUTE FUNCTION kliniki_bill_outstanding()")
    op.execute(f"""
INSERT INTO money_doctor_quarter_total (quarter, doctor_id, payments, cents)
SELECT {QUARTER.format(row="p")}, coalesce(a.doctor_id, 0), count(*), sum(p.amount_cents)
FROM payment p JOIN bill b ON b.id = p.bill_id LEFT JOIN appointment a ON a.id = b.appointment_id
GROUP BY 1, 2""")
    op.execute(f"""
INSERT INTO charge_quarter_total (quarter, code, name, quantity, cents)
SELECT {QUARTER.format(row="l")}, l.code, min(l.name), sum(l.quantity), sum(l.line_cents) FROM bill_line l
WHERE NOT EXISTS (SELECT 1 FROM bill_line_void v WHERE v.bill_line_id = l.id)
GROUP BY 1, 2""")
    op.execute(f"INSERT INTO outstanding_total (shard, bills, cents) "
               f"SELECT 0, count(*), coalesce(sum(b.balance_cents), 0) FROM bill b WHERE {OWED.format(row='b')}")


def downgrade():
    op.execute("DROP TRIGGER bill_outstanding_update ON bill")
    op.execute("DROP TRIGGER bill_outstanding_insert ON bill")
    op.execute("DROP TRIGGER payment_doctor_total ON payment")
    for table in ('bill_line', 'bill_line_void'):
        op.execute(f"DROP TRIGGER {table}_charge_total ON {table}")
    op.execute("DROP FUNCTION kliniki_charge_quarter_total()")
    op.execute("DROP FUNCTION kliniki_bill_outstanding()")
    op.execute("DROP FUNCTION kliniki_money_doctor_total()")
    op.drop_table('outstanding_total')
    op.drop_table('charge_quarter_total')
    op.drop_table('money_doctor_quarter_total')
