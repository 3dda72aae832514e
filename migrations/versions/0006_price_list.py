"""price list: the services a visit can be billed for, in integer cents

Revision ID: 0006
Revises: 0005
"""
from alembic import op
import sqlalchemy as sa

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'service',
        sa.Column('id', sa.BigInteger(), primary_key=True),
        sa.Column('code', sa.String(32), nullable=False),
        sa.Column('name', sa.String(200), nullable=False),
        sa.Column('category', sa.String(16), nullable=False),
        sa.Column('price_cents', sa.BigInteger(), nullable=False),
        sa.Column('min_cents', sa.BigInteger(), nullable=True),
        sa.Column('max_cents', sa.BigInteger(), nullable=True),
        sa.Column('is_active', sa.Boolean(), server_default=sa.text('true'), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.CheckConstraint('price_cents >= 0', name=op.f('ck_service_price_not_negative')),
        sa.CheckConstraint('min_cents IS NULL OR (min_cents >= 0 AND min_cents <= price_cents)',
                           name=op.f('ck_service_min_in_range')),
        sa.CheckConstraint('max_cents IS NULL OR max_cents >= price_cents', name=op.f('ck_service_max_in_range')),
        sa.CheckConstraint("category IN ('consultation', 'procedure', 'laboratory', 'imaging', 'pharmacy', "
                           "'product', 'other')", name=op.f('ck_service_category_known')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_service')),
    )
    op.create_index('uq_service_code_lower', 'service', [sa.text('lower(code)')], unique=True)
    op.create_index('ix_service_active_name', 'service', ['is_active', 'name'])


def downgrade():
    op.drop_table('service')
