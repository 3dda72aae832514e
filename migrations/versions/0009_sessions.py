"""sessions: server-side staff sessions (revocable on every worker), throttled attempts kept apart
from failures, addresses an account has signed in from, and an admin's clearing of a sign-in lock

Revision ID: 0009
Revises: 0006
"""
import sqlalchemy as sa
from alembic import op

revision = '0009'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'staff_session',
        sa.Column('id', sa.BigInteger(), primary_key=True),
        sa.Column('token_hash', sa.LargeBinary(32), nullable=False),
        sa.Column('user_id', sa.BigInteger(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column('last_seen_at', sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('ip', sa.String(45), nullable=True),
        sa.Column('user_agent', sa.String(120), nullable=True),
        sa.ForeignKeyConstraint(['user_id'], ['staff_user.id'], ondelete='CASCADE',
                                name=op.f('fk_staff_session_user_id_staff_user')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_staff_session')),
    )
    op.create_index('uq_staff_session_token_hash', 'staff_session', ['token_hash'], unique=True)
    op.create_index('ix_staff_session_user_open', 'staff_session', ['user_id'],
                    postgresql_where=sa.text('revoked_at IS NULL'))
    op.add_column('login_event', sa.Column('throttled', sa.Boolean(), server_default='false', nullable=False))
    op.create_index('ix_login_event_known_address', 'login_event', ['user_id', 'ip'],
                    postgresql_where=sa.text('success'))
    op.add_column('staff_user', sa.Column('lock_cleared_at', sa.DateTime(timezone=True), nullable=True))


def downgrade():
    op.drop_column('staff_user', 'lock_cleared_at')
    op.drop_index('ix_login_event_known_address', table_name='login_event')
    op.drop_column('login_event', 'throttled')
    op.drop_index('ix_staff_session_user_open', table_name='staff_session')
    op.drop_index('uq_staff_session_token_hash', table_name='staff_session')
    op.drop_table('staff_session')
