"""load_balancer.amphora_count: how many amphorae an ACTIVE_ACTIVE LB runs

Revision ID: e4a9b2c71d05
Revises: c3d8a1f4e7b2
Create Date: 2026-12-03 20:00:00
"""
import sqlalchemy as sa
from alembic import op

revision = 'e4a9b2c71d05'
down_revision = 'c3d8a1f4e7b2'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('load_balancer') as batch:
        batch.add_column(sa.Column('amphora_count', sa.Integer(), nullable=True))


def downgrade():
    with op.batch_alter_table('load_balancer') as batch:
        batch.drop_column('amphora_count')
