"""the modular planner's stored plans (issue 11, engine side)

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 00:50:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import engine.store.types

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

PK = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table(
        'planner_plans',
        sa.Column('id', PK, autoincrement=True, nullable=False),
        sa.Column('created_at', engine.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column('origin', sa.String(length=24), nullable=False),
        sa.Column('preset', sa.String(length=64), nullable=False),
        sa.Column('sliders', sa.JSON(), nullable=False),
        sa.Column('regime', sa.String(length=48), nullable=True),
        sa.Column('preset_reason', sa.Text(), nullable=False),
        sa.Column('param_version_id', sa.Integer(), nullable=True),
        sa.Column('sequences_evaluated', sa.Integer(), nullable=False),
        sa.Column('elapsed_ms', sa.Float(), nullable=False),
        sa.Column('steps', sa.JSON(), nullable=False),
        sa.Column('score', sa.JSON(), nullable=False),
        sa.Column('executed', sa.Boolean(), nullable=False),
        sa.Column('outcomes', sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('planner_plans', schema=None) as batch_op:
        batch_op.create_index('ix_planner_plans_created_at', ['created_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('planner_plans', schema=None) as batch_op:
        batch_op.drop_index('ix_planner_plans_created_at')
    op.drop_table('planner_plans')
