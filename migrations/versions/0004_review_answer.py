"""consultation requests: reception answers the doctor's question, and the request goes back for review;
a partial index lists the questions waiting for reception

Revision ID: 0004
Revises: 0003
"""
from alembic import op
import sqlalchemy as sa

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

OUTCOMES_BEFORE = "review_outcome IS NULL OR review_outcome IN ('approved', 'info_requested', 'declined')"
OUTCOMES_AFTER = ("review_outcome IS NULL OR review_outcome IN "
                  "('approved', 'info_requested', 'answered', 'declined')")


def upgrade():
    op.add_column('appointment', sa.Column('review_answer', sa.Text(), nullable=True))
    op.drop_constraint(op.f('ck_appointment_review_outcome_known'), 'appointment', type_='check')
    op.create_check_constraint('review_outcome_known', 'appointment', OUTCOMES_AFTER)
    op.create_index('ix_appointment_info_requested', 'appointment', ['starts_at'],
                    postgresql_where=sa.text("status = 'pending_review' AND review_outcome = 'info_requested'"))


def downgrade():
    op.drop_index('ix_appointment_info_requested', table_name='appointment')
    op.execute("UPDATE appointment SET review_outcome = 'info_requested' WHERE review_outcome = 'answered'")
    op.drop_constraint(op.f('ck_appointment_review_outcome_known'), 'appointment', type_='check')
    op.create_check_constraint('review_outcome_known', 'appointment', OUTCOMES_BEFORE)
    op.drop_column('appointment', 'review_answer')
