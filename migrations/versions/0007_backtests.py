"""stored backtest runs (issue 12)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 00:50:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import engine.store.types

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

PK = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
TS = engine.store.types.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        'backtest_runs',
        sa.Column('id', PK, autoincrement=True, nullable=False),
        sa.Column('created_at', TS, nullable=False),
        sa.Column('finished_at', TS, nullable=True),
        sa.Column('author', sa.String(length=64), nullable=False),
        sa.Column('name', sa.String(length=120), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('progress', sa.Float(), nullable=False),
        sa.Column('message', sa.Text(), nullable=True),
        sa.Column('data_source', sa.String(length=16), nullable=False),
        sa.Column('data_label', sa.Text(), nullable=False),
        sa.Column('index_symbol', sa.String(length=32), nullable=False),
        sa.Column('start_ts', TS, nullable=True),
        sa.Column('end_ts', TS, nullable=True),
        sa.Column('cash', engine.store.types.Money(), nullable=False),
        sa.Column('param_version_id', sa.Integer(), nullable=True),
        sa.Column('params_label', sa.Text(), nullable=False),
        sa.Column('params_workbook', sa.LargeBinary(), nullable=True),
        sa.Column('preset_name', sa.String(length=64), nullable=False),
        sa.Column('preset', sa.JSON(), nullable=False),
        sa.Column('bars', sa.Integer(), nullable=False),
        sa.Column('metrics', sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('backtest_runs') as batch:
        batch.create_index('ix_backtest_runs_created_at', ['created_at'], unique=False)
        batch.create_index('ix_backtest_runs_status', ['status'], unique=False)
    op.create_table(
        'backtest_files',
        sa.Column('run_id', PK, nullable=False),
        sa.Column('name', sa.String(length=32), nullable=False),
        sa.Column('data', sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(['run_id'], ['backtest_runs.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('run_id', 'name'),
    )


def downgrade() -> None:
    op.drop_table('backtest_files')
    with op.batch_alter_table('backtest_runs') as batch:
        batch.drop_index('ix_backtest_runs_status')
        batch.drop_index('ix_backtest_runs_created_at')
    op.drop_table('backtest_runs')
