"""schedule: weekly availability and breaks, time off, appointment history, stricter slot/appointment checks

Revision ID: 0002
Revises: 0001
"""
from alembic import op
import sqlalchemy as sa

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('availability',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('doctor_id', sa.BigInteger(), nullable=False),
    sa.Column('weekday', sa.SmallInteger(), nullable=False),
    sa.Column('kind', sa.String(length=8), server_default='hours', nullable=False),
    sa.Column('starts_time', sa.Time(), nullable=False),
    sa.Column('ends_time', sa.Time(), nullable=False),
    sa.CheckConstraint('weekday BETWEEN 0 AND 6', name=op.f('ck_availability_weekday_range')),
    sa.CheckConstraint("kind IN ('hours', 'break')", name=op.f('ck_availability_kind_known')),
    sa.CheckConstraint('ends_time > starts_time', name=op.f('ck_availability_ends_after_start')),
    sa.ForeignKeyConstraint(['doctor_id'], ['doctor.id'], name=op.f('fk_availability_doctor_id_doctor'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_availability'))
    )
    op.create_index('ix_availability_doctor_id_weekday', 'availability', ['doctor_id', 'weekday'])

    op.create_table('time_off',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('doctor_id', sa.BigInteger(), nullable=False),
    sa.Column('starts_on', sa.Date(), nullable=False),
    sa.Column('ends_on', sa.Date(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('created_by_id', sa.BigInteger(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint('ends_on >= starts_on', name=op.f('ck_time_off_ends_after_start')),
    sa.ForeignKeyConstraint(['doctor_id'], ['doctor.id'], name=op.f('fk_time_off_doctor_id_doctor'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['created_by_id'], ['staff_user.id'], name=op.f('fk_time_off_created_by_id_staff_user'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_time_off'))
    )
    op.create_index('ix_time_off_doctor_id_starts_on', 'time_off', ['doctor_id', 'starts_on'])

    op.create_table('appointment_event',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('appointment_id', sa.BigInteger(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('user_id', sa.BigInteger(), nullable=True),
    sa.Column('action', sa.String(length=24), nullable=False),
    sa.Column('from_status', sa.String(length=20), nullable=True),
    sa.Column('to_status', sa.String(length=20), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['appointment_id'], ['appointment.id'], name=op.f('fk_appointment_event_appointment_id_appointment'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['staff_user.id'], name=op.f('fk_appointment_event_user_id_staff_user'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_appointment_event'))
    )
    op.create_index('ix_appointment_event_appointment_id_at', 'appointment_event', ['appointment_id', 'at'])

    op.add_column('appointment', sa.Column('review_outcome', sa.String(length=16), nullable=True))
    op.create_check_constraint('cancelled_by_known', 'appointment',
                               "cancelled_by IS NULL OR cancelled_by IN ('patient', 'clinic')")
    op.create_check_constraint('cancel_has_reason', 'appointment',
                               "status <> 'cancelled' OR (cancelled_by IS NOT NULL AND cancel_reason IS NOT NULL)")
    op.create_check_constraint('review_outcome_known', 'appointment',
                               "review_outcome IS NULL OR review_outcome IN ('approved', 'info_requested', 'declined')")
    op.create_check_constraint('booked_has_appointment', 'slot',
                               "(status = 'booked') = (appointment_id IS NOT NULL)")


def downgrade():
    op.drop_constraint(op.f('ck_slot_booked_has_appointment'), 'slot', type_='check')
    op.drop_constraint(op.f('ck_appointment_review_outcome_known'), 'appointment', type_='check')
    op.drop_constraint(op.f('ck_appointment_cancel_has_reason'), 'appointment', type_='check')
    op.drop_constraint(op.f('ck_appointment_cancelled_by_known'), 'appointment', type_='check')
    op.drop_column('appointment', 'review_outcome')
    op.drop_table('appointment_event')
    op.drop_table('time_off')
    op.drop_table('availability')
