"""data-plane hosts: the host table and amphora.host

Revision ID: 7d2f5a9c3e18
Revises: e4a9b2c71d05
Create Date: 2026-12-04 18:30:00
"""
import sqlalchemy as sa
from alembic import op

revision = '7d2f5a9c3e18'
down_revision = 'e4a9b2c71d05'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'host',
        sa.Column('name', sa.String(255), primary_key=True),
        sa.Column('availability_zone', sa.String(255), nullable=True),
        sa.Column('capacity', sa.Integer(), nullable=False),
        sa.Column('heartbeat_at', sa.DateTime(), nullable=False),
    )
    with op.batch_alter_table('amphora') as batch:
        batch.add_column(sa.Column('host', sa.String(255), nullable=True))
        batch.create_index('ix_amphora_host', ['host'])


def downgrade():
    with op.batch_alter_table('amphora') as batch:
        batch.drop_index('ix_amphora_host')
        batch.drop_column('host')
    op.drop_table('host')
