"""portfolio risk history and stress scenarios (issue 17)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 00:50:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import engine.store.types

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

PK = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
FIGURES = ('hist_var_95', 'hist_cvar_95', 'hist_var_99', 'hist_cvar_99',
           'param_var_95', 'param_cvar_95', 'param_var_99', 'param_cvar_99', 'beta')


def upgrade() -> None:
    op.create_table(
        'risk_snapshots',
        sa.Column('id', PK, autoincrement=True, nullable=False),
        sa.Column('ts', engine.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column('equity', sa.Float(), nullable=True),
        sa.Column('gross', sa.Float(), nullable=False),
        sa.Column('net', sa.Float(), nullable=False),
        *[sa.Column(name, sa.Float(), nullable=True) for name in FIGURES],
        sa.Column('cluster_net', sa.Float(), nullable=False),
        sa.Column('worst_stress_pnl', sa.Float(), nullable=True),
        sa.Column('breaches', sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('risk_snapshots', schema=None) as batch_op:
        batch_op.create_index('ix_risk_snapshots_ts', ['ts'], unique=False)
    op.create_table(
        'stress_scenarios',
        sa.Column('id', PK, autoincrement=True, nullable=False),
        sa.Column('name', sa.String(length=80), nullable=False),
        sa.Column('shocks', sa.JSON(), nullable=False),
        sa.Column('created_by', sa.String(length=64), nullable=False),
        sa.Column('updated_at', engine.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('name'),
    )


def downgrade() -> None:
    op.drop_table('stress_scenarios')
    with op.batch_alter_table('risk_snapshots', schema=None) as batch_op:
        batch_op.drop_index('ix_risk_snapshots_ts')
    op.drop_table('risk_snapshots')
