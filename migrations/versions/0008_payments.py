"""payments: bills, lines, discounts, payments, refunds and voids, shifts, M-Pesa confirmations

Money is bigint cents. Lines, discounts, payments, reversals and shift counts are never updated
or deleted (triggers refuse it); a trigger on every money row locks its bill and refuses a total
below zero or a paid amount above the total, and keeps the bill's status. Totals and balances
are the bill_balance view. Receipt numbers come from one sequence per year (R-2026-000123).

Revision ID: 0008
Revises: 0007
"""
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

BALANCE_VIEW = """
CREATE VIEW bill_balance AS
SELECT b.id AS bill_id, b.patient_id, b.appointment_id, b.status, b.opened_at,
       coalesce(l.charged, 0)::bigint AS charged_cents,
       coalesce(d.discounted, 0)::bigint AS discount_cents,
       CASE WHEN b.status = 'void' THEN 0
            ELSE coalesce(l.charged, 0) - coalesce(d.discounted, 0) END::bigint AS total_cents,
       (coalesce(p.paid, 0) - coalesce(r.reversed, 0))::bigint AS paid_cents,
       CASE WHEN b.status = 'void' THEN 0
            ELSE coalesce(l.charged, 0) - coalesce(d.discounted, 0)
                 - (coalesce(p.paid, 0) - coalesce(r.reversed, 0)) END::bigint AS balance_cents
FROM bill b
LEFT JOIN LATERAL (SELECT sum(line_cents) AS charged FROM bill_line WHERE bill_id = b.id) l ON true
LEFT JOIN LATERAL (SELECT sum(amount_cents) AS discounted FROM bill_discount WHERE bill_id = b.id) d ON true
LEFT JOIN LATERAL (SELECT sum(amount_cents) AS paid FROM payment WHERE bill_id = b.id) p ON true
LEFT JOIN LATERAL (SELECT sum(amount_cents) AS reversed FROM payment_reversal WHERE bill_id = b.id) r ON true
"""

# After every money row: lock the bill, refuse what no bill may be, and keep its status.
SETTLE = """
CREATE FUNCTION kliniki_bill_settle() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    bill_status text;
    kept_balance bigint;
    v record;
    next_status text;
BEGIN
    SELECT status, balance_cents INTO bill_status, kept_balance FROM bill WHERE id = NEW.bill_id FOR NO KEY UPDATE;
    IF bill_status = 'void' THEN
        RAISE EXCEPTION 'bill % is void', NEW.bill_id USING ERRCODE = 'check_violation';
    END IF;
    SELECT * INTO v FROM bill_balance WHERE bill_id = NEW.bill_id;
    IF v.total_cents < 0 THEN
        RAISE EXCEPTION 'bill % would have discounts above its charges', NEW.bill_id
            USING ERRCODE = 'check_violation', CONSTRAINT = 'bill_total_not_negative';
    END IF;
    IF v.paid_cents < 0 THEN
        RAISE EXCEPTION 'bill % would have more reversed than paid', NEW.bill_id
            USING ERRCODE = 'check_violation', CONSTRAINT = 'bill_paid_not_negative';
    END IF;
    IF v.paid_cents > v.total_cents THEN
        RAISE EXCEPTION 'bill % would be paid above its total', NEW.bill_id
            USING ERRCODE = 'check_violation', CONSTRAINT = 'bill_paid_within_total';
    END IF;
    next_status := CASE WHEN v.paid_cents = 0 THEN 'open'
                        WHEN v.balance_cents = 0 THEN 'paid'
                        ELSE 'partly_paid' END;
    IF next_status <> bill_status OR v.balance_cents <> kept_balance THEN
        UPDATE bill SET status = next_status, balance_cents = v.balance_cents WHERE id = NEW.bill_id;
    END IF;
    RETURN NULL;
END $$;
"""

