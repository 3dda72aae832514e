"""audit chain: audit_event is append-only (UPDATE, DELETE and TRUNCATE refused) and each row carries
a SHA-256 chained to the row before it; audit_chain_head holds the chain's last id and hash; the role
of the actor is kept on the event; addenda use the shared kliniki_refuse_change() like the money rows

Revision ID: 0011
Revises: 0010
"""
import sqlalchemy as sa
from alembic import op

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None

# What is hashed of an event: every column but the hash, as canonical JSON text (jsonb prints one
# way whatever the session's settings; the time is written in UTC to the microsecond).
CONTENT = """
CREATE FUNCTION kliniki_audit_content(e audit_event) RETURNS text LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_array(e.id, to_char(e.at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
                             e.user_id, e.role, e.action, e.entity, e.entity_id, e.patient_id, e.ip,
                             e.detail)::text
$$;
"""

# Before each insert: lock the chain's head row (held to commit, so concurrent transactions link
# one after another in the order they take it, never to the same head), number the event after
# the head and hash it over the head's hash. The chain's order is the id order.
CHAIN = r"""
CREATE FUNCTION kliniki_audit_chain() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    head record;
BEGIN
    SELECT last_id, last_hash INTO head FROM audit_chain_head WHERE id = 1 FOR UPDATE;
    IF NOT FOUND THEN  -- an emptied table (the tests' TRUNCATE): the chain starts again
        INSERT INTO audit_chain_head (id, last_id, last_hash)
            SELECT 1, coalesce(max(id), 0), '\x'::bytea FROM audit_event
            ON CONFLICT DO NOTHING;
        SELECT last_id, last_hash INTO head FROM audit_chain_head WHERE id = 1 FOR UPDATE;
    END IF;
    NEW.id := head.last_id + 1;
    NEW.hash := sha256(head.last_hash || convert_to(kliniki_audit_content(NEW), 'UTF8'));
    UPDATE audit_chain_head SET last_id = NEW.id, last_hash = NEW.hash WHERE id = 1;
    RETURN NEW;
END $$;
"""

# The rows written before this migration, chained in id order.
CHAIN_EXISTING = r"""
DO $$
DECLARE
    e audit_event;
    last_hash bytea := '\x'::bytea;
    last_id bigint := 0;
BEGIN
    FOR e IN SELECT * FROM audit_event ORDER BY id LOOP
        last_hash := sha256(last_hash || convert_to(kliniki_audit_content(e), 'UTF8'));
        last_id := e.id;
        UPDATE audit_event SET hash = last_hash WHERE id = e.id;
    END LOOP;
    INSERT INTO audit_chain_head (id, last_id, last_hash) VALUES (1, last_id, last_hash);
END $$;
"""

# What 0007 and 0008 created, for the downgrade.
INSERT_ONLY_0007 = """
CREATE FUNCTION kliniki_insert_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% rows are never changed or deleted', TG_TABLE_NAME
        USING ERRCODE = 'integrity_constraint_violation';
END $$;
"""


def upgrade():
    op.create_table(
        'audit_chain_head',
        sa.Column('id', sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column('last_id', sa.BigInteger(), nullable=False),
        sa.Column('last_hash', sa.LargeBinary(), nullable=False),
        sa.CheckConstraint('id = 1', name=op.f('ck_audit_chain_head_one_row')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_chain_head')),
    )
    op.add_column('audit_event', sa.Column('role', sa.String(16), nullable=True))
    op.add_column('audit_event', sa.Column('hash', sa.LargeBinary(), nullable=True))
    op.execute(CONTENT)
    op.execute("LOCK TABLE audit_event IN EXCLUSIVE MODE")  # no event slips in between chaining and trigger
    op.execute(CHAIN_EXISTING)
    op.alter_column('audit_event', 'hash', nullable=False)
    # Ids come from the chain's head now, in the order events join the chain.
    op.alter_column('audit_event', 'id', server_default=None)
    op.execute(CHAIN)
    op.execute("CREATE TRIGGER audit_event_chain BEFORE INSERT ON audit_event "
               "FOR EACH ROW EXECUTE FUNCTION kliniki_audit_chain()")

    # 0008's kliniki_refuse_change() (it names the table) is the one function for every
    # insert-only table; tables frozen only once signed keep their own rules (0007).
    op.execute("CREATE TRIGGER audit_event_never_changes BEFORE UPDATE OR DELETE ON audit_event "
               "FOR EACH ROW EXECUTE FUNCTION kliniki_refuse_change()")
    op.execute("CREATE TRIGGER audit_event_never_truncated BEFORE TRUNCATE ON audit_event "
               "FOR EACH STATEMENT EXECUTE FUNCTION kliniki_refuse_change()")
    # 0007's look-alike for addenda goes: the addendum trigger calls the shared function.
    op.execute("DROP TRIGGER addendum_insert_only ON addendum")
    op.execute("CREATE TRIGGER addendum_insert_only BEFORE UPDATE OR DELETE ON addendum "
               "FOR EACH ROW EXECUTE FUNCTION kliniki_refuse_change()")
    op.execute("DROP FUNCTION kliniki_insert_only()")


def downgrade():
    op.execute(INSERT_ONLY_0007)
    op.execute("DROP TRIGGER addendum_insert_only ON addendum")
    op.execute("CREATE TRIGGER addendum_insert_only BEFORE UPDATE OR DELETE ON addendum "
               "FOR EACH ROW EXECUTE FUNCTION kliniki_insert_only()")
    op.execute("DROP TRIGGER audit_event_never_truncated ON audit_event")
    op.execute("DROP TRIGGER audit_event_never_changes ON audit_event")
    op.execute("DROP TRIGGER audit_event_chain ON audit_event")
    op.execute("DROP FUNCTION kliniki_audit_chain()")
    op.execute("SELECT setval('audit_event_id_seq', coalesce((SELECT max(id) FROM audit_event), 0) + 1, false)")
    op.alter_column('audit_event', 'id', server_default=sa.text("nextval('audit_event_id_seq'::regclass)"))
    op.execute("DROP FUNCTION kliniki_audit_content(audit_event)")
    op.drop_column('audit_event', 'hash')
    op.drop_column('audit_event', 'role')
    op.drop_table('audit_chain_head')
