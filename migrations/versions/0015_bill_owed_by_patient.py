"""bill_owed_by_patient: what each patient owes on open bills, from one partial covering index
(the waiting room reads it for its patients on every poll)

Revision ID: 0015
Revises: 0014
"""
import sqlalchemy as sa
from alembic import op

revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade():
    op.create_index('ix_bill_owed_by_patient', 'bill', ['patient_id'], postgresql_include=['id', 'balance_cents'],
                    postgresql_where=sa.text("status IN ('open', 'partly_paid')"))


def downgrade():
    op.drop_index('ix_bill_owed_by_patient', table_name='bill')
