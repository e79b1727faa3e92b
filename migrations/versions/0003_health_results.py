"""health check results kept as history (a row per check per run of the engine's health job)

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 21:30:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import engine.store.types

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None

PK = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table(
        'health_results',
        sa.Column('id', PK, autoincrement=True, nullable=False),
        sa.Column('ts', engine.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column('engine_id', sa.String(length=64), nullable=False),
        sa.Column('name', sa.String(length=64), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('detail', sa.Text(), nullable=False),
        sa.Column('value', sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('health_results', schema=None) as batch_op:
        batch_op.create_index('ix_health_results_ts', ['ts'], unique=False)
        batch_op.create_index('ix_health_results_name_ts', ['name', 'ts'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('health_results', schema=None) as batch_op:
        batch_op.drop_index('ix_health_results_name_ts')
        batch_op.drop_index('ix_health_results_ts')
    op.drop_table('health_results')
