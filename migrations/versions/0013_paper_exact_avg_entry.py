"""the paper broker's average entry price kept exactly: paper_positions.avg_entry_price loses its 8 dp scale

On PostgreSQL the column becomes an unconstrained NUMERIC (every digit of the average kept; widening, so no
value changes). SQLite stores the column as text already, exact at any scale: nothing to do there.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06 14:00:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        op.alter_column('paper_positions', 'avg_entry_price', type_=sa.Numeric(),
                        existing_type=sa.Numeric(24, 8), existing_nullable=False)


def downgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':  # rounds each average back to 8 dp
        op.alter_column('paper_positions', 'avg_entry_price', type_=sa.Numeric(24, 8),
                        existing_type=sa.Numeric(), existing_nullable=False)
