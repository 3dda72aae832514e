"""slots: a booked slot the doctor's weekly hours no longer cover is flagged, so reception is told
to move its appointment and the slot goes when it is freed

Revision ID: 0005
Revises: 0004
"""
from alembic import op
import sqlalchemy as sa

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade():
    # A constant default: PostgreSQL adds the column without rewriting the table.
    op.add_column('slot', sa.Column('outside_hours', sa.Boolean(), server_default=sa.text('false'),
                                    nullable=False))
    op.create_check_constraint('outside_hours_only_booked', 'slot',
                               'NOT outside_hours OR appointment_id IS NOT NULL')
    op.create_index('ix_slot_outside_hours', 'slot', ['starts_at'], postgresql_where=sa.text('outside_hours'))


def downgrade():
    op.drop_index('ix_slot_outside_hours', table_name='slot')
    op.drop_constraint(op.f('ck_slot_outside_hours_only_booked'), 'slot', type_='check')
    op.drop_column('slot', 'outside_hours')
