"""Installs from Slack: installations and their bots (keyed like slack-sdk's SQLAlchemy store, tokens
encrypted), OAuth states in flight, and the Blocks keys each workspace connects.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-08 12:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

HAS_TEAM = "team_id IS NOT NULL"
ORGANIZATION_WIDE = "team_id IS NULL"


def upgrade() -> None:
    op.create_table(
        'slack_installations',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('client_id', sa.String(length=32), nullable=False),
        sa.Column('app_id', sa.String(length=32), nullable=True),
        sa.Column('enterprise_id', sa.String(length=32), nullable=True),
        sa.Column('enterprise_name', sa.String(length=200), nullable=True),
        sa.Column('enterprise_url', sa.String(length=200), nullable=True),
        sa.Column('team_id', sa.String(length=32), nullable=True),
        sa.Column('team_name', sa.String(length=200), nullable=True),
        sa.Column('bot_token_encrypted', sa.Text(), nullable=True),
        sa.Column('bot_id', sa.String(length=32), nullable=True),
        sa.Column('bot_user_id', sa.String(length=32), nullable=True),
        sa.Column('bot_scopes', sa.String(length=1000), nullable=True),
        sa.Column('bot_refresh_token_encrypted', sa.Text(), nullable=True),
        sa.Column('bot_token_expires_at', sa.Float(), nullable=True),
        sa.Column('user_id', sa.String(length=32), nullable=False),
        sa.Column('user_token_encrypted', sa.Text(), nullable=True),
        sa.Column('user_scopes', sa.String(length=1000), nullable=True),
        sa.Column('user_refresh_token_encrypted', sa.Text(), nullable=True),
        sa.Column('user_token_expires_at', sa.Float(), nullable=True),
        sa.Column('incoming_webhook_url_encrypted', sa.Text(), nullable=True),
        sa.Column('incoming_webhook_channel', sa.String(length=200), nullable=True),
        sa.Column('incoming_webhook_channel_id', sa.String(length=200), nullable=True),
        sa.Column('incoming_webhook_configuration_url', sa.String(length=200), nullable=True),
        sa.Column('is_enterprise_install', sa.Boolean(), nullable=False),
        sa.Column('token_type', sa.String(length=32), nullable=True),
        sa.Column('installed_at', sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_slack_installations')),
    )
    op.create_index('ix_slack_installations_lookup', 'slack_installations', ['client_id', 'enterprise_id', 'team_id', 'user_id', 'installed_at'], unique=False)
    op.create_table(
        'slack_bots',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('client_id', sa.String(length=32), nullable=False),
        sa.Column('app_id', sa.String(length=32), nullable=True),
        sa.Column('enterprise_id', sa.String(length=32), nullable=True),
        sa.Column('enterprise_name', sa.String(length=200), nullable=True),
        sa.Column('team_id', sa.String(length=32), nullable=True),
        sa.Column('team_name', sa.String(length=200), nullable=True),
        sa.Column('bot_token_encrypted', sa.Text(), nullable=True),
        sa.Column('bot_id', sa.String(length=32), nullable=True),
        sa.Column('bot_user_id', sa.String(length=32), nullable=True),
        sa.Column('bot_scopes', sa.String(length=1000), nullable=True),
        sa.Column('bot_refresh_token_encrypted', sa.Text(), nullable=True),
        sa.Column('bot_token_expires_at', sa.Float(), nullable=True),
        sa.Column('is_enterprise_install', sa.Boolean(), nullable=False),
        sa.Column('installed_at', sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_slack_bots')),
    )
    op.create_index('ix_slack_bots_lookup', 'slack_bots', ['client_id', 'enterprise_id', 'team_id', 'installed_at'], unique=False)
    op.create_table(
        'slack_oauth_states',
        sa.Column('state', sa.String(length=200), nullable=False),
        sa.Column('expire_at', sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint('state', name=op.f('pk_slack_oauth_states')),
    )
    op.create_index(op.f('ix_slack_oauth_states_expire_at'), 'slack_oauth_states', ['expire_at'], unique=False)
    op.create_table(
        'workspace_keys',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('enterprise_id', sa.String(length=32), nullable=True),
        sa.Column('team_id', sa.String(length=32), nullable=True),
        sa.Column('key_encrypted', sa.Text(), nullable=False),
        sa.Column('key_hash', sa.String(length=64), nullable=False),
        sa.Column('label', sa.String(length=200), nullable=True),
        sa.Column('added_by', sa.String(length=64), nullable=True),
        sa.Column('added_at', sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_workspace_keys')),
    )
    op.create_index('uq_workspace_keys_team_key', 'workspace_keys', ['team_id', 'key_hash'], unique=True, sqlite_where=sa.text(HAS_TEAM), postgresql_where=sa.text(HAS_TEAM))
    op.create_index('uq_workspace_keys_org_key', 'workspace_keys', ['enterprise_id', 'key_hash'], unique=True, sqlite_where=sa.text(ORGANIZATION_WIDE), postgresql_where=sa.text(ORGANIZATION_WIDE))


def downgrade() -> None:
    op.drop_index('uq_workspace_keys_org_key', table_name='workspace_keys', sqlite_where=sa.text(ORGANIZATION_WIDE), postgresql_where=sa.text(ORGANIZATION_WIDE))
    op.drop_index('uq_workspace_keys_team_key', table_name='workspace_keys', sqlite_where=sa.text(HAS_TEAM), postgresql_where=sa.text(HAS_TEAM))
    op.drop_table('workspace_keys')
    op.drop_index(op.f('ix_slack_oauth_states_expire_at'), table_name='slack_oauth_states')
    op.drop_table('slack_oauth_states')
    op.drop_index('ix_slack_bots_lookup', table_name='slack_bots')
    op.drop_table('slack_bots')
    op.drop_index('ix_slack_installations_lookup', table_name='slack_installations')
    op.drop_table('slack_installations')
