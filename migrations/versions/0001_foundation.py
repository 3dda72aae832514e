"""foundation

Revision ID: 0001
Revises: 

"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('staff_user',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('full_name', sa.String(length=120), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('password_hash', sa.Text(), nullable=False),
    sa.Column('is_active', sa.Boolean(), server_default='true', nullable=False),
    sa.Column('auth_version', sa.Integer(), server_default='0', nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('last_login_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("role IN ('admin', 'reception', 'doctor', 'nurse')", name=op.f('ck_staff_user_role_known')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_staff_user'))
    )
    with op.batch_alter_table('staff_user', schema=None) as batch_op:
        batch_op.create_index('uq_staff_user_username_lower', [sa.literal_column('lower(username)')], unique=True)

    op.create_table('audit_event',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('user_id', sa.BigInteger(), nullable=True),
    sa.Column('action', sa.String(length=64), nullable=False),
    sa.Column('entity', sa.String(length=32), nullable=False),
    sa.Column('entity_id', sa.BigInteger(), nullable=True),
    sa.Column('patient_id', sa.BigInteger(), nullable=True),
    sa.Column('ip', sa.String(length=45), nullable=True),
    sa.Column('detail', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['staff_user.id'], name=op.f('fk_audit_event_user_id_staff_user'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_event'))
    )
    with op.batch_alter_table('audit_event', schema=None) as batch_op:
        batch_op.create_index('ix_audit_event_patient_at', ['patient_id', 'at'], unique=False)
        batch_op.create_index('ix_audit_event_user_at', ['user_id', 'at'], unique=False)

    op.create_table('doctor',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('user_id', sa.BigInteger(), nullable=True),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('phone', sa.String(length=16), nullable=True),
    sa.Column('email', sa.String(length=254), nullable=True),
    sa.Column('licence_number', sa.String(length=32), nullable=False),
    sa.Column('specialisation', sa.String(length=80), nullable=False),
    sa.Column('slot_minutes', sa.Integer(), server_default='30', nullable=False),
    sa.Column('is_active', sa.Boolean(), server_default='true', nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['staff_user.id'], name=op.f('fk_doctor_user_id_staff_user')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_doctor')),
    sa.UniqueConstraint('licence_number', name=op.f('uq_doctor_licence_number')),
    sa.UniqueConstraint('user_id', name=op.f('uq_doctor_user_id'))
    )
    with op.batch_alter_table('doctor', schema=None) as batch_op:
        batch_op.create_index('ix_doctor_name', ['name'], unique=False)
        batch_op.create_index('ix_doctor_phone', ['phone'], unique=False)

    op.create_table('idempotency_key',
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('scope', sa.String(length=32), nullable=False),
    sa.Column('request_hash', sa.String(length=64), nullable=False),
    sa.Column('user_id', sa.BigInteger(), nullable=True),
    sa.Column('result', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['staff_user.id'], name=op.f('fk_idempotency_key_user_id_staff_user'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_idempotency_key'))
    )
    with op.batch_alter_table('idempotency_key', schema=None) as batch_op:
        batch_op.create_index('ix_idempotency_key_expires_at', ['expires_at'], unique=False)

    op.create_table('login_event',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('user_id', sa.BigInteger(), nullable=True),
    sa.Column('ip', sa.String(length=45), nullable=False),
    sa.Column('success', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['staff_user.id'], name=op.f('fk_login_event_user_id_staff_user'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_login_event'))
    )
    with op.batch_alter_table('login_event', schema=None) as batch_op:
        batch_op.create_index('ix_login_event_ip_at', ['ip', 'at'], unique=False)
        batch_op.create_index('ix_login_event_username_at', [sa.literal_column('lower(username)'), 'at'], unique=False)

    op.execute(sa.schema.CreateSequence(sa.Sequence('patient_file_number_seq')))
    op.create_table('patient',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('file_number', sa.String(length=16), server_default=sa.text("'KL-' || lpad(nextval('patient_file_number_seq')::text, 6, '0')"), nullable=False),
    sa.Column('first_name', sa.String(length=80), nullable=False),
    sa.Column('middle_name', sa.String(length=80), nullable=True),
    sa.Column('last_name', sa.String(length=80), nullable=False),
    sa.Column('date_of_birth', sa.Date(), nullable=False),
    sa.Column('sex', sa.String(length=16), nullable=False),
    sa.Column('phone', sa.String(length=16), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=True),
    sa.Column('national_id', sa.String(length=32), nullable=True),
    sa.Column('address', sa.Text(), nullable=True),
    sa.Column('next_of_kin_name', sa.String(length=120), nullable=True),
    sa.Column('next_of_kin_phone', sa.String(length=16), nullable=True),
    sa.Column('next_of_kin_relation', sa.String(length=40), nullable=True),
    sa.Column('allergies', sa.Text(), nullable=True),
    sa.Column('insurance_provider', sa.String(length=80), nullable=True),
    sa.Column('insurance_member_number', sa.String(length=40), nullable=True),
    sa.Column('consent_data_processing', sa.Boolean(), server_default='false', nullable=False),
    sa.Column('consent_sms', sa.Boolean(), server_default='false', nullable=False),
    sa.Column('approved_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('approved_by_id', sa.BigInteger(), nullable=True),
    sa.Column('assigned_to_id', sa.BigInteger(), nullable=True),
    sa.Column('created_by_id', sa.BigInteger(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('version', sa.Integer(), server_default='1', nullable=False),
    sa.ForeignKeyConstraint(['approved_by_id'], ['staff_user.id'], name=op.f('fk_patient_approved_by_id_staff_user')),
    sa.ForeignKeyConstraint(['assigned_to_id'], ['staff_user.id'], name=op.f('fk_patient_assigned_to_id_staff_user')),
    sa.ForeignKeyConstraint(['created_by_id'], ['staff_user.id'], name=op.f('fk_patient_created_by_id_staff_user')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_patient')),
    sa.UniqueConstraint('file_number', name=op.f('uq_patient_file_number'))
    )
    with op.batch_alter_table('patient', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_patient_assigned_to_id'), ['assigned_to_id'], unique=False)
        batch_op.create_index('ix_patient_created_at', ['created_at'], unique=False)
        batch_op.create_index('ix_patient_date_of_birth', ['date_of_birth'], unique=False)
        batch_op.create_index('ix_patient_first_name_last_name', ['first_name', 'last_name'], unique=False)
        batch_op.create_index('ix_patient_last_name', ['last_name'], unique=False)
        batch_op.create_index('ix_patient_phone', ['phone'], unique=False)

    op.create_table('appointment',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('patient_id', sa.BigInteger(), nullable=False),
    sa.Column('doctor_id', sa.BigInteger(), nullable=False),
    sa.Column('starts_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ends_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('status', sa.String(length=20), server_default='booked', nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('created_by_id', sa.BigInteger(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('status_changed_by_id', sa.BigInteger(), nullable=True),
    sa.Column('status_changed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('cancel_reason', sa.Text(), nullable=True),
    sa.Column('cancelled_by', sa.String(length=16), nullable=True),
    sa.Column('reviewed_by_id', sa.BigInteger(), nullable=True),
    sa.Column('reviewed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('review_notes', sa.Text(), nullable=True),
    sa.CheckConstraint("status IN ('pending_review', 'booked', 'confirmed', 'checked_in', 'in_consultation', 'completed', 'no_show', 'cancelled')", name=op.f('ck_appointment_status_known')),
    sa.CheckConstraint('ends_at > starts_at', name=op.f('ck_appointment_ends_after_start')),
    sa.ForeignKeyConstraint(['created_by_id'], ['staff_user.id'], name=op.f('fk_appointment_created_by_id_staff_user')),
    sa.ForeignKeyConstraint(['doctor_id'], ['doctor.id'], name=op.f('fk_appointment_doctor_id_doctor')),
    sa.ForeignKeyConstraint(['patient_id'], ['patient.id'], name=op.f('fk_appointment_patient_id_patient')),
    sa.ForeignKeyConstraint(['reviewed_by_id'], ['staff_user.id'], name=op.f('fk_appointment_reviewed_by_id_staff_user')),
    sa.ForeignKeyConstraint(['status_changed_by_id'], ['staff_user.id'], name=op.f('fk_appointment_status_changed_by_id_staff_user')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_appointment'))
    )
    with op.batch_alter_table('appointment', schema=None) as batch_op:
        batch_op.create_index('ix_appointment_created_at', ['created_at'], unique=False)
        batch_op.create_index('ix_appointment_patient_id_starts_at', ['patient_id', 'starts_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_appointment_reviewed_by_id'), ['reviewed_by_id'], unique=False)
        batch_op.create_index('ix_appointment_starts_at', ['starts_at'], unique=False)
        batch_op.create_index('ix_appointment_updated_at', ['updated_at'], unique=False)
        batch_op.create_index('uq_appointment_doctor_start_active', ['doctor_id', 'starts_at'], unique=True, postgresql_where=sa.text("status <> 'cancelled'"))

    op.create_table('slot',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('doctor_id', sa.BigInteger(), nullable=False),
    sa.Column('starts_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ends_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('status', sa.String(length=16), server_default='open', nullable=False),
    sa.Column('appointment_id', sa.BigInteger(), nullable=True),
    sa.CheckConstraint("status IN ('open', 'booked', 'blocked')", name=op.f('ck_slot_status_known')),
    sa.CheckConstraint('ends_at > starts_at', name=op.f('ck_slot_ends_after_start')),
    sa.ForeignKeyConstraint(['appointment_id'], ['appointment.id'], name=op.f('fk_slot_appointment_id_appointment'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['doctor_id'], ['doctor.id'], name=op.f('fk_slot_doctor_id_doctor')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_slot')),
    sa.UniqueConstraint('doctor_id', 'starts_at', name=op.f('uq_slot_doctor_id_starts_at'))
    )
    with op.batch_alter_table('slot', schema=None) as batch_op:
        batch_op.create_index('ix_slot_appointment_id', ['appointment_id'], unique=False)
        batch_op.create_index('ix_slot_starts_at_doctor_id', ['starts_at', 'doctor_id'], unique=False)



def downgrade():
    with op.batch_alter_table('slot', schema=None) as batch_op:
        batch_op.drop_index('ix_slot_starts_at_doctor_id')
        batch_op.drop_index('ix_slot_appointment_id')

    op.drop_table('slot')
    with op.batch_alter_table('appointment', schema=None) as batch_op:
        batch_op.drop_index('uq_appointment_doctor_start_active', postgresql_where=sa.text("status <> 'cancelled'"))
        batch_op.drop_index('ix_appointment_updated_at')
        batch_op.drop_index('ix_appointment_starts_at')
        batch_op.drop_index(batch_op.f('ix_appointment_reviewed_by_id'))
        batch_op.drop_index('ix_appointment_patient_id_starts_at')
        batch_op.drop_index('ix_appointment_created_at')

    op.drop_table('appointment')
    with op.batch_alter_table('patient', schema=None) as batch_op:
        batch_op.drop_index('ix_patient_phone')
        batch_op.drop_index('ix_patient_last_name')
        batch_op.drop_index('ix_patient_first_name_last_name')
        batch_op.drop_index('ix_patient_date_of_birth')
        batch_op.drop_index('ix_patient_created_at')
        batch_op.drop_index(batch_op.f('ix_patient_assigned_to_id'))

    op.drop_table('patient')
    op.execute(sa.schema.DropSequence(sa.Sequence('patient_file_number_seq')))
    with op.batch_alter_table('login_event', schema=None) as batch_op:
        batch_op.drop_index('ix_login_event_username_at')
        batch_op.drop_index('ix_login_event_ip_at')

    op.drop_table('login_event')
    with op.batch_alter_table('idempotency_key', schema=None) as batch_op:
        batch_op.drop_index('ix_idempotency_key_expires_at')

    op.drop_table('idempotency_key')
    with op.batch_alter_table('doctor', schema=None) as batch_op:
        batch_op.drop_index('ix_doctor_phone')
        batch_op.drop_index('ix_doctor_name')

    op.drop_table('doctor')
    with op.batch_alter_table('audit_event', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_event_user_at')
        batch_op.drop_index('ix_audit_event_patient_at')

    op.drop_table('audit_event')
    with op.batch_alter_table('staff_user', schema=None) as batch_op:
        batch_op.drop_index('uq_staff_user_username_lower')

    op.drop_table('staff_user')
