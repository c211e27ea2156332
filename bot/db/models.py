"""The tables. Alembic owns them (see `migrations/`); nothing here creates tables at run time.

Times are UNIX epoch seconds stored as floating point: arithmetic and comparisons are then identical on
SQLite and PostgreSQL, and the lease and scheduling predicates stay plain SQL.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_N_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Conversation(Base):
    """One Slack thread, bound to at most one Blocks session."""

    __tablename__ = "conversations"
    __table_args__ = (UniqueConstraint("team_id", "channel_id", "thread_ts"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    team_id: Mapped[str] = mapped_column(String(32))
    # The Enterprise Grid organization of the workspace, when it is in one (its other workspaces are ours).
    enterprise_id: Mapped[str | None] = mapped_column(String(32))
    channel_id: Mapped[str] = mapped_column(String(32))
    thread_ts: Mapped[str] = mapped_column(String(32))
    channel_type: Mapped[str] = mapped_column(String(16))  # channel | group | im | mpim
    agent: Mapped[str] = mapped_column(String(32))
    started_by: Mapped[str] = mapped_column(String(32))
    # The thread had human messages before the bot was mentioned: the first turn carries them.
    joins_existing_thread: Mapped[bool] = mapped_column(Boolean, default=False)
    session_id: Mapped[str | None] = mapped_column(String(64))
    session_url: Mapped[str | None] = mapped_column(Text)
    # The Blocks key that created the session (its hash): every request of the session uses it.
    blocks_key_hash: Mapped[str | None] = mapped_column(String(64))
    # `processing` while the bot has Slack show the thread's agent session as working (turns/native.py).
    agent_status: Mapped[str | None] = mapped_column(String(16))
    # A DM thread is titled with its Blocks session's title once known (none | setting | set).
    title: Mapped[str | None] = mapped_column(Text)
    title_state: Mapped[str | None] = mapped_column(String(16))
    created_at: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[float] = mapped_column(Float)


class InboundMessage(Base):
    """A Slack message meant for the agent. (team, channel, ts) is the idempotency key of intake."""

    __tablename__ = "inbound_messages"
    __table_args__ = (
        UniqueConstraint("team_id", "channel_id", "ts"),
        Index(None, "turn_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    team_id: Mapped[str] = mapped_column(String(32))
    channel_id: Mapped[str] = mapped_column(String(32))
    ts: Mapped[str] = mapped_column(String(32))
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id"))
    turn_id: Mapped[int | None] = mapped_column(ForeignKey("turns.id"))
    user_id: Mapped[str] = mapped_column(String(32))
    text: Mapped[str] = mapped_column(Text)
    files_json: Mapped[str] = mapped_column(Text, default="[]")
    # Arrived while another turn was running: it waits, marked with 📥, for the next turn.
    queued: Mapped[bool] = mapped_column(Boolean, default=False)
    inbox_reacted: Mapped[bool] = mapped_column(Boolean, default=False)
    received_at: Mapped[float] = mapped_column(Float)


class Turn(Base):
    """One Blocks request (a first message, a follow-up or a merged batch) and its delivery.

    `phase` is the conversation-level role: `waiting` collects queued replies, `active` holds the
    conversation (at most one of each per conversation, enforced by partial unique indexes), `finished`
    is history. `step` plus `next_run_at` is the work still to do; a finished turn may still have a step
    left (telling the thread it was interrupted). Workers claim a due row with a lease token and every
    write they make is fenced by that token.
    """

    __tablename__ = "turns"
    __table_args__ = (
        Index(
            "uq_turns_one_active",
            "conversation_id",
            unique=True,
            sqlite_where=text("phase = 'active'"),
            postgresql_where=text("phase = 'active'"),
        ),
        Index(
            "uq_turns_one_waiting",
            "conversation_id",
            unique=True,
            sqlite_where=text("phase = 'waiting'"),
            postgresql_where=text("phase = 'waiting'"),
        ),
        # Claims read the most overdue turn of one step from here (see turns/lease.py).
        Index(
            "ix_turns_step_due",
            "step",
            "next_run_at",
            sqlite_where=text("next_run_at IS NOT NULL"),
            postgresql_where=text("next_run_at IS NOT NULL"),
        ),
        # A claim of a Blocks step reads one person's most overdue turns from here, once fair shares chose
        # whose (see turns/shares.py) ...
        Index(
            "ix_turns_lane_due",
            "requested_by",
            "step",
            "next_run_at",
            sqlite_where=text("next_run_at IS NOT NULL"),
            postgresql_where=text("next_run_at IS NOT NULL"),
        ),
        # ... and their youngest scheduled polls, from here: a new turn's first poll is not queued behind
        # a hundred old ones (see turns/lease.py).
        Index(
            "ix_turns_lane_young",
            "requested_by",
            "step",
            "submitted_at",
            sqlite_where=text("next_run_at IS NOT NULL"),
            postgresql_where=text("next_run_at IS NOT NULL"),
        ),
        # The retention purge reads the oldest finished turns that still have their texts from here: the
        # index holds only those (about RETENTION_DAYS of turns), however long the history grows.
        Index(
            "ix_turns_texts_kept",
            "finished_at",
            sqlite_where=text("phase = 'finished' AND texts_purged_at IS NULL"),
            postgresql_where=text("phase = 'finished' AND texts_purged_at IS NULL"),
        ),
        # Stops are claimed before any Blocks token is asked for (turns/lease.py): the few pending, here.
        Index(
            "ix_turns_stop_requested",
            "next_run_at",
            sqlite_where=text("stop_state = 'requested'"),
            postgresql_where=text("stop_state = 'requested'"),
        ),
        # A failed turn is retried once (turns/resend.py): a second press finds its retry here.
        Index("ix_turns_retry_of", "retry_of", unique=True),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id"))
    phase: Mapped[str] = mapped_column(String(16))
    step: Mapped[str] = mapped_column(String(16))
    outcome: Mapped[str | None] = mapped_column(String(16))
    requested_by: Mapped[str] = mapped_column(String(32))
    requested_at: Mapped[float] = mapped_column(Float)

    next_run_at: Mapped[float | None] = mapped_column(Float)
    lease_token: Mapped[str | None] = mapped_column(String(36))
    lease_until: Mapped[float | None] = mapped_column(Float)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    # A Slack method whose next token this turn holds (reserved when its budget was spent; see pacing).
    slack_reserved: Mapped[str | None] = mapped_column(String(32))

    placeholder_state: Mapped[str] = mapped_column(String(16), default="none")  # none|posting|posted
    placeholder_ts: Mapped[str | None] = mapped_column(String(32))
    placeholder_note: Mapped[str | None] = mapped_column(Text)  # last progress line shown
    placeholder_updated_at: Mapped[float | None] = mapped_column(Float)

    submit_state: Mapped[str] = mapped_column(String(16), default="none")  # none|sending|sent
    submit_text: Mapped[str | None] = mapped_column(Text)
    submit_started_at: Mapped[float | None] = mapped_column(Float)
    submitted_at: Mapped[float | None] = mapped_column(Float)
    blocks_thread_id: Mapped[str | None] = mapped_column(String(64))
    final_message_url: Mapped[str | None] = mapped_column(Text)
    deadline_at: Mapped[float | None] = mapped_column(Float)
    horizon_at: Mapped[float | None] = mapped_column(Float)
    deadline_notified: Mapped[bool] = mapped_column(Boolean, default=False)
    polls: Mapped[int] = mapped_column(Integer, default=0)
    # Live progress, counted from the polls (see turns/progress.py): tool calls so far (a floor when
    # `steps_partial`), the newest one counted, and the agent's newest plan (its text: purged).
    steps: Mapped[int] = mapped_column(Integer, default=0)
    steps_partial: Mapped[bool] = mapped_column(Boolean, default=False)
    progress_cursor: Mapped[str | None] = mapped_column(String(64))
    plan_json: Mapped[str | None] = mapped_column(Text)
    pull_requests_json: Mapped[str | None] = mapped_column(Text)  # found in its tool calls (purged)

    # Stop (see turns/stop.py): `requested` by a person (the Stop button, Slack's own stop), then
    # `stopping` once the interrupting follow-up that asks the agent where it left things is the request.
    stop_state: Mapped[str | None] = mapped_column(String(16))
    stop_requested_by: Mapped[str | None] = mapped_column(String(32))
    stop_requested_at: Mapped[float | None] = mapped_column(Float)
    retry_of: Mapped[int | None] = mapped_column(Integer)  # the failed turn whose text this one sends again
    # The channel's choices the worker applies to this turn, fixed when it was opened (bot/preferences).
    preferences_json: Mapped[str | None] = mapped_column(Text)
    # A waiting turn's queued notice (with Send now), and who pressed it (see turns/send_now.py).
    queued_notice_state: Mapped[str] = mapped_column(String(16), default="none")  # none|posting|posted
    queued_notice_ts: Mapped[str | None] = mapped_column(String(32))
    send_now_by: Mapped[str | None] = mapped_column(String(32))

    answer_text: Mapped[str | None] = mapped_column(Text)
    answer_ready_at: Mapped[float | None] = mapped_column(Float)
    notice_text: Mapped[str | None] = mapped_column(Text)  # an error or interruption to show instead
    delivered_offset: Mapped[int] = mapped_column(Integer, default=0)
    part_limit: Mapped[int] = mapped_column(Integer, default=0)
    parts_posted: Mapped[int] = mapped_column(Integer, default=0)
    part_post_state: Mapped[str] = mapped_column(String(16), default="none")  # none|posting
    late_notice_state: Mapped[str] = mapped_column(String(16), default="none")  # none|posting|posted
    delivered_at: Mapped[float | None] = mapped_column(Float)
    # A long answer is also shared whole as a markdown file (see turns/deliver.py): none|uploading|uploaded.
    file_state: Mapped[str] = mapped_column(String(16), default="none")
    file_id: Mapped[str | None] = mapped_column(String(32))

    created_at: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[float] = mapped_column(Float)
    finished_at: Mapped[float | None] = mapped_column(Float)
    # When the retention purge cleared this turn's texts and its messages' (see turns/retention.py).
    texts_purged_at: Mapped[float | None] = mapped_column(Float)


class Feedback(Base):
    """What one person thinks of one answer (👍 `good` or 👎 `bad`); pressing the other changes it. Who,
    which turn and when: no text. It counts once the worker has checked that the person may use the
    thread's buttons (`checked_at`); a refused press is deleted."""

    __tablename__ = "feedback"
    __table_args__ = (
        Index(
            "ix_feedback_unchecked",
            "updated_at",
            sqlite_where=text("checked_at IS NULL"),
            postgresql_where=text("checked_at IS NULL"),
        ),
    )

    turn_id: Mapped[int] = mapped_column(ForeignKey("turns.id"), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[str] = mapped_column(String(8))
    created_at: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[float] = mapped_column(Float)
    checked_at: Mapped[float | None] = mapped_column(Float, default=None)
    claimed_until: Mapped[float | None] = mapped_column(Float, default=None)
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class SlackCapability(Base):
    """A Slack feature a workspace refused (`unknown_method`, `missing_scope`, `not_allowed`): the bot
    falls back to the plain placeholder there instead of repeating a failing call on every turn."""

    __tablename__ = "slack_capabilities"

    team_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    feature: Mapped[str] = mapped_column(String(32), primary_key=True)
    error: Mapped[str] = mapped_column(String(64))
    refused_at: Mapped[float] = mapped_column(Float)


class OutboxMessage(Base):
    """A message decided in the listener and sent by the worker (see turns/outbox.py): the listener makes
    no Slack call. With a `user_id`, only that person sees it (`chat.postEphemeral`); without, it is posted
    in the channel for everyone (a settings change, say)."""

    __tablename__ = "outbox"
    __table_args__ = (
        Index(
            "ix_outbox_unsent",
            "id",
            sqlite_where=text("sent_at IS NULL"),
            postgresql_where=text("sent_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    team_id: Mapped[str] = mapped_column(String(32))
    enterprise_id: Mapped[str | None] = mapped_column(String(32))
    channel_id: Mapped[str] = mapped_column(String(32))
    thread_ts: Mapped[str | None] = mapped_column(String(32))
    user_id: Mapped[str | None] = mapped_column(String(32))
    # message: `text` is what is posted; prompts: `text` is the JSON of a DM's suggested prompts.
    kind: Mapped[str] = mapped_column(String(16), default="message", server_default="message")
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[float] = mapped_column(Float)
    claimed_until: Mapped[float | None] = mapped_column(Float)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    sent_at: Mapped[float | None] = mapped_column(Float)


class FairShare(Base):
    """When a person's Blocks step, and their workspace's, last got a token of one key (`user_id` '' is the
    workspace as a whole): the next token of a key goes to the workspace, then the person, it served least
    recently (see turns/shares.py). No text, one row per person and key: nothing to purge."""

    __tablename__ = "fair_shares"

    team_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    key_hash: Mapped[str] = mapped_column(String(64), primary_key=True)  # the key that paid
    served_at: Mapped[float] = mapped_column(Float)


class RateBudget(Base):
    """The request budget of one Blocks API key, shared by every replica (keyed by a hash, never the key)."""

    __tablename__ = "rate_budgets"

    key_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    tokens: Mapped[float] = mapped_column(Float)
    refilled_at: Mapped[float] = mapped_column(Float)
    paused_until: Mapped[float] = mapped_column(Float, default=0.0)
    # After a 429 the refill rate is multiplied by this factor until `slowed_until`.
    rate_factor: Mapped[float] = mapped_column(Float, default=1.0)
    slowed_until: Mapped[float] = mapped_column(Float, default=0.0)


class HealthCheck(Base):
    """One row per probe name, written by every health check: a database that cannot take a write (locked,
    read-only, full) is not healthy, however well it answers a read."""

    __tablename__ = "health_checks"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    checked_at: Mapped[float] = mapped_column(Float)


class JobLease(Base):
    """A background job that one replica at a time runs (the retention purge): whoever holds the row until
    a time in the future runs it; a replica that dies holding it leaves it to expire."""

    __tablename__ = "job_leases"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    holder: Mapped[str | None] = mapped_column(String(36))
    held_until: Mapped[float] = mapped_column(Float)


# -- Installs from Slack (bot/oauth/) ----------------------------------------------------------------------
# Keyed and looked up as slack-sdk's SQLAlchemy installation store does (its column names and sizes), with
# two differences: times are epoch seconds like everywhere here, and every secret column holds a Fernet
# token (bot/secrets_at_rest.py), named `…_encrypted` so that nobody mistakes it for the secret.


class SlackInstallation(Base):
    """One install of the app, as oauth.v2.access described it. A history: each install adds a row (a token
    refresh updates its row), the newest row of a workspace is the one in use. An organization-wide install
    has `enterprise_id`, `is_enterprise_install` and no `team_id`."""

    __tablename__ = "slack_installations"
    __table_args__ = (
        Index(
            "ix_slack_installations_lookup",
            "client_id",
            "enterprise_id",
            "team_id",
            "user_id",
            "installed_at",
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    client_id: Mapped[str] = mapped_column(String(32))
    app_id: Mapped[str | None] = mapped_column(String(32))
    enterprise_id: Mapped[str | None] = mapped_column(String(32))
    enterprise_name: Mapped[str | None] = mapped_column(String(200))
    enterprise_url: Mapped[str | None] = mapped_column(String(200))
    team_id: Mapped[str | None] = mapped_column(String(32))
    team_name: Mapped[str | None] = mapped_column(String(200))
    bot_token_encrypted: Mapped[str | None] = mapped_column(Text)
    bot_id: Mapped[str | None] = mapped_column(String(32))
    bot_user_id: Mapped[str | None] = mapped_column(String(32))
    bot_scopes: Mapped[str | None] = mapped_column(String(1000))
    bot_refresh_token_encrypted: Mapped[str | None] = mapped_column(Text)
    bot_token_expires_at: Mapped[float | None] = mapped_column(Float)
    user_id: Mapped[str] = mapped_column(String(32))
    user_token_encrypted: Mapped[str | None] = mapped_column(Text)
    user_scopes: Mapped[str | None] = mapped_column(String(1000))
    user_refresh_token_encrypted: Mapped[str | None] = mapped_column(Text)
    user_token_expires_at: Mapped[float | None] = mapped_column(Float)
    # Anyone holding an incoming webhook's URL can post with it: a secret like the tokens.
    incoming_webhook_url_encrypted: Mapped[str | None] = mapped_column(Text)
    incoming_webhook_channel: Mapped[str | None] = mapped_column(String(200))
    incoming_webhook_channel_id: Mapped[str | None] = mapped_column(String(200))
    incoming_webhook_configuration_url: Mapped[str | None] = mapped_column(String(200))
    is_enterprise_install: Mapped[bool] = mapped_column(Boolean, default=False)
    token_type: Mapped[str | None] = mapped_column(String(32))
    installed_at: Mapped[float] = mapped_column(Float)


class SlackBot(Base):
    """The bot part of each install (what posts): the newest row of a workspace with a token is used."""

    __tablename__ = "slack_bots"
    __table_args__ = (Index("ix_slack_bots_lookup", "client_id", "enterprise_id", "team_id", "installed_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    client_id: Mapped[str] = mapped_column(String(32))
    app_id: Mapped[str | None] = mapped_column(String(32))
    enterprise_id: Mapped[str | None] = mapped_column(String(32))
    enterprise_name: Mapped[str | None] = mapped_column(String(200))
    team_id: Mapped[str | None] = mapped_column(String(32))
    team_name: Mapped[str | None] = mapped_column(String(200))
    bot_token_encrypted: Mapped[str | None] = mapped_column(Text)
    bot_id: Mapped[str | None] = mapped_column(String(32))
    bot_user_id: Mapped[str | None] = mapped_column(String(32))
    bot_scopes: Mapped[str | None] = mapped_column(String(1000))
    bot_refresh_token_encrypted: Mapped[str | None] = mapped_column(Text)
    bot_token_expires_at: Mapped[float | None] = mapped_column(Float)
    is_enterprise_install: Mapped[bool] = mapped_column(Boolean, default=False)
    installed_at: Mapped[float] = mapped_column(Float)


class SlackOAuthState(Base):
    """The `state` of an install in progress: issued with the Add to Slack link, consumed once by the
    redirect back (a replayed or forged redirect finds no row)."""

    __tablename__ = "slack_oauth_states"
    __table_args__ = (Index(None, "expire_at"),)  # issuing a state clears the expired ones

    state: Mapped[str] = mapped_column(String(200), primary_key=True)
    expire_at: Mapped[float] = mapped_column(Float)


class WorkspaceKey(Base):
    """A Blocks API key a workspace connected (several allowed), encrypted, named by its SHA-256 hex (as
    `rate_budgets` names it). A workspace is its `team_id` (unique across Slack), or for an
    organization-wide install its `enterprise_id` with no team."""

    __tablename__ = "workspace_keys"
    # Two partial indexes rather than one over (enterprise_id, team_id, key_hash): a unique index treats
    # NULLs as distinct, so that one would let an organization (no team) hold the same key twice.
    __table_args__ = (
        Index(
            "uq_workspace_keys_team_key",
            "team_id",
            "key_hash",
            unique=True,
            sqlite_where=text("team_id IS NOT NULL"),
            postgresql_where=text("team_id IS NOT NULL"),
        ),
        Index(
            "uq_workspace_keys_org_key",
            "enterprise_id",
            "key_hash",
            unique=True,
            sqlite_where=text("team_id IS NULL"),
            postgresql_where=text("team_id IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    enterprise_id: Mapped[str | None] = mapped_column(String(32))
    team_id: Mapped[str | None] = mapped_column(String(32))
    key_encrypted: Mapped[str] = mapped_column(Text)
    key_hash: Mapped[str] = mapped_column(String(64))
    label: Mapped[str | None] = mapped_column(String(200))
    added_by: Mapped[str | None] = mapped_column(String(64))  # a Slack user id, or who ran the CLI
    added_at: Mapped[float] = mapped_column(Float)


class _Choices:
    """The choices of `bot.preferences.values`, one column each (None: inherited)."""

    agent: Mapped[str | None] = mapped_column(String(32))
    reply_mode: Mapped[str | None] = mapped_column(String(16))
    busy_policy: Mapped[str | None] = mapped_column(String(16))
    answers: Mapped[str | None] = mapped_column(String(16))
    private_sessions: Mapped[str | None] = mapped_column(String(16))
    continue_threads: Mapped[str | None] = mapped_column(String(16))


class ChannelPreferences(_Choices, Base):
    """What a channel chose with `/blocks` (see `bot.preferences`): each value, or None to inherit the
    workspace's, then the deployment's."""

    __tablename__ = "channel_preferences"

    team_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    channel_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    updated_by: Mapped[str] = mapped_column(String(32))
    updated_at: Mapped[float] = mapped_column(Float)


class WorkspacePreferences(_Choices, Base):
    """A workspace's defaults, set by its admins from App Home, and its workspace-only settings."""

    __tablename__ = "workspace_preferences"

    team_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    # Every member of a channel may change its settings (else only admins).
    members_may_configure: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    suggested_prompts_json: Mapped[str | None] = mapped_column(Text)  # [{title, message}] for new DMs
    updated_by: Mapped[str] = mapped_column(String(32))
    updated_at: Mapped[float] = mapped_column(Float)


class PreferenceChange(Base):
    """Who changed which setting of a channel (or, `channel_id` None, of the workspace), from what, when."""

    __tablename__ = "preference_changes"
    __table_args__ = (Index("ix_preference_changes_team_changed", "team_id", "changed_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    team_id: Mapped[str] = mapped_column(String(32))
    channel_id: Mapped[str | None] = mapped_column(String(32))
    user_id: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(32))
    old_value: Mapped[str | None] = mapped_column(Text)
    new_value: Mapped[str | None] = mapped_column(Text)
    changed_at: Mapped[float] = mapped_column(Float)


class HomeRefresh(Base):
    """A person's App Home to draw again (`due_at`), because one of their turns changed state: the worker
    publishes it at most once every few seconds per person (Slack's limit for `views.publish`)."""

    __tablename__ = "home_refreshes"
    __table_args__ = (
        Index(
            "ix_home_refreshes_due",
            "due_at",
            sqlite_where=text("due_at IS NOT NULL"),
            postgresql_where=text("due_at IS NOT NULL"),
        ),
    )

    team_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    enterprise_id: Mapped[str | None] = mapped_column(String(32))
    due_at: Mapped[float | None] = mapped_column(Float)
    claimed_until: Mapped[float | None] = mapped_column(Float)
    published_at: Mapped[float | None] = mapped_column(Float)
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
