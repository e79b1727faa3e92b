"""tuning proposals (issue 16): candidate parameter versions waiting for approval, and their validation

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02 01:50:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import engine.store.types

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'tuning_proposals',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
        sa.Column('created_at', engine.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column('base_version_id', sa.Integer(), nullable=True),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('seed', sa.Integer(), nullable=False),
        sa.Column('trials', sa.Integer(), nullable=False),
        sa.Column('changes', sa.JSON(), nullable=False),
        sa.Column('values_json', sa.Text(), nullable=False),
        sa.Column('validation', sa.JSON(), nullable=False),
        sa.Column('reason', sa.Text(), nullable=False),
        sa.Column('decided_by', sa.String(length=64), nullable=True),
        sa.Column('decided_at', engine.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column('applied_version_id', sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('tuning_proposals', schema=None) as batch_op:
        batch_op.create_index('ix_tuning_proposals_status', ['status'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('tuning_proposals', schema=None) as batch_op:
        batch_op.drop_index('ix_tuning_proposals_status')
    op.drop_table('tuning_proposals')
