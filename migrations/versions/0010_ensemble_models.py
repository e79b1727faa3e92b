"""fitted regime ensemble models (issue 15)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 00:50:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import engine.store.types

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'ensemble_models',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
        sa.Column('created_at', engine.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column('symbol', sa.String(length=32), nullable=False),
        sa.Column('param_version_id', sa.Integer(), nullable=True),
        sa.Column('params_hash', sa.String(length=64), nullable=False),
        sa.Column('data_start', engine.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column('data_end', engine.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column('n_rows', sa.Integer(), nullable=False),
        sa.Column('fit_seconds', sa.Float(), nullable=False),
        sa.Column('method', sa.String(length=32), nullable=False),
        sa.Column('metrics', sa.JSON(), nullable=False),
        sa.Column('blob', sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('ensemble_models', schema=None) as batch_op:
        batch_op.create_index('ix_ensemble_models_symbol_id', ['symbol', 'id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('ensemble_models', schema=None) as batch_op:
        batch_op.drop_index('ix_ensemble_models_symbol_id')
    op.drop_table('ensemble_models')
