"""bill_owed_by_patient: what each patient owes on open bills, from one partial covering index
(the waiting room reads it for its patients on every poll); the day's payments by method and by
bill from ix_payment_created_at alone (the cash-up)

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
    op.drop_index('ix_payment_created_at', table_name='payment')
    op.create_index('ix_payment_created_at', 'payment', ['created_at'],
                    postgresql_include=['method', 'amount_cents', 'bill_id'])


def downgrade():
    op.drop_index('ix_payment_created_at', table_name='payment')
    op.create_index('ix_payment_created_at', 'payment', ['created_at'])
    op.drop_index('ix_bill_owed_by_patient', table_name='bill')
