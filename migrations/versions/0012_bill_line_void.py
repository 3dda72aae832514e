"""payments: a mistaken charge is voided as a new row (bill_line_void: the line, its reason, who, when),
never edited; the bill's totals leave voided lines and their discounts out

Revision ID: 0012
Revises: 0011
"""
from alembic import op

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None

# Same columns as 0008's view, then voided_cents; a voided line and the discounts on it stop counting.
BALANCE_VIEW = """
CREATE OR REPLACE VIEW bill_balance AS
SELECT b.id AS bill_id, b.patient_id, b.appointment_id, b.status, b.opened_at,
       coalesce(l.charged, 0)::bigint AS charged_cents,
       coalesce(d.discounted, 0)::bigint AS discount_cents,
       CASE WHEN b.status = 'void' THEN 0
            ELSE coalesce(l.charged, 0) - coalesce(d.discounted, 0) END::bigint AS total_cents,
       (coalesce(p.paid, 0) - coalesce(r.reversed, 0))::bigint AS paid_cents,
       CASE WHEN b.status = 'void' THEN 0
            ELSE coalesce(l.charged, 0) - coalesce(d.discounted, 0)
                 - (coalesce(p.paid, 0) - coalesce(r.reversed, 0)) END::bigint AS balance_cents,
       coalesce(l.voided, 0)::bigint AS voided_cents
FROM bill b
LEFT JOIN LATERAL (
    SELECT sum(line_cents) FILTER (WHERE v.id IS NULL) AS charged, sum(line_cents) FILTER (WHERE v.id IS NOT NULL)
           AS voided
    FROM bill_line x LEFT JOIN bill_line_void v ON v.bill_line_id = x.id WHERE x.bill_id = b.id) l ON true
LEFT JOIN LATERAL (
    SELECT sum(amount_cents) AS discounted FROM bill_discount x
    WHERE x.bill_id = b.id
      AND NOT EXISTS (SELECT 1 FROM bill_line_void v WHERE v.bill_line_id = x.bill_line_id)) d ON true
LEFT JOIN LATERAL (SELECT sum(amount_cents) AS paid FROM payment WHERE bill_id = b.id) p ON true
LEFT JOIN LATERAL (SELECT sum(amount_cents) AS reversed FROM payment_reversal WHERE bill_id = b.id) r ON true
"""

OLD_VIEW = """
CREATE OR REPLACE VIEW bill_balance AS
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

# A void names a line of its own bill; its amount is the line's, so the cash-up can sum it.
LINE_VOID_CHECK = """
CREATE FUNCTION kliniki_line_void_check() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    line record;
BEGIN
    SELECT bill_id, line_cents INTO line FROM bill_line WHERE id = NEW.bill_line_id;
    IF line.bill_id <> NEW.bill_id OR line.line_cents <> NEW.amount_cents THEN
        RAISE EXCEPTION 'a line void names another bill''s line or another amount'
            USING ERRCODE = 'check_violation', CONSTRAINT = 'line_void_matches_line';
    END IF;
    RETURN NEW;
END $$;
"""


def upgrade():
    op.execute("""
CREATE TABLE bill_line_void (
    id BIGSERIAL NOT NULL,
    bill_line_id BIGINT NOT NULL,
    bill_id BIGINT NOT NULL,
    amount_cents BIGINT NOT NULL,
    reason TEXT NOT NULL,
    actor_id BIGINT,
    created_at TIMESTAMP WITH TIME ZONE DEFAULT now() NOT NULL,
    CONSTRAINT pk_bill_line_void PRIMARY KEY (id),
    CONSTRAINT ck_bill_line_void_amount_not_negative CHECK (amount_cents >= 0),
    CONSTRAINT ck_bill_line_void_reason_given CHECK (length(btrim(reason)) > 0),
    CONSTRAINT fk_bill_line_void_bill_line_id_bill_line FOREIGN KEY(bill_line_id) REFERENCES bill_line (id),
    CONSTRAINT fk_bill_line_void_bill_id_bill FOREIGN KEY(bill_id) REFERENCES bill (id),
    CONSTRAINT fk_bill_line_void_actor_id_staff_user FOREIGN KEY(actor_id) REFERENCES staff_user (id)
)""")
    op.execute("CREATE UNIQUE INDEX uq_bill_line_void_line ON bill_line_void (bill_line_id)")
    op.execute("CREATE INDEX ix_bill_line_void_bill_id ON bill_line_void (bill_id)")
    op.execute("CREATE INDEX ix_bill_line_void_created_at ON bill_line_void (created_at)")
    op.execute(BALANCE_VIEW)
    op.execute(LINE_VOID_CHECK)
    op.execute("CREATE TRIGGER bill_line_void_never_changes BEFORE UPDATE OR DELETE ON bill_line_void "
               "FOR EACH ROW EXECUTE FUNCTION kliniki_refuse_change()")
    op.execute("CREATE TRIGGER bill_line_void_matches_line BEFORE INSERT ON bill_line_void "
               "FOR EACH ROW EXECUTE FUNCTION kliniki_line_void_check()")
    op.execute("CREATE TRIGGER bill_line_void_settles_bill AFTER INSERT ON bill_line_void "
               "FOR EACH ROW EXECUTE FUNCTION kliniki_bill_settle()")


def downgrade():
    op.execute("DROP VIEW bill_balance")
    op.execute(OLD_VIEW)
    op.execute("DROP TABLE bill_line_void")
    op.execute("DROP FUNCTION kliniki_line_void_check()")
