"""load_balancer.request_id: the API request that gave the pending work

Revision ID: 5b1e7c2d9a40
Revises: 947fe13d448d
Create Date: 2026-12-03 07:00:00
"""
import sqlalchemy as sa
from alembic import op

revision = '5b1e7c2d9a40'
down_revision = '947fe13d448d'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('load_balancer') as batch:
        batch.add_column(sa.Column('request_id', sa.String(length=64), nullable=True))


def downgrade():
    with op.batch_alter_table('load_balancer') as batch:
        batch.drop_column('request_id')
