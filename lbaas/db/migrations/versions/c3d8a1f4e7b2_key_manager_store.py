"""the embedded key-manager store: secrets, containers and their secret refs

Revision ID: c3d8a1f4e7b2
Revises: 5b1e7c2d9a40
Create Date: 2026-12-03 10:00:00
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = 'c3d8a1f4e7b2'
down_revision = '5b1e7c2d9a40'
branch_labels = None
depends_on = None


def _acl_and_times():
    return [
        sa.Column('acl_read_users', sa.JSON(), nullable=True),
        sa.Column('acl_project_access', sa.Boolean(), nullable=False),
        sa.Column('acl_updated_at', sa.DateTime(), nullable=True),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('updated_at', sa.DateTime(), nullable=True),
    ]


def upgrade():
    op.create_table(
        'km_secret',
        sa.Column('id', sa.String(length=36), nullable=False),
        sa.Column('project_id', sa.String(length=255), nullable=False),
        sa.Column('name', sa.String(length=255), nullable=True),
        sa.Column('secret_type', sa.String(length=32), nullable=False),
        sa.Column('content_type', sa.String(length=255), nullable=True),
        sa.Column('algorithm', sa.String(length=255), nullable=True),
        sa.Column('bit_length', sa.Integer(), nullable=True),
        sa.Column('mode', sa.String(length=255), nullable=True),
        sa.Column('expiration', sa.DateTime(), nullable=True),
        sa.Column('creator_id', sa.String(length=255), nullable=True),
        sa.Column('encrypted_payload', sa.LargeBinary().with_variant(mysql.MEDIUMBLOB(), 'mysql'), nullable=True),
        *_acl_and_times(),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('km_secret', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_km_secret_project_id'), ['project_id'],
                              unique=False)
    op.create_table(
        'km_container',
        sa.Column('id', sa.String(length=36), nullable=False),
        sa.Column('project_id', sa.String(length=255), nullable=False),
        sa.Column('name', sa.String(length=255), nullable=True),
        sa.Column('type', sa.String(length=16), nullable=False),
        sa.Column('creator_id', sa.String(length=255), nullable=True),
        *_acl_and_times(),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('km_container', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_km_container_project_id'), ['project_id'],
                              unique=False)
    op.create_table(
        'km_container_secret',
        sa.Column('container_id', sa.String(length=36), nullable=False),
        sa.Column('name', sa.String(length=255), nullable=False),
        sa.Column('secret_id', sa.String(length=36), nullable=False),
        sa.ForeignKeyConstraint(['container_id'], ['km_container.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['secret_id'], ['km_secret.id'], ),
        sa.PrimaryKeyConstraint('container_id', 'name'),
    )
    with op.batch_alter_table('km_container_secret', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_km_container_secret_secret_id'), ['secret_id'],
                              unique=False)


def downgrade():
    op.drop_table('km_container_secret')
    op.drop_table('km_container')
    op.drop_table('km_secret')
