"""protective stops and parent/child sliced orders (issue 17)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 00:50:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import engine.store.types

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None

PK = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
TS = engine.store.types.UTCDateTime(timezone=True)
MONEY = engine.store.types.Money()


def upgrade() -> None:
    op.create_table(
        'protective_stops',
        sa.Column('id', PK, autoincrement=True, nullable=False),
        sa.Column('symbol', sa.String(length=32), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('direction', sa.Integer(), nullable=False),
        sa.Column('stop_loss_pct', MONEY, nullable=True),
        sa.Column('trail_pct', MONEY, nullable=True),
        sa.Column('trail_atr_mult', MONEY, nullable=True),
        sa.Column('atr', MONEY, nullable=True),
        sa.Column('take_profit_pct', MONEY, nullable=True),
        sa.Column('max_hold_seconds', sa.Float(), nullable=True),
        sa.Column('entry_price', MONEY, nullable=False),
        sa.Column('extreme_price', MONEY, nullable=False),
        sa.Column('opened_at', TS, nullable=False),
        sa.Column('source', sa.String(length=16), nullable=False),
        sa.Column('actor', sa.String(length=64), nullable=False),
        sa.Column('created_at', TS, nullable=False),
        sa.Column('updated_at', TS, nullable=False),
        sa.Column('triggered_at', TS, nullable=True),
        sa.Column('trigger_kind', sa.String(length=16), nullable=True),
        sa.Column('trigger_price', MONEY, nullable=True),
        sa.Column('exit_client_order_id', sa.String(length=64), nullable=True),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('native_order_id', sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('protective_stops') as batch:
        batch.create_index('ix_protective_stops_symbol', ['symbol'], unique=False)
        batch.create_index('ix_protective_stops_status', ['status'], unique=False)
    op.create_table(
        'parent_orders',
        sa.Column('id', PK, autoincrement=True, nullable=False),
        sa.Column('idempotency_key', sa.String(length=128), nullable=False),
        sa.Column('symbol', sa.String(length=32), nullable=False),
        sa.Column('side', sa.String(length=8), nullable=False),
        sa.Column('qty', MONEY, nullable=False),
        sa.Column('mode', sa.String(length=16), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('origin', sa.String(length=24), nullable=False),
        sa.Column('actor', sa.String(length=64), nullable=False),
        sa.Column('reason', sa.Text(), nullable=False),
        sa.Column('start_at', TS, nullable=False),
        sa.Column('end_at', TS, nullable=False),
        sa.Column('participation', MONEY, nullable=True),
        sa.Column('limit_offset_bps', MONEY, nullable=True),
        sa.Column('schedule', sa.JSON(), nullable=False),
        sa.Column('filled_qty', MONEY, nullable=False),
        sa.Column('note', sa.Text(), nullable=True),
        sa.Column('created_at', TS, nullable=False),
        sa.Column('updated_at', TS, nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('idempotency_key'),
    )
    with op.batch_alter_table('parent_orders') as batch:
        batch.create_index('ix_parent_orders_status', ['status'], unique=False)
    op.create_table(
        'parent_order_children',
        sa.Column('id', PK, autoincrement=True, nullable=False),
        sa.Column('parent_id', PK, nullable=False),
        sa.Column('seq', sa.Integer(), nullable=False),
        sa.Column('client_order_id', sa.String(length=64), nullable=False),
        sa.Column('qty', MONEY, nullable=False),
        sa.Column('created_at', TS, nullable=False),
        sa.ForeignKeyConstraint(['parent_id'], ['parent_orders.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('client_order_id'),
    )
    with op.batch_alter_table('parent_order_children') as batch:
        batch.create_index('ix_parent_order_children_parent_id', ['parent_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('parent_order_children') as batch:
        batch.drop_index('ix_parent_order_children_parent_id')
    op.drop_table('parent_order_children')
    with op.batch_alter_table('parent_orders') as batch:
        batch.drop_index('ix_parent_orders_status')
    op.drop_table('parent_orders')
    with op.batch_alter_table('protective_stops') as batch:
        batch.drop_index('ix_protective_stops_status')
        batch.drop_index('ix_protective_stops_symbol')
    op.drop_table('protective_stops')
