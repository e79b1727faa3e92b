"""the effective regime beside the rule-based one on every regime snapshot (issue 15)

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02 09:50:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('regime_snapshots', schema=None) as batch_op:
        batch_op.add_column(sa.Column('effective_regime_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('effective_regime_name', sa.String(length=48), nullable=True))
        batch_op.add_column(sa.Column('regime_status', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('regime_reason', sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('regime_snapshots', schema=None) as batch_op:
        batch_op.drop_column('regime_reason')
        batch_op.drop_column('regime_status')
        batch_op.drop_column('effective_regime_name')
        batch_op.drop_column('effective_regime_id')