# Before a reversal: it belongs to its payment's bill and never takes back more than was paid.
REVERSAL_CHECK = """
CREATE FUNCTION kliniki_reversal_check() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    paid record;
    reversed bigint;
BEGIN
    SELECT bill_id, method, amount_cents INTO paid FROM payment WHERE id = NEW.payment_id FOR KEY SHARE;
    IF paid.bill_id <> NEW.bill_id OR paid.method <> NEW.method THEN
        RAISE EXCEPTION 'reversal of payment % names another bill or method', NEW.payment_id
            USING ERRCODE = 'check_violation';
    END IF;
    SELECT coalesce(sum(amount_cents), 0) INTO reversed FROM payment_reversal WHERE payment_id = NEW.payment_id;
    IF reversed + NEW.amount_cents > paid.amount_cents THEN
        RAISE EXCEPTION 'payment % would be reversed above its amount', NEW.payment_id
            USING ERRCODE = 'check_violation', CONSTRAINT = 'reversal_within_payment';
    END IF;
    RETURN NEW;
END $$;
"""

# Before a line discount: the line is on the same bill and is never discounted below zero.
DISCOUNT_CHECK = """
CREATE FUNCTION kliniki_discount_check() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    line record;
    given bigint;
BEGIN
    IF NEW.bill_line_id IS NULL THEN
        RETURN NEW;
    END IF;
    SELECT bill_id, line_cents INTO line FROM bill_line WHERE id = NEW.bill_line_id;
    IF line.bill_id <> NEW.bill_id THEN
        RAISE EXCEPTION 'discount names a line of another bill' USING ERRCODE = 'check_violation';
    END IF;
    SELECT coalesce(sum(amount_cents), 0) INTO given FROM bill_discount WHERE bill_line_id = NEW.bill_line_id;
    IF given + NEW.amount_cents > line.line_cents THEN
        RAISE EXCEPTION 'line % would be discounted below zero', NEW.bill_line_id
            USING ERRCODE = 'check_violation', CONSTRAINT = 'discount_within_line';
    END IF;
    RETURN NEW;
END $$;
"""

IMMUTABLE = """
CREATE FUNCTION kliniki_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% rows are never changed or deleted: add a correcting row instead', TG_TABLE_NAME
        USING ERRCODE = 'restrict_violation';
END $$;
"""

# A shift's money rows go only into an open shift; the FOR SHARE lock makes closing wait for them.
SHIFT_OPEN = """
CREATE FUNCTION kliniki_shift_open_check() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    closed timestamptz;
BEGIN
    IF NEW.shift_id IS NULL THEN
        RETURN NEW;
    END IF;
    SELECT closed_at INTO closed FROM cash_shift WHERE id = NEW.shift_id FOR SHARE;
    IF closed IS NOT NULL THEN
        RAISE EXCEPTION 'cash shift % is closed', NEW.shift_id USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END $$;
"""

# A shift is closed once: after that nothing on it changes; before, only the closing columns may.
SHIFT_CLOSE = """
CREATE FUNCTION kliniki_shift_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' OR OLD.closed_at IS NOT NULL THEN
        RAISE EXCEPTION 'cash shift % can no longer change', OLD.id USING ERRCODE = 'restrict_violation';
    END IF;
    IF NEW.id <> OLD.id OR NEW.cashier_id <> OLD.cashier_id OR NEW.opened_at <> OLD.opened_at
       OR NEW.opening_float_cents <> OLD.opening_float_cents THEN
        RAISE EXCEPTION 'only the close of cash shift % may be recorded', OLD.id
            USING ERRCODE = 'restrict_violation';
    END IF;
    RETURN NEW;
END $$;
"""

