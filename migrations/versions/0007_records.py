"""records: consultations, diagnoses, prescriptions, billable services, vitals, addenda, allergies,
the ICD-10 list, break-the-glass grants, the arrival time; signed notes are frozen by triggers

Revision ID: 0007
Revises: 0006
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)

# A signed note, and everything it was signed with, is never changed or deleted: corrections are
# addenda. TRUNCATE (the tests' cleanup, a restore) fires no row trigger.
TRIGGERS = """
CREATE FUNCTION kliniki_consultation_frozen() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.status = 'signed' THEN
        RAISE EXCEPTION 'consultation % is signed and cannot be changed or deleted', OLD.id
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    IF TG_OP = 'DELETE' THEN RETURN OLD; END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER consultation_frozen BEFORE UPDATE OR DELETE ON consultation
    FOR EACH ROW EXECUTE FUNCTION kliniki_consultation_frozen();

CREATE FUNCTION kliniki_note_part_frozen() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    ids bigint[];
BEGIN
    IF TG_OP = 'INSERT' THEN ids := ARRAY[NEW.consultation_id];
    ELSIF TG_OP = 'DELETE' THEN ids := ARRAY[OLD.consultation_id];
    ELSE ids := ARRAY[OLD.consultation_id, NEW.consultation_id];
    END IF;
    IF EXISTS (SELECT 1 FROM consultation WHERE id = ANY(ids) AND status = 'signed') THEN
        RAISE EXCEPTION '% of a signed consultation cannot be added, changed or deleted', TG_TABLE_NAME
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    IF TG_OP = 'DELETE' THEN RETURN OLD; END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER diagnosis_frozen BEFORE INSERT OR UPDATE OR DELETE ON diagnosis
    FOR EACH ROW EXECUTE FUNCTION kliniki_note_part_frozen();
CREATE TRIGGER prescription_frozen BEFORE INSERT OR UPDATE OR DELETE ON prescription
    FOR EACH ROW EXECUTE FUNCTION kliniki_note_part_frozen();
CREATE TRIGGER consultation_service_frozen BEFORE INSERT OR UPDATE OR DELETE ON consultation_service
    FOR EACH ROW EXECUTE FUNCTION kliniki_note_part_frozen();

CREATE FUNCTION kliniki_vitals_frozen() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    ids bigint[];
BEGIN
    IF TG_OP = 'INSERT' THEN ids := ARRAY[NEW.appointment_id];
    ELSIF TG_OP = 'DELETE' THEN ids := ARRAY[OLD.appointment_id];
    ELSE ids := ARRAY[OLD.appointment_id, NEW.appointment_id];
    END IF;
    IF EXISTS (SELECT 1 FROM consultation WHERE appointment_id = ANY(ids) AND status = 'signed') THEN
        RAISE EXCEPTION 'the vitals of a visit with a signed note cannot be added, changed or deleted'
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    IF TG_OP = 'DELETE' THEN RETURN OLD; END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER vital_sign_frozen BEFORE INSERT OR UPDATE OR DELETE ON vital_sign
    FOR EACH ROW EXECUTE FUNCTION kliniki_vitals_frozen();

CREATE FUNCTION kliniki_insert_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% rows are never changed or deleted', TG_TABLE_NAME
        USING ERRCODE = 'integrity_constraint_violation';
END $$;

CREATE TRIGGER addendum_insert_only BEFORE UPDATE OR DELETE ON addendum
    FOR EACH ROW EXECUTE FUNCTION kliniki_insert_only();
