"""dashboard money: covering indexes for revenue by day, method and service and for outstanding balances

Revision ID: 0013
Revises: 0010
"""
import sqlalchemy as sa
from alembic import op

revision = '0013'
down_revision = '0010'
branch_labels = None
depends_on = None

OUTSTANDING = "status IN ('open', 'partly_paid')"


def upgrade():
    # A range's payments, refunds and voids summed by day and method read the index alone.
    op.create_index('ix_payment_created_at_covering', 'payment', ['created_at'],
                    postgresql_include=['method', 'amount_cents'])
    op.create_index('ix_payment_reversal_created_at_covering', 'payment_reversal', ['created_at'],
                    postgresql_include=['method', 'kind', 'amount_cents'])
    # Revenue by service: a range's lines by service without visiting their rows.
    op.create_index('ix_bill_line_created_at_covering', 'bill_line', ['created_at'],
                    postgresql_include=['service_id', 'bill_id', 'quantity', 'line_cents'])
    # The few void bills, whose lines and discounts revenue leaves out.
    op.create_index('ix_bill_void', 'bill', ['id'], postgresql_where=sa.text("status = 'void'"))
    # Outstanding balances: count, total and age of the bills still owed on, from the index alone.
    op.create_index('ix_bill_outstanding_balance', 'bill', ['opened_at'],
                    postgresql_include=['balance_cents'], postgresql_where=sa.text(OUTSTANDING))


def downgrade():
    for name, table in (('ix_bill_outstanding_balance', 'bill'), ('ix_bill_void', 'bill'),
                        ('ix_bill_line_created_at_covering', 'bill_line'),
                        ('ix_payment_reversal_created_at_covering', 'payment_reversal'),
                        ('ix_payment_created_at_covering', 'payment')):
        op.drop_index(name, table_name=table)
