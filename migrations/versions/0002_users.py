"""users, login attempts, and who/where columns on audit events

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01 21:20:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import engine.store.types

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None

PK = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table(
        'users',
        sa.Column('id', PK, autoincrement=True, nullable=False),
        sa.Column('name', sa.String(length=64), nullable=False),
        sa.Column('role', sa.String(length=16), nullable=False),
        sa.Column('password_hash', sa.String(length=255), nullable=False),
        sa.Column('disabled', sa.Boolean(), nullable=False),
        sa.Column('session_epoch', sa.Integer(), nullable=False),
        sa.Column('locked_until', engine.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column('created_at', engine.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column('updated_at', engine.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('name'),
    )
    op.create_table(
        'login_attempts',
        sa.Column('id', PK, autoincrement=True, nullable=False),
        sa.Column('ts', engine.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column('username', sa.String(length=64), nullable=False),
        sa.Column('source', sa.String(length=64), nullable=False),
        sa.Column('ok', sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_login_attempts_username_ts', 'login_attempts', ['username', 'ts'])
    with op.batch_alter_table('audit_events') as batch:
        batch.add_column(sa.Column('role', sa.String(length=16), nullable=False, server_default=''))
        batch.add_column(sa.Column('source', sa.String(length=64), nullable=False, server_default=''))


def downgrade() -> None:
    with op.batch_alter_table('audit_events') as batch:
        batch.drop_column('source')
        batch.drop_column('role')
    op.drop_index('ix_login_attempts_username_ts', table_name='login_attempts')
    op.drop_table('login_attempts')
    op.drop_table('users')