RECEIPT_NUMBER = """
CREATE FUNCTION kliniki_receipt_number(receipt_year integer) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    seq text := format('receipt_number_%s_seq', receipt_year);
    n bigint;
BEGIN
    IF receipt_year NOT BETWEEN 2000 AND 2100 THEN
        RAISE EXCEPTION 'no receipt numbers for year %', receipt_year USING ERRCODE = 'check_violation';
    END IF;
    IF to_regclass(seq) IS NULL THEN
        -- A new year's first receipt: one transaction creates its sequence, others wait for it.
        PERFORM pg_advisory_xact_lock(hashtext('kliniki_receipt_number'), receipt_year);
        EXECUTE format('CREATE SEQUENCE IF NOT EXISTS %I', seq);
    END IF;
    n := nextval(seq);
    RETURN format('R-%s-%s', receipt_year, lpad(n::text, greatest(6, length(n::text)), '0'));
END $$;
"""

MONEY_TABLES = ("bill_line", "bill_discount", "payment", "payment_reversal")


def upgrade():
    op.execute("""
CREATE TABLE bill (
    id BIGSERIAL NOT NULL,
    patient_id BIGINT NOT NULL,
    appointment_id BIGINT,
    status VARCHAR(16) DEFAULT 'open' NOT NULL,
    balance_cents BIGINT DEFAULT '0' NOT NULL,
    opened_at TIMESTAMP WITH TIME ZONE DEFAULT now() NOT NULL,
    opened_by BIGINT,
    voided_at TIMESTAMP WITH TIME ZONE,
    voided_by BIGINT,
    void_reason TEXT,
    CONSTRAINT pk_bill PRIMARY KEY (id),
    CONSTRAINT ck_bill_status_known CHECK (status IN ('open', 'partly_paid', 'paid', 'void')),
    CONSTRAINT ck_bill_void_has_time CHECK ((status = 'void') = (voided_at IS NOT NULL)),
    CONSTRAINT ck_bill_void_has_reason CHECK (voided_at IS NULL OR (void_reason IS NOT NULL AND voided_by IS NOT NULL)),
    CONSTRAINT fk_bill_patient_id_patient FOREIGN KEY(patient_id) REFERENCES patient (id),
    CONSTRAINT fk_bill_appointment_id_appointment FOREIGN KEY(appointment_id) REFERENCES appointment (id),
    CONSTRAINT fk_bill_opened_by_staff_user FOREIGN KEY(opened_by) REFERENCES staff_user (id),
    CONSTRAINT fk_bill_voided_by_staff_user FOREIGN KEY(voided_by) REFERENCES staff_user (id)
)""")
    op.execute("""
CREATE INDEX ix_bill_opened_at ON bill (opened_at)""")
    op.execute("""
CREATE INDEX ix_bill_patient_id_opened_at ON bill (patient_id, opened_at)""")
    op.execute("""
CREATE INDEX ix_bill_outstanding ON bill (opened_at, id) WHERE status IN ('open', 'partly_paid')""")
    op.execute("""
CREATE UNIQUE INDEX uq_bill_appointment_id ON bill (appointment_id) WHERE appointment_id IS NOT NULL""")
    op.execute("""
CREATE TABLE bill_line (
    id BIGSERIAL NOT NULL,
    bill_id BIGINT NOT NULL,
    service_id BIGINT NOT NULL,
    code VARCHAR(32) NOT NULL,
    name VARCHAR(200) NOT NULL,
    unit_cents BIGINT NOT NULL,
    quantity INTEGER NOT NULL,
    line_cents BIGINT NOT NULL,
    source VARCHAR(16) DEFAULT 'desk' NOT NULL,
    source_id BIGINT,
    created_by BIGINT,
    created_at TIMESTAMP WITH TIME ZONE DEFAULT now() NOT NULL,
    CONSTRAINT pk_bill_line PRIMARY KEY (id),
    CONSTRAINT ck_bill_line_quantity_in_range CHECK (quantity BETWEEN 1 AND 1000),
    CONSTRAINT ck_bill_line_unit_not_negative CHECK (unit_cents >= 0),
    CONSTRAINT ck_bill_line_line_is_unit_times_quantity CHECK (line_cents = unit_cents * quantity),
    CONSTRAINT ck_bill_line_source_known CHECK (source IN ('desk', 'consultation', 'mpesa', 'import')),
    CONSTRAINT fk_bill_line_bill_id_bill FOREIGN KEY(bill_id) REFERENCES bill (id),
    CONSTRAINT fk_bill_line_service_id_service FOREIGN KEY(service_id) REFERENCES service (id),
    CONSTRAINT fk_bill_line_created_by_staff_user FOREIGN KEY(created_by) REFERENCES staff_user (id)
)""")
    op.execute("""
CREATE INDEX ix_bill_line_service_id_created_at ON bill_line (service_id, created_at)""")
    op.execute("""
CREATE INDEX ix_bill_line_created_at ON bill_line (created_at)""")
    op.execute("""
CREATE UNIQUE INDEX uq_bill_line_source ON bill_line (bill_id, source, source_id, service_id) WHERE source_id IS NOT NULL""")
    op.execute("""
CREATE INDEX ix_bill_line_bill_id ON bill_line (bill_id)""")
    op.execute("""
CREATE TABLE bill_discount (
    id BIGSERIAL NOT NULL,
    bill_id BIGINT NOT NULL,
    bill_line_id BIGINT,
    amount_cents BIGINT NOT NULL,
    reason TEXT NOT NULL,
    given_by BIGINT,
    created_at TIMESTAMP WITH TIME ZONE DEFAULT now() NOT NULL,
    CONSTRAINT pk_bill_discount PRIMARY KEY (id),
    CONSTRAINT ck_bill_discount_amount_positive CHECK (amount_cents > 0),
    CONSTRAINT ck_bill_discount_reason_given CHECK (length(btrim(reason)) > 0),
    CONSTRAINT fk_bill_discount_bill_id_bill FOREIGN KEY(bill_id) REFERENCES bill (id),
    CONSTRAINT fk_bill_discount_bill_line_id_bill_line FOREIGN KEY(bill_line_id) REFERENCES bill_line (id),
    CONSTRAINT fk_bill_discount_given_by_staff_user FOREIGN KEY(given_by) REFERENCES staff_user (id)
)""")
    op.execute("""
CREATE INDEX ix_bill_discount_bill_id ON bill_discount (bill_id)""")
    op.execute("""
CREATE INDEX ix_bill_discount_created_at ON bill_discount (created_at)""")
    op.execute("""
CREATE TABLE cash_shift (
    id BIGSERIAL NOT NULL,
    cashier_id BIGINT NOT NULL,
    opened_at TIMESTAMP WITH TIME ZONE DEFAULT now() NOT NULL,
    opening_float_cents BIGINT NOT NULL,
    closed_at TIMESTAMP WITH TIME ZONE,
    closed_by BIGINT,
    close_note TEXT,
    CONSTRAINT pk_cash_shift PRIMARY KEY (id),
    CONSTRAINT ck_cash_shift_float_not_negative CHECK (opening_float_cents >= 0),
    CONSTRAINT ck_cash_shift_closes_after_opening CHECK (closed_at IS NULL OR closed_at >= opened_at),
    CONSTRAINT fk_cash_shift_cashier_id_staff_user FOREIGN KEY(cashier_id) REFERENCES staff_user (id),
    CONSTRAINT fk_cash_shift_closed_by_staff_user FOREIGN KEY(closed_by) REFERENCES staff_user (id)
)""")
    op.execute("""
CREATE INDEX ix_cash_shift_cashier_id_opened_at ON cash_shift (cashier_id, opened_at)""")
    op.execute("""
CREATE INDEX ix_cash_shift_opened_at ON cash_shift (opened_at)""")
    op.execute("""
CREATE UNIQUE INDEX uq_cash_shift_open_cashier ON cash_shift (cashier_id) WHERE closed_at IS NULL""")
    op.execute("""
CREATE TABLE cash_shift_count (
    id BIGSERIAL NOT NULL,
    shift_id BIGINT NOT NULL,
    method VARCHAR(16) NOT NULL,
    expected_cents BIGINT NOT NULL,
    counted_cents BIGINT NOT NULL,
    CONSTRAINT pk_cash_shift_count PRIMARY KEY (id),
    CONSTRAINT ck_cash_shift_count_method_known CHECK (method IN ('cash', 'card', 'mpesa', 'insurance', 'bank')),
    CONSTRAINT ck_cash_shift_count_counted_not_negative CHECK (counted_cents >= 0),
    CONSTRAINT fk_cash_shift_count_shift_id_cash_shift FOREIGN KEY(shift_id) REFERENCES cash_shift (id)
)""")
    op.execute("""
CREATE UNIQUE INDEX uq_cash_shift_count_shift_method ON cash_shift_count (shift_id, method)""")
    op.execute("""
CREATE TABLE payment (
    id BIGSERIAL NOT NULL,
    bill_id BIGINT NOT NULL,
    method VARCHAR(16) NOT NULL,
    amount_cents BIGINT NOT NULL,
    tendered_cents BIGINT,
    change_cents BIGINT DEFAULT '0' NOT NULL,
    reference VARCHAR(64),
    mpesa_code VARCHAR(10),
    insurer VARCHAR(120),
    member_number VARCHAR(64),
    preauth_number VARCHAR(64),
    receipt_number VARCHAR(24) NOT NULL,
    cashier_id BIGINT,
    shift_id BIGINT,
    created_at TIMESTAMP WITH TIME ZONE DEFAULT now() NOT NULL,
    CONSTRAINT pk_payment PRIMARY KEY (id),
    CONSTRAINT ck_payment_method_known CHECK (method IN ('cash', 'card', 'mpesa', 'insurance', 'bank')),
    CONSTRAINT ck_payment_amount_positive CHECK (amount_cents > 0),
    CONSTRAINT ck_payment_tendered_covers_amount CHECK (tendered_cents IS NULL OR (method = 'cash' AND tendered_cents >= amount_cents)),
    CONSTRAINT ck_payment_change_is_tendered_less_amount CHECK (change_cents = coalesce(tendered_cents - amount_cents, 0)),
    CONSTRAINT ck_payment_mpesa_code_format CHECK (mpesa_code IS NULL OR mpesa_code ~ '^[A-Z0-9]{10}$'),
    CONSTRAINT ck_payment_mpesa_has_code CHECK ((method = 'mpesa') = (mpesa_code IS NOT NULL)),
    CONSTRAINT ck_payment_insurance_has_member CHECK (method <> 'insurance' OR (insurer IS NOT NULL AND member_number IS NOT NULL)),
    CONSTRAINT ck_payment_receipt_number_format CHECK (receipt_number ~ '^R-[0-9]{4}-[0-9]{6,}$'),
    CONSTRAINT fk_payment_bill_id_bill FOREIGN KEY(bill_id) REFERENCES bill (id),
    CONSTRAINT fk_payment_cashier_id_staff_user FOREIGN KEY(cashier_id) REFERENCES staff_user (id),
    CONSTRAINT fk_payment_shift_id_cash_shift FOREIGN KEY(shift_id) REFERENCES cash_shift (id)
)""")
    op.execute("""
CREATE INDEX ix_payment_created_at ON payment (created_at)""")
    op.execute("""
CREATE INDEX ix_payment_shift_id ON payment (shift_id)""")
    op.execute("""
CREATE UNIQUE INDEX uq_payment_mpesa_code ON payment (mpesa_code) WHERE mpesa_code IS NOT NULL""")
    op.execute("""
CREATE INDEX ix_payment_bill_id ON payment (bill_id)""")
    op.execute("""
CREATE UNIQUE INDEX uq_payment_receipt_number ON payment (receipt_number)""")
    op.execute("""
CREATE TABLE payment_reversal (
    id BIGSERIAL NOT NULL,
    payment_id BIGINT NOT NULL,
    bill_id BIGINT NOT NULL,
    kind VARCHAR(8) NOT NULL,
    method VARCHAR(16) NOT NULL,
    amount_cents BIGINT NOT NULL,
    reason TEXT NOT NULL,
    actor_id BIGINT,
    shift_id BIGINT,
    created_at TIMESTAMP WITH TIME ZONE DEFAULT now() NOT NULL,
    CONSTRAINT pk_payment_reversal PRIMARY KEY (id),
    CONSTRAINT ck_payment_reversal_kind_known CHECK (kind IN ('void', 'refund')),
    CONSTRAINT ck_payment_reversal_amount_positive CHECK (amount_cents > 0),
    CONSTRAINT ck_payment_reversal_reason_given CHECK (length(btrim(reason)) > 0),
    CONSTRAINT fk_payment_reversal_payment_id_payment FOREIGN KEY(payment_id) REFERENCES payment (id),
    CONSTRAINT fk_payment_reversal_bill_id_bill FOREIGN KEY(bill_id) REFERENCES bill (id),
    CONSTRAINT fk_payment_reversal_actor_id_staff_user FOREIGN KEY(actor_id) REFERENCES staff_user (id),
    CONSTRAINT fk_payment_reversal_shift_id_cash_shift FOREIGN KEY(shift_id) REFERENCES cash_shift (id)
)""")
    op.execute("""
CREATE INDEX ix_payment_reversal_payment_id ON payment_reversal (payment_id)""")
    op.execute("CREATE INDEX ix_payment_reversal_bill_id ON payment_reversal (bill_id)")
    op.execute("CREATE INDEX ix_bill_discount_bill_line_id ON bill_discount (bill_line_id)")
    op.execute("""
CREATE INDEX ix_payment_reversal_shift_id ON payment_reversal (shift_id)""")
    op.execute("""
CREATE INDEX ix_payment_reversal_created_at ON payment_reversal (created_at)""")
    op.execute("""
CREATE UNIQUE INDEX uq_payment_reversal_void ON payment_reversal (payment_id) WHERE kind = 'void'""")
    op.execute("""
CREATE TABLE mpesa_confirmation (
    id BIGSERIAL NOT NULL,
    trans_id VARCHAR(32) NOT NULL,
    amount_cents BIGINT NOT NULL,
    bill_ref VARCHAR(64),
    msisdn VARCHAR(32),
    trans_time VARCHAR(14),
    payer_name VARCHAR(200),
    raw JSONB NOT NULL,
    status VARCHAR(16) DEFAULT 'received' NOT NULL,
    queue_reason VARCHAR(16),
    payment_id BIGINT,
    received_at TIMESTAMP WITH TIME ZONE DEFAULT now() NOT NULL,
    CONSTRAINT pk_mpesa_confirmation PRIMARY KEY (id),
    CONSTRAINT ck_mpesa_confirmation_status_known CHECK (status IN ('received', 'applied', 'queued', 'allocated')),
    CONSTRAINT ck_mpesa_confirmation_amount_not_negative CHECK (amount_cents >= 0),
    CONSTRAINT fk_mpesa_confirmation_payment_id_payment FOREIGN KEY(payment_id) REFERENCES payment (id)
)""")
    op.execute("""
CREATE INDEX ix_mpesa_confirmation_received_at ON mpesa_confirmation (received_at)""")
    op.execute("""
CREATE INDEX ix_mpesa_confirmation_queued ON mpesa_confirmation (received_at, id) WHERE status = 'queued'""")
    op.execute("""
CREATE UNIQUE INDEX uq_mpesa_confirmation_trans_id ON mpesa_confirmation (trans_id)""")
    op.execute("""
CREATE TABLE receipt_print (
    id BIGSERIAL NOT NULL,
    payment_id BIGINT NOT NULL,
    printed_by BIGINT,
    printed_at TIMESTAMP WITH TIME ZONE DEFAULT now() NOT NULL,
    CONSTRAINT pk_receipt_print PRIMARY KEY (id),
    CONSTRAINT fk_receipt_print_payment_id_payment FOREIGN KEY(payment_id) REFERENCES payment (id),
    CONSTRAINT fk_receipt_print_printed_by_staff_user FOREIGN KEY(printed_by) REFERENCES staff_user (id)
)""")
    op.execute("CREATE INDEX ix_receipt_print_payment_id ON receipt_print (payment_id)")
    op.execute("""
CREATE TABLE insurance_claim_outcome (
    id BIGSERIAL NOT NULL,
    payment_id BIGINT NOT NULL,
    outcome VARCHAR(8) NOT NULL,
    note TEXT,
    actor_id BIGINT,
    created_at TIMESTAMP WITH TIME ZONE DEFAULT now() NOT NULL,
    CONSTRAINT pk_insurance_claim_outcome PRIMARY KEY (id),
    CONSTRAINT ck_insurance_claim_outcome_outcome_known CHECK (outcome IN ('settled', 'rejected')),
    CONSTRAINT fk_insurance_claim_outcome_payment_id_payment FOREIGN KEY(payment_id) REFERENCES payment (id),
    CONSTRAINT fk_insurance_claim_outcome_actor_id_staff_user FOREIGN KEY(actor_id) REFERENCES staff_user (id)
)""")
    op.execute("CREATE UNIQUE INDEX uq_insurance_claim_outcome_payment_id ON insurance_claim_outcome (payment_id)")
    op.execute(BALANCE_VIEW)
    for function in (SETTLE, REVERSAL_CHECK, DISCOUNT_CHECK, IMMUTABLE, SHIFT_OPEN, SHIFT_CLOSE, RECEIPT_NUMBER):
        op.execute(function)
    for table in MONEY_TABLES + ("cash_shift_count", "insurance_claim_outcome"):
        op.execute(f"CREATE TRIGGER {table}_never_changes BEFORE UPDATE OR DELETE ON {table} "
                   "FOR EACH ROW EXECUTE FUNCTION kliniki_refuse_change()")
    for table in MONEY_TABLES:
        op.execute(f"CREATE TRIGGER {table}_settles_bill AFTER INSERT ON {table} "
                   "FOR EACH ROW EXECUTE FUNCTION kliniki_bill_settle()")
    op.execute("CREATE TRIGGER payment_reversal_within_payment BEFORE INSERT ON payment_reversal "
               "FOR EACH ROW EXECUTE FUNCTION kliniki_reversal_check()")
    op.execute("CREATE TRIGGER bill_discount_within_line BEFORE INSERT ON bill_discount "
               "FOR EACH ROW EXECUTE FUNCTION kliniki_discount_check()")
    for table in ("payment", "payment_reversal"):
        op.execute(f"CREATE TRIGGER {table}_in_open_shift BEFORE INSERT ON {table} "
                   "FOR EACH ROW EXECUTE FUNCTION kliniki_shift_open_check()")
    op.execute("CREATE TRIGGER cash_shift_closes_once BEFORE UPDATE OR DELETE ON cash_shift "
               "FOR EACH ROW EXECUTE FUNCTION kliniki_shift_change()")


def downgrade():
    op.execute("DROP VIEW bill_balance")
    for table in ("insurance_claim_outcome", "receipt_print", "mpesa_confirmation", "payment_reversal", "payment", "cash_shift_count", "cash_shift",
                  "bill_discount", "bill_line", "bill"):
        op.execute(f"DROP TABLE {table}")
    for function in ("kliniki_bill_settle()", "kliniki_reversal_check()", "kliniki_discount_check()",
                     "kliniki_refuse_change()", "kliniki_shift_open_check()", "kliniki_shift_change()",
                     "kliniki_receipt_number(integer)"):
        op.execute(f"DROP FUNCTION {function}")
    op.execute("""
DO $$
DECLARE seq text;
BEGIN
    FOR seq IN SELECT relname FROM pg_class WHERE relkind = 'S' AND relname ~ '^receipt_number_[0-9]{4}_seq$'
    LOOP
        EXECUTE format('DROP SEQUENCE %I', seq);
    END LOOP;
END $$""")
