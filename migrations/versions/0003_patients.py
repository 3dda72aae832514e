"""patients: accent-free name search vector, phone and file-number search indexes, list indexes

Revision ID: 0003
Revises: 0002
"""
from alembic import op
import sqlalchemy as sa

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None

# Core PostgreSQL only (no unaccent, no pg_trgm): lower-case, decompose, drop the combining
# accents, and fold the few Latin letters that do not decompose.
FOLD = r"""
CREATE FUNCTION kliniki_fold(value text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT AS $$
  SELECT translate(regexp_replace(normalize(lower(value), NFD), '[\u0300-\u036f]', '', 'g'),
                   'øđłħıßæœ', 'odlhisao')
$$
"""

# Every name word, once with apostrophes dropped (N'Dege -> ndege) and once split at them
# (n, dege), so either way of typing it finds the patient.
NAME_VECTOR = r"""
CREATE FUNCTION kliniki_name_vector(first text, middle text, last text) RETURNS tsvector
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT to_tsvector('simple'::regconfig,
           regexp_replace(names, '[''’ʼ`]', '', 'g') || ' ' || regexp_replace(names, '[''’ʼ`]', ' ', 'g'))
  FROM (SELECT kliniki_fold(concat_ws(' ', first, middle, last)) AS names) AS folded
$$
"""

# File numbers keep six digits until they need more (lpad alone would truncate KL-1000000).
FILE_NUMBER = r"""
CREATE FUNCTION kliniki_file_number(n bigint) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT AS $$
  SELECT 'KL-' || lpad(n::text, greatest(6, length(n::text)), '0')
$$
"""


def upgrade():
    op.execute(FOLD)
    op.execute(NAME_VECTOR)
    op.execute(FILE_NUMBER)
    op.execute("ALTER TABLE patient ALTER COLUMN file_number "
               "SET DEFAULT kliniki_file_number(nextval('patient_file_number_seq'))")
    op.execute("ALTER TABLE patient ADD COLUMN search_vector tsvector "
               "GENERATED ALWAYS AS (kliniki_name_vector(first_name, middle_name, last_name)) STORED")
    op.execute("CREATE INDEX ix_patient_search_vector ON patient USING gin (search_vector)")
    # Phone typed from its start (0712 34...) and by its last digits (...5678). Byte order
    # ("C") serves both the LIKE 'digits%' range and ORDER BY, so a search reads 50 entries.
    op.execute('CREATE INDEX ix_patient_phone_prefix ON patient ((phone COLLATE "C"))')
    op.execute('CREATE INDEX ix_patient_phone_reversed ON patient ((reverse(phone) COLLATE "C"))')
    # The patient list: pending approval and assigned-to-me, newest first (keyset).
    op.execute("CREATE INDEX ix_patient_pending_created ON patient (created_at DESC, id DESC) "
               "WHERE approved_at IS NULL")
    op.execute("CREATE INDEX ix_patient_assigned_created ON patient (assigned_to_id, created_at DESC, id DESC)")
    op.execute("DROP INDEX IF EXISTS ix_patient_assigned_to_id")
    op.execute("CREATE INDEX ix_patient_date_of_birth_names ON patient (date_of_birth, last_name, first_name)")
    op.execute("DROP INDEX IF EXISTS ix_patient_date_of_birth")
    op.create_check_constraint("phone_e164", "patient", r"phone ~ '^\+[1-9][0-9]{7,14}$'")
    op.create_check_constraint("version_positive", "patient", "version > 0")


def downgrade():
    op.drop_constraint("ck_patient_version_positive", "patient")
    op.drop_constraint("ck_patient_phone_e164", "patient")
    op.execute("CREATE INDEX ix_patient_date_of_birth ON patient (date_of_birth)")
    op.execute("DROP INDEX ix_patient_date_of_birth_names")
    op.execute("CREATE INDEX ix_patient_assigned_to_id ON patient (assigned_to_id)")
    op.execute("DROP INDEX ix_patient_assigned_created")
    op.execute("DROP INDEX ix_patient_pending_created")
    op.execute("DROP INDEX ix_patient_phone_reversed")
    op.execute("DROP INDEX ix_patient_phone_prefix")
    op.execute("DROP INDEX ix_patient_search_vector")
    op.execute("ALTER TABLE patient DROP COLUMN search_vector")
    op.execute("ALTER TABLE patient ALTER COLUMN file_number "
               "SET DEFAULT 'KL-' || lpad(nextval('patient_file_number_seq')::text, 6, '0')")
    op.execute("DROP FUNCTION kliniki_file_number(bigint)")
    op.execute("DROP FUNCTION kliniki_name_vector(text, text, text)")
    op.execute("DROP FUNCTION kliniki_fold(text)")