"""


def upgrade():
    op.add_column('appointment', sa.Column('arrived_at', TS, nullable=True))

    op.create_table(
        'consultation',
        sa.Column('id', sa.BigInteger(), primary_key=True),
        sa.Column('appointment_id', sa.BigInteger(), nullable=False),
        sa.Column('patient_id', sa.BigInteger(), nullable=False),
        sa.Column('doctor_id', sa.BigInteger(), nullable=False),
        sa.Column('status', sa.String(8), server_default='draft', nullable=False),
        sa.Column('subjective', sa.Text(), nullable=True),
        sa.Column('objective', sa.Text(), nullable=True),
        sa.Column('assessment', sa.Text(), nullable=True),
        sa.Column('plan', sa.Text(), nullable=True),
        sa.Column('version', sa.Integer(), server_default='1', nullable=False),
        sa.Column('created_by_id', sa.BigInteger(), nullable=True),
        sa.Column('created_at', TS, server_default=sa.func.now(), nullable=False),
        sa.Column('updated_at', TS, server_default=sa.func.now(), nullable=False),
        sa.Column('signed_by_id', sa.BigInteger(), nullable=True),
        sa.Column('signed_at', TS, nullable=True),
        sa.Column('content_sha256', sa.String(64), nullable=True),
        sa.CheckConstraint("status IN ('draft', 'signed')", name=op.f('ck_consultation_status_known')),
        sa.CheckConstraint('version > 0', name=op.f('ck_consultation_version_positive')),
        sa.CheckConstraint("status = 'draft' OR (signed_by_id IS NOT NULL AND signed_at IS NOT NULL "
                           "AND content_sha256 IS NOT NULL)", name=op.f('ck_consultation_signed_is_complete')),
        sa.ForeignKeyConstraint(['appointment_id'], ['appointment.id'],
                                name=op.f('fk_consultation_appointment_id_appointment')),
        sa.ForeignKeyConstraint(['patient_id'], ['patient.id'], name=op.f('fk_consultation_patient_id_patient')),
        sa.ForeignKeyConstraint(['doctor_id'], ['doctor.id'], name=op.f('fk_consultation_doctor_id_doctor')),
        sa.ForeignKeyConstraint(['created_by_id'], ['staff_user.id'],
                                name=op.f('fk_consultation_created_by_id_staff_user')),
        sa.ForeignKeyConstraint(['signed_by_id'], ['staff_user.id'],
                                name=op.f('fk_consultation_signed_by_id_staff_user')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_consultation')),
        sa.UniqueConstraint('appointment_id', name='uq_consultation_appointment_id'),
    )
    op.create_index('ix_consultation_patient_created', 'consultation',
                    ['patient_id', sa.text('created_at DESC'), sa.text('id DESC')])
    op.create_index('ix_consultation_doctor_created', 'consultation',
                    ['doctor_id', sa.text('created_at DESC'), sa.text('id DESC')])
    op.create_index('ix_consultation_created', 'consultation', [sa.text('created_at DESC'), sa.text('id DESC')])

    op.create_table(
        'diagnosis',
        sa.Column('id', sa.BigInteger(), primary_key=True),
        sa.Column('consultation_id', sa.BigInteger(), nullable=False),
        sa.Column('code_system', sa.String(16), nullable=True),
        sa.Column('code_version', sa.String(16), nullable=True),
        sa.Column('code', sa.String(16), nullable=True),
        sa.Column('text', sa.String(300), nullable=False),
        sa.Column('is_primary', sa.Boolean(), server_default=sa.text('false'), nullable=False),
        sa.Column('created_at', TS, server_default=sa.func.now(), nullable=False),
        sa.ForeignKeyConstraint(['consultation_id'], ['consultation.id'],
                                name=op.f('fk_diagnosis_consultation_id_consultation')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_diagnosis')),
    )
    op.create_index('ix_diagnosis_consultation_id', 'diagnosis', ['consultation_id', 'id'])
    op.create_index('uq_diagnosis_one_primary', 'diagnosis', ['consultation_id'], unique=True,
                    postgresql_where=sa.text('is_primary'))

    op.create_table(
        'prescription',
        sa.Column('id', sa.BigInteger(), primary_key=True),
        sa.Column('consultation_id', sa.BigInteger(), nullable=False),
        sa.Column('drug', sa.String(120), nullable=False),
        sa.Column('strength', sa.String(60), nullable=True),
        sa.Column('dose', sa.String(60), nullable=True),
        sa.Column('route', sa.String(30), nullable=True),
        sa.Column('frequency', sa.String(60), nullable=True),
        sa.Column('duration', sa.String(60), nullable=True),
        sa.Column('quantity', sa.Integer(), nullable=True),
        sa.Column('instructions', sa.Text(), nullable=True),
        sa.Column('allergy_warning', sa.String(300), nullable=True),
        sa.Column('created_at', TS, server_default=sa.func.now(), nullable=False),
        sa.CheckConstraint('quantity IS NULL OR quantity > 0', name=op.f('ck_prescription_quantity_positive')),
        sa.ForeignKeyConstraint(['consultation_id'], ['consultation.id'],
                                name=op.f('fk_prescription_consultation_id_consultation')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_prescription')),
    )
    op.create_index('ix_prescription_consultation_id', 'prescription', ['consultation_id', 'id'])

    op.create_table(
        'consultation_service',
        sa.Column('id', sa.BigInteger(), primary_key=True),
        sa.Column('consultation_id', sa.BigInteger(), nullable=False),
        sa.Column('service_id', sa.BigInteger(), nullable=False),
        sa.Column('quantity', sa.Integer(), server_default='1', nullable=False),
        sa.Column('created_at', TS, server_default=sa.func.now(), nullable=False),
        sa.CheckConstraint('quantity > 0', name=op.f('ck_consultation_service_quantity_positive')),
        sa.ForeignKeyConstraint(['consultation_id'], ['consultation.id'],
                                name=op.f('fk_consultation_service_consultation_id_consultation')),
        sa.ForeignKeyConstraint(['service_id'], ['service.id'],
                                name=op.f('fk_consultation_service_service_id_service')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_consultation_service')),
        sa.UniqueConstraint('consultation_id', 'service_id', name='uq_consultation_service'),
    )
    op.create_index('ix_consultation_service_service_id', 'consultation_service', ['service_id'])

    op.create_table(
        'vital_sign',
        sa.Column('id', sa.BigInteger(), primary_key=True),
        sa.Column('appointment_id', sa.BigInteger(), nullable=False),
        sa.Column('patient_id', sa.BigInteger(), nullable=False),
        sa.Column('recorded_by_id', sa.BigInteger(), nullable=True),
        sa.Column('recorded_at', TS, server_default=sa.func.now(), nullable=False),
        sa.Column('temperature_c', sa.Numeric(4, 1), nullable=True),
        sa.Column('pulse_bpm', sa.SmallInteger(), nullable=True),
        sa.Column('systolic_mmhg', sa.SmallInteger(), nullable=True),
        sa.Column('diastolic_mmhg', sa.SmallInteger(), nullable=True),
        sa.Column('resp_rate', sa.SmallInteger(), nullable=True),
        sa.Column('spo2_pct', sa.SmallInteger(), nullable=True),
        sa.Column('weight_kg', sa.Numeric(5, 1), nullable=True),
        sa.Column('height_cm', sa.Numeric(4, 1), nullable=True),
        sa.Column('pain_score', sa.SmallInteger(), nullable=True),
        sa.CheckConstraint('temperature_c IS NULL OR temperature_c BETWEEN 25 AND 45',
                           name=op.f('ck_vital_sign_temperature_possible')),
        sa.CheckConstraint('pulse_bpm IS NULL OR pulse_bpm BETWEEN 20 AND 300', name=op.f('ck_vital_sign_pulse_possible')),
        sa.CheckConstraint('systolic_mmhg IS NULL OR systolic_mmhg BETWEEN 40 AND 300',
                           name=op.f('ck_vital_sign_systolic_possible')),
        sa.CheckConstraint('diastolic_mmhg IS NULL OR diastolic_mmhg BETWEEN 20 AND 200',
                           name=op.f('ck_vital_sign_diastolic_possible')),
        sa.CheckConstraint('(systolic_mmhg IS NULL) = (diastolic_mmhg IS NULL)', name=op.f('ck_vital_sign_pressure_pair')),
        sa.CheckConstraint('systolic_mmhg IS NULL OR systolic_mmhg > diastolic_mmhg',
                           name=op.f('ck_vital_sign_pressure_order')),
        sa.CheckConstraint('resp_rate IS NULL OR resp_rate BETWEEN 3 AND 80', name=op.f('ck_vital_sign_resp_rate_possible')),
        sa.CheckConstraint('spo2_pct IS NULL OR spo2_pct BETWEEN 50 AND 100', name=op.f('ck_vital_sign_spo2_possible')),
        sa.CheckConstraint('weight_kg IS NULL OR weight_kg BETWEEN 0.3 AND 400', name=op.f('ck_vital_sign_weight_possible')),
        sa.CheckConstraint('height_cm IS NULL OR height_cm BETWEEN 20 AND 250', name=op.f('ck_vital_sign_height_possible')),
        sa.CheckConstraint('pain_score IS NULL OR pain_score BETWEEN 0 AND 10', name=op.f('ck_vital_sign_pain_possible')),
        sa.CheckConstraint('num_nonnulls(temperature_c, pulse_bpm, systolic_mmhg, resp_rate, spo2_pct, '
                           'weight_kg, height_cm, pain_score) > 0', name=op.f('ck_vital_sign_something_measured')),
        sa.ForeignKeyConstraint(['appointment_id'], ['appointment.id'],
                                name=op.f('fk_vital_sign_appointment_id_appointment')),
        sa.ForeignKeyConstraint(['patient_id'], ['patient.id'], name=op.f('fk_vital_sign_patient_id_patient')),
        sa.ForeignKeyConstraint(['recorded_by_id'], ['staff_user.id'],
                                name=op.f('fk_vital_sign_recorded_by_id_staff_user')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_vital_sign')),
    )
    op.create_index('ix_vital_sign_patient_recorded', 'vital_sign',
                    ['patient_id', sa.text('recorded_at DESC'), sa.text('id DESC')])
    op.create_index('ix_vital_sign_appointment_recorded', 'vital_sign', ['appointment_id', 'recorded_at'])

    op.create_table(
        'addendum',
        sa.Column('id', sa.BigInteger(), primary_key=True),
        sa.Column('consultation_id', sa.BigInteger(), nullable=False),
        sa.Column('author_id', sa.BigInteger(), nullable=True),
        sa.Column('at', TS, server_default=sa.func.now(), nullable=False),
        sa.Column('reason', sa.String(300), nullable=False),
        sa.Column('text', sa.Text(), nullable=False),
        sa.CheckConstraint('length(btrim(reason)) > 0', name=op.f('ck_addendum_reason_given')),
        sa.ForeignKeyConstraint(['consultation_id'], ['consultation.id'],
                                name=op.f('fk_addendum_consultation_id_consultation')),
        sa.ForeignKeyConstraint(['author_id'], ['staff_user.id'], name=op.f('fk_addendum_author_id_staff_user')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_addendum')),
    )
    op.create_index('ix_addendum_consultation_at', 'addendum', ['consultation_id', 'at', 'id'])

    op.create_table(
        'icd10_code',
        sa.Column('code', sa.String(8, collation='C'), primary_key=True),
        sa.Column('title', sa.Text(), nullable=False),
        sa.Column('title_words', postgresql.TSVECTOR(),
                  sa.Computed("to_tsvector('simple'::regconfig, title)", persisted=True), nullable=False),
        sa.PrimaryKeyConstraint('code', name=op.f('pk_icd10_code')),
    )
    op.create_index('ix_icd10_code_title_words', 'icd10_code', ['title_words'], postgresql_using='gin',
                    postgresql_with={'fastupdate': 'off'})

    op.create_table(
        'allergy',
        sa.Column('id', sa.BigInteger(), primary_key=True),
        sa.Column('patient_id', sa.BigInteger(), nullable=False),
        sa.Column('substance', sa.String(120), nullable=False),
        sa.Column('reaction', sa.String(200), nullable=True),
        sa.Column('severity', sa.String(10), server_default='unknown', nullable=False),
        sa.Column('is_active', sa.Boolean(), server_default=sa.text('true'), nullable=False),
        sa.Column('recorded_by_id', sa.BigInteger(), nullable=True),
        sa.Column('recorded_at', TS, server_default=sa.func.now(), nullable=False),
        sa.Column('updated_at', TS, server_default=sa.func.now(), nullable=False),
        sa.CheckConstraint("severity IN ('mild', 'moderate', 'severe', 'unknown')",
                           name=op.f('ck_allergy_severity_known')),
        sa.ForeignKeyConstraint(['patient_id'], ['patient.id'], name=op.f('fk_allergy_patient_id_patient')),
        sa.ForeignKeyConstraint(['recorded_by_id'], ['staff_user.id'],
                                name=op.f('fk_allergy_recorded_by_id_staff_user')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_allergy')),
    )
    op.create_index('ix_allergy_patient_id', 'allergy', ['patient_id', 'id'])

    op.create_table(
        'record_access_grant',
        sa.Column('id', sa.BigInteger(), primary_key=True),
        sa.Column('user_id', sa.BigInteger(), nullable=False),
        sa.Column('patient_id', sa.BigInteger(), nullable=False),
        sa.Column('reason', sa.String(300), nullable=False),
        sa.Column('at', TS, server_default=sa.func.now(), nullable=False),
        sa.ForeignKeyConstraint(['user_id'], ['staff_user.id'],
                                name=op.f('fk_record_access_grant_user_id_staff_user')),
        sa.ForeignKeyConstraint(['patient_id'], ['patient.id'],
                                name=op.f('fk_record_access_grant_patient_id_patient')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_record_access_grant')),
    )
    op.create_index('ix_record_access_grant_user_patient', 'record_access_grant', ['user_id', 'patient_id', 'at'])

    op.execute(TRIGGERS)


def downgrade():
    for table in ('record_access_grant', 'allergy', 'icd10_code', 'addendum', 'vital_sign',
                  'consultation_service', 'prescription', 'diagnosis', 'consultation'):
        op.drop_table(table)
    op.execute("DROP FUNCTION kliniki_consultation_frozen(); DROP FUNCTION kliniki_note_part_frozen(); "
               "DROP FUNCTION kliniki_vitals_frozen(); DROP FUNCTION kliniki_insert_only();")
    op.drop_column('appointment', 'arrived_at')
