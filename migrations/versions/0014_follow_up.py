"""follow_up: appointments booked from a consultation note (a row of its own, so a signed note,
which the database freezes, can still get its follow-up)

Revision ID: 0014
Revises: 0013
"""
import sqlalchemy as sa
from alembic import op

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'follow_up',
        sa.Column('id', sa.BigInteger(), nullable=False),
        sa.Column('consultation_id', sa.BigInteger(), nullable=False),
        sa.Column('appointment_id', sa.BigInteger(), nullable=False),
        sa.Column('booked_by_id', sa.BigInteger(), nullable=True),
        sa.Column('booked_at', sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.ForeignKeyConstraint(['consultation_id'], ['consultation.id'],
                                name=op.f('fk_follow_up_consultation_id_consultation')),
        sa.ForeignKeyConstraint(['appointment_id'], ['appointment.id'],
                                name=op.f('fk_follow_up_appointment_id_appointment')),
        sa.ForeignKeyConstraint(['booked_by_id'], ['staff_user.id'], name=op.f('fk_follow_up_booked_by_id_staff_user')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_follow_up')),
        sa.UniqueConstraint('appointment_id', name=op.f('uq_follow_up_appointment_id')),
    )
    op.create_index('ix_follow_up_consultation_id', 'follow_up', ['consultation_id', 'id'])


def downgrade():
    op.drop_index('ix_follow_up_consultation_id', table_name='follow_up')
    op.drop_table('follow_up')
