"""cash_flows: the broker's deposits, withdrawals and cash journals, so equity moved by them is not read as P&L

A new table only; existing rows are untouched. The first account sync after the upgrade reads the account's
cash history once (recorded without moving the risk marks: their equity already includes it).

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07 13:00:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import engine.store.types

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None

PK = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table(
        'cash_flows',
        sa.Column('id', PK, autoincrement=True, nullable=False),
        sa.Column('activity_id', sa.String(length=128), nullable=False),
        sa.Column('broker', sa.String(length=16), nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('amount', engine.store.types.Money(precision=24, scale=8), nullable=False),
        sa.Column('occurred_at', engine.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column('recorded_at', engine.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column('snapshot_id', PK, nullable=True),
        sa.Column('equity_after', engine.store.types.Money(precision=24, scale=8), nullable=True),
        sa.Column('moved_marks', sa.Boolean(), nullable=False),
        sa.Column('description', sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('activity_id'),
    )
    with op.batch_alter_table('cash_flows', schema=None) as batch_op:
        batch_op.create_index('ix_cash_flows_occurred_at', ['occurred_at'], unique=False)
        batch_op.create_index('ix_cash_flows_snapshot_id', ['snapshot_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('cash_flows', schema=None) as batch_op:
        batch_op.drop_index('ix_cash_flows_snapshot_id')
        batch_op.drop_index('ix_cash_flows_occurred_at')
    op.drop_table('cash_flows')
