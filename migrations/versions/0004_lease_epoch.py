"""fencing: the engine lease's epoch (bumped on every takeover) and the epoch each engine order was recorded under

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 22:00:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('engine_lease') as batch:
        batch.add_column(sa.Column('epoch', sa.Integer(), nullable=False, server_default='0'))
    with op.batch_alter_table('orders') as batch:
        batch.add_column(sa.Column('lease_epoch', sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('orders') as batch:
        batch.drop_column('lease_epoch')
    with op.batch_alter_table('engine_lease') as batch:
        batch.drop_column('epoch')
