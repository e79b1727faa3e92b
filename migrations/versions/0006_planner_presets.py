"""planner preset versions and the regime -> preset table (issue 11)

Old user presets (engine_kv 'planner.user_presets', 0..1 knobs) become version 1 of a user preset on
the "default" base with the matching sliders; the key itself is left for the old Planner page.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 00:50:00
"""
from __future__ import annotations

import json
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

import engine.store.types

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

PK = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    versions = op.create_table(
        'planner_preset_versions',
        sa.Column('id', PK, autoincrement=True, nullable=False),
        sa.Column('name', sa.String(length=64), nullable=False),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.Column('created_at', engine.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column('author', sa.String(length=64), nullable=False),
        sa.Column('base', sa.String(length=64), nullable=False),
        sa.Column('sliders', sa.JSON(), nullable=False),
        sa.Column('overrides', sa.JSON(), nullable=False),
        sa.Column('note', sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('name', 'version', name='uq_planner_preset_versions_name_version'),
    )
    op.create_table(
        'planner_regime_presets',
        sa.Column('regime', sa.String(length=48), nullable=False),
        sa.Column('preset', sa.String(length=64), nullable=False),
        sa.Column('updated_at', engine.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column('author', sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint('regime'),
    )
    row = op.get_bind().execute(sa.text("SELECT value FROM engine_kv WHERE key = 'planner.user_presets'")).first()
    old = row[0] if row is not None else None
    old = json.loads(old) if isinstance(old, str) else old
    rows = []
    for name, knobs in (old or {}).items():
        if not isinstance(knobs, dict) or name in ('default', 'conservative', 'aggressive'):
            continue
        sliders = {'risk_appetite': knobs.get('risk_appetite', 0.5), 'hold_duration': knobs.get('trend_following', 0.5),
                   'position_spread': 1 - knobs.get('concentration', 0.5),
                   'regime_sensitivity': knobs.get('regime_sensitivity', 0.5)}
        rows.append({'name': str(name)[:64], 'version': 1, 'created_at': datetime.now(UTC), 'author': 'migration:0006',
                     'base': 'default', 'sliders': {k: float(v) for k, v in sliders.items()}, 'overrides': {},
                     'note': 'converted from the old 0..1 knobs'})
    if rows:
        op.bulk_insert(versions, rows)


def downgrade() -> None:
    op.drop_table('planner_regime_presets')
    op.drop_table('planner_preset_versions')
