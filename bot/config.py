"""Settings from the environment (12-factor), validated once at start-up.

Every problem is reported as one `ConfigError` whose message names the variable, so `serve` can print a
single clear line and exit instead of failing later in the middle of a conversation.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal

from sqlalchemy.engine import make_url

from bot.db.engine import normalize_database_url
from bot.secrets_at_rest import EncryptionKeyError, Vault
from bot.turns.schedule import PollPolicy

DEFAULT_SQLITE_URL = "sqlite:///blocks-slack.db"
CORE_AGENTS = ("claude", "codex", "gemini", "opencode", "cursor", "kimi", "sisyphus")
BusyPolicy = Literal["queue", "interrupt"]
ReplyMode = Literal["all", "mentions"]
AnswersMode = Literal["full", "summary"]
LogFormat = Literal["text", "json"]


# Every variable the bot reads, with what it means: `--help` of each command lists the ones it reads.
ENVIRONMENT = {
    "SLACK_BOT_TOKEN": "bot token, xoxb-… (required)",
    "SLACK_SIGNING_SECRET": "verifies that requests come from Slack (required over HTTP)",
    "SLACK_APP_TOKEN": "xapp-…: take events over Socket Mode instead of HTTP",
    "SLACK_API_URL": "Slack Web API base (default https://slack.com/api/)",
    "BLOCKS_API_KEY": "Blocks API key, or several separated by commas (required)",
    "BLOCKS_API_URL": "Blocks API origin (default https://api.blocks.team)",
    "BLOCKS_AGENT": "agent of new sessions (default claude)",
    "DATABASE_URL": "SQLite file or PostgreSQL (default sqlite:///blocks-slack.db)",
    "PORT": "HTTP port: Slack events, /healthz, /readyz, /metrics (default 3000)",
    "HOST": "address to listen on (default 0.0.0.0)",
    "BUSY_POLICY": "queue | interrupt: replies while the agent works (default queue)",
    "REPLY_MODE": "all | mentions: which replies in a bot thread continue it (default all)",
    "ANSWERS": "full | summary: the whole answer in Slack, or a summary and the link (default full)",
    "TURN_DEADLINE_MINUTES": "after this the thread hears the agent is still working (default 30)",
    "TURN_HORIZON_HOURS": "until this an answer is still delivered (default 24)",
    "LATE_ANSWER_SECONDS": "a later answer also mentions the requester (default 120)",
    "STOP_WAIT_SECONDS": "after Stop, how long the agent may take to say where it left things (default 180)",
    "PRIVATE_SESSIONS": "DM and private-channel sessions are private in Blocks (default false)",
    "ALLOW_EXTERNAL_USERS": "serve people of other organizations in shared channels (default false)",
    "BLOCKS_RATE_LIMIT_PER_MINUTE": "the key's limit, shared by every replica (default 100)",
    "BLOCKS_RATE_HEADROOM": "fraction of the limit left unused (default 0.1)",
    "BLOCKS_TIMEOUT_SECONDS": "timeout of one Blocks request (default 30)",
    "POLL_FIRST_SECONDS": "poll interval of a young turn (default 3)",
    "POLL_AGE_FRACTION": "then a poll every this fraction of the turn's age (default 0.07)",
    "POLL_MAX_SECONDS": "longest poll interval before the deadline (default 120)",
    "POLL_PAST_DEADLINE_SECONDS": "poll interval past the deadline (default 300)",
    "PROGRESS_EDIT_SECONDS": "at most one progress edit this often (default 15)",
    "SLACK_TIER3_PER_MINUTE": "Slack Tier 3 calls a minute per workspace (default 50)",
    "SLACK_POSTS_PER_MINUTE_PER_CHANNEL": "Slack posts a minute per channel (default 60)",
    "WORKER_THREADS": "worker threads per process (default 4)",
    "LEASE_SECONDS": "how long a crashed worker's turn stays claimed (default 120)",
    "IDLE_POLL_SECONDS": "an idle worker looks for work recorded elsewhere this often (default 1)",
    "MIGRATE_ON_START": "upgrade the schema at start (default true)",
    "RETENTION_DAYS": "delete message texts and answers this long after a turn ends; 0 keeps (default 30)",
    "ALLOW_GUESTS": "let workspace guests drive the agent (default false)",
    "ALLOW_DMS": "the bot answers direct messages (default true)",
    "ALLOWED_CHANNELS": "only these channels, comma-separated ids (default: every channel it is in)",
    "ALLOWED_USERS": "only these people (with ALLOWED_USERGROUPS), comma-separated ids (default: all)",
    "ALLOWED_USERGROUPS": "only members of these user groups, comma-separated ids (default: all)",
    "CONTINUE_THREADS": "anyone | starter: who may continue a thread (default anyone)",
    "MAX_RUNNING_TURNS_PER_USER": "running requests per person; 0: no cap (default 5)",
    "MAX_RUNNING_TURNS_PER_WORKSPACE": "running requests per workspace; 0: no cap (default 0)",
    "MAX_TURNS_PER_USER_PER_DAY": "requests per person in 24 hours; 0: no cap (default 0)",
    "ADMIN_USERS": "may connect Blocks keys from App Home besides Slack's admins, comma-separated ids",
    "LOG_LEVEL": "DEBUG | INFO | WARNING | ERROR (default INFO)",
    "LOG_FORMAT": "text | json (default text)",
    "LOG_MESSAGE_BODIES": "let message texts into DEBUG lines, for debugging (default false)",
    "TIME_SCALE": "run policy time this many times faster, against the simulators (default 1)",
    "DYNO": "set by Heroku: the disk is ephemeral (a warning without DATABASE_URL)",
    "SLACK_CLIENT_ID": "with SLACK_CLIENT_SECRET: install from Slack in many workspaces (/slack/install)",
    "SLACK_CLIENT_SECRET": "the app's client secret (OAuth installs)",
    "SLACK_AUTHORIZE_URL": "Slack's authorize page (default https://slack.com/oauth/v2/authorize)",
    "BLOCKS_SLACK_ENCRYPTION_KEY": "Fernet key(s) for tokens and keys stored in the database (OAuth mode)",
}


class ConfigError(Exception):
    """A setting is missing or malformed; the message names the variable."""


@dataclass(frozen=True)
class Settings:
    slack_bot_token: str
    slack_signing_secret: str
    blocks_api_key: str
    slack_app_token: str = ""
    # OAuth mode: installed from Slack in any number of workspaces, tokens in the database.
    slack_client_id: str = ""
    slack_client_secret: str = ""
    slack_authorize_url: str = "https://slack.com/oauth/v2/authorize"
    encryption_key: str = ""
    slack_api_url: str = "https://slack.com/api/"
    blocks_api_url: str = "https://api.blocks.team"
    blocks_agent: str = "claude"
    database_url: str = DEFAULT_SQLITE_URL
    database_url_from_env: bool = False
    port: int = 3000
    busy_policy: BusyPolicy = "queue"
    reply_mode: ReplyMode = "all"
    answers: AnswersMode = "full"
    turn_deadline_seconds: float = 30 * 60
    turn_horizon_seconds: float = 24 * 3600
    late_answer_seconds: float = 120.0
    stop_wait_seconds: float = 180.0  # how long a stopped agent is given to say where it left things
    blocks_rate_limit_per_minute: int = 100
    blocks_rate_headroom: float = 0.1
    blocks_timeout_seconds: float = 30.0
    private_sessions: bool = False
    allow_external_users: bool = False
    # Who may drive the agent (see `turns/access.py`).
    allow_guests: bool = False
    allow_dms: bool = True
    allowed_channels: tuple[str, ...] = ()
    allowed_users: tuple[str, ...] = ()
    allowed_usergroups: tuple[str, ...] = ()
    continue_threads: Literal["anyone", "starter"] = "anyone"
    max_running_per_user: int = 5
    max_running_per_workspace: int = 0
    max_turns_per_user_per_day: int = 0
    # Who may connect and remove the workspace's Blocks keys from App Home, besides Slack's admins.
    admin_users: tuple[str, ...] = ()
    worker_threads: int = 4
    lease_seconds: float = 120.0
    idle_poll_seconds: float = 1.0
    poll_first_seconds: float = 3.0
    poll_age_fraction: float = 0.07
    poll_max_seconds: float = 120.0
    poll_past_deadline_seconds: float = 300.0
    progress_edit_seconds: float = 15.0
    slack_tier3_per_minute: float = 50.0
    slack_posts_per_minute_per_channel: float = 60.0
    # Rate limits are counted per window: Blocks' and Slack's are per minute (see `compressed`).
    rate_window_seconds: float = 60.0
    time_scale: float = 1.0
    migrate_on_start: bool = True
    ephemeral_disk: bool = False
    log_level: str = "INFO"
    log_format: LogFormat = "text"
    # Debugging only: message texts and answers may appear in DEBUG lines (start-up says so).
    log_message_bodies: bool = False
    host: str = "0.0.0.0"
    # Message texts and answers are deleted this many days after their turn ended (0: kept).
    retention_days: float = 30.0

    @property
    def socket_mode(self) -> bool:
        return bool(self.slack_app_token)

    @property
    def oauth(self) -> bool:
        return bool(self.slack_client_id)

    @property
    def blocks_api_keys(self) -> list[str]:
        """`BLOCKS_API_KEY` may hold several keys of one Blocks workspace, separated by commas."""
        return [key for key in (part.strip() for part in self.blocks_api_key.split(",")) if key]

    @property
    def secrets(self) -> list[str]:
        """Everything that must never appear in a log line or an error message."""
        found = [self.slack_bot_token, self.slack_signing_secret, self.slack_app_token, self.blocks_api_key]
        found += [*self.blocks_api_keys, self.slack_client_secret, self.encryption_key]
        found += [key for key in self.encryption_key.split(",") if key]
        password = make_url(self.database_url).password
        return [*found, str(password)] if password else found

    @property
    def poll_policy(self) -> PollPolicy:
        return PollPolicy(
            first_seconds=self.poll_first_seconds,
            age_fraction=self.poll_age_fraction,
            max_seconds=self.poll_max_seconds,
            past_deadline_seconds=self.poll_past_deadline_seconds,
        )

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        reader = _Reader(env)
        app_token = reader.secret("SLACK_APP_TOKEN")
        if app_token and not app_token.startswith("xapp-"):
            raise ConfigError("SLACK_APP_TOKEN must be an app-level token starting with 'xapp-'")
        client_id = reader.text("SLACK_CLIENT_ID", "")
        client_secret = reader.secret("SLACK_CLIENT_SECRET")
        encryption_key = reader.secret("BLOCKS_SLACK_ENCRYPTION_KEY")
        if bool(client_id) != bool(client_secret):
            raise ConfigError("SLACK_CLIENT_ID and SLACK_CLIENT_SECRET go together: set both, or neither")
        if client_id and not encryption_key:
            raise ConfigError(
                "BLOCKS_SLACK_ENCRYPTION_KEY is required to install from Slack (tokens are stored "
                "encrypted); make one with `blocks-slack workspaces new-encryption-key`"
            )
        if encryption_key:
            try:
                Vault.from_env_value(encryption_key)
            except EncryptionKeyError as exc:
                raise ConfigError(str(exc)) from None
        # Installed from Slack, each workspace's token is in the database; otherwise one token here.
        bot_token = reader.secret("SLACK_BOT_TOKEN", required=not client_id)
        if bot_token and not bot_token.startswith("xoxb-"):
            raise ConfigError("SLACK_BOT_TOKEN must be a bot token starting with 'xoxb-'")
        # Socket Mode does not sign requests, so the signing secret is only needed over HTTP.
        signing_secret = reader.secret("SLACK_SIGNING_SECRET")
        if not app_token and not signing_secret:
            raise ConfigError("SLACK_SIGNING_SECRET is required (or set SLACK_APP_TOKEN for Socket Mode)")
        raw_db_url = reader.text("DATABASE_URL", "")
        try:
            database_url = normalize_database_url(raw_db_url or DEFAULT_SQLITE_URL)
        except ValueError as exc:
            raise ConfigError(f"DATABASE_URL is malformed: {exc}") from None
        agent = reader.text("BLOCKS_AGENT", "claude").lower()
        if agent not in CORE_AGENTS:
            raise ConfigError(f"BLOCKS_AGENT must be one of {', '.join(CORE_AGENTS)} (got {agent!r})")
        busy = reader.text("BUSY_POLICY", "queue").lower()
        if busy not in ("queue", "interrupt"):
            raise ConfigError(f"BUSY_POLICY must be 'queue' or 'interrupt' (got {busy!r})")
        deadline = reader.number("TURN_DEADLINE_MINUTES", 30, minimum=0.01) * 60
        horizon = reader.number("TURN_HORIZON_HOURS", 24, minimum=0.001) * 3600
        if horizon < deadline:
            raise ConfigError("TURN_HORIZON_HOURS must not be shorter than TURN_DEADLINE_MINUTES")
        headroom = reader.number("BLOCKS_RATE_HEADROOM", 0.1, minimum=0.0)
        if headroom >= 0.9:
            raise ConfigError("BLOCKS_RATE_HEADROOM must be below 0.9 (a fraction of the limit kept unused)")
        settings = cls(
            slack_bot_token=bot_token,
            slack_signing_secret=signing_secret,
            slack_app_token=app_token,
            slack_api_url=_with_trailing_slash(reader.url("SLACK_API_URL", "https://slack.com/api/")),
            # Installed from Slack, each workspace may connect its own key; this one is the fallback.
            blocks_api_key=reader.secret("BLOCKS_API_KEY", required=not client_id),
            slack_client_id=client_id,
            slack_client_secret=client_secret,
            slack_authorize_url=reader.url("SLACK_AUTHORIZE_URL", "https://slack.com/oauth/v2/authorize"),
            encryption_key=encryption_key,
            blocks_api_url=reader.url("BLOCKS_API_URL", "https://api.blocks.team").rstrip("/"),
            blocks_agent=agent,
            database_url=database_url,
            database_url_from_env=bool(raw_db_url),
            port=int(reader.number("PORT", 3000, minimum=0, maximum=65535, integer=True)),
            busy_policy="interrupt" if busy == "interrupt" else "queue",
            reply_mode=_one_of("REPLY_MODE", reader.text("REPLY_MODE", "all").lower(), ("all", "mentions")),
            answers=_one_of("ANSWERS", reader.text("ANSWERS", "full").lower(), ("full", "summary")),
            turn_deadline_seconds=deadline,
            turn_horizon_seconds=horizon,
            late_answer_seconds=reader.number("LATE_ANSWER_SECONDS", 120, minimum=0),
            stop_wait_seconds=reader.number("STOP_WAIT_SECONDS", 180, minimum=1),
            blocks_rate_limit_per_minute=int(
                reader.number("BLOCKS_RATE_LIMIT_PER_MINUTE", 100, minimum=10, integer=True)
            ),
            blocks_rate_headroom=headroom,
            blocks_timeout_seconds=reader.number("BLOCKS_TIMEOUT_SECONDS", 30, minimum=0.1),
            private_sessions=reader.flag("PRIVATE_SESSIONS", False),
            allow_external_users=reader.flag("ALLOW_EXTERNAL_USERS", False),
            allow_guests=reader.flag("ALLOW_GUESTS", False),
            allow_dms=reader.flag("ALLOW_DMS", True),
            allowed_channels=reader.ids("ALLOWED_CHANNELS"),
            allowed_users=reader.ids("ALLOWED_USERS"),
            allowed_usergroups=reader.ids("ALLOWED_USERGROUPS"),
            continue_threads=_continue_threads(reader.text("CONTINUE_THREADS", "anyone").lower()),
            max_running_per_user=int(reader.number("MAX_RUNNING_TURNS_PER_USER", 5, minimum=0, integer=True)),
            max_running_per_workspace=int(
                reader.number("MAX_RUNNING_TURNS_PER_WORKSPACE", 0, minimum=0, integer=True)
            ),
            max_turns_per_user_per_day=int(
                reader.number("MAX_TURNS_PER_USER_PER_DAY", 0, minimum=0, integer=True)
            ),
            admin_users=reader.ids("ADMIN_USERS"),
            worker_threads=int(reader.number("WORKER_THREADS", 4, minimum=1, maximum=64, integer=True)),
            lease_seconds=reader.number("LEASE_SECONDS", 120, minimum=1),
            idle_poll_seconds=reader.number("IDLE_POLL_SECONDS", 1.0, minimum=0.05),
            poll_first_seconds=reader.number("POLL_FIRST_SECONDS", 3.0, minimum=0.05),
            poll_age_fraction=reader.number("POLL_AGE_FRACTION", 0.07, minimum=0.0),
            poll_max_seconds=reader.number("POLL_MAX_SECONDS", 120.0, minimum=0.05),
            poll_past_deadline_seconds=reader.number("POLL_PAST_DEADLINE_SECONDS", 300.0, minimum=0.05),
            progress_edit_seconds=reader.number("PROGRESS_EDIT_SECONDS", 15.0, minimum=0.0),
            slack_tier3_per_minute=reader.number("SLACK_TIER3_PER_MINUTE", 50, minimum=2),
            slack_posts_per_minute_per_channel=reader.number(
                "SLACK_POSTS_PER_MINUTE_PER_CHANNEL", 60, minimum=2
            ),
            migrate_on_start=reader.flag("MIGRATE_ON_START", True),
            # Heroku sets DYNO; its disk is wiped on every restart, so a SQLite file there loses state.
            ephemeral_disk=bool(env.get("DYNO")),
            log_level=reader.text("LOG_LEVEL", "INFO").upper(),
            log_format=_log_format(reader.text("LOG_FORMAT", "text").lower()),
            log_message_bodies=reader.flag("LOG_MESSAGE_BODIES", False),
            host=reader.text("HOST", "0.0.0.0"),
            retention_days=reader.number("RETENTION_DAYS", 30, minimum=0.0),
        )
        return settings.compressed(reader.number("TIME_SCALE", 1.0, minimum=1.0))

    def compressed(self, factor: float) -> Settings:
        """For tests and benchmarks against the simulators: the same policy with time running `factor`
        times faster (every policy duration, and the minute that rate limits are counted in, divided by
        it). Timeouts and leases are real time and stay as they are."""
        if factor == 1.0:
            return self
        return replace(
            self,
            turn_deadline_seconds=self.turn_deadline_seconds / factor,
            turn_horizon_seconds=self.turn_horizon_seconds / factor,
            late_answer_seconds=self.late_answer_seconds / factor,
            stop_wait_seconds=self.stop_wait_seconds / factor,
            poll_first_seconds=self.poll_first_seconds / factor,
            poll_max_seconds=self.poll_max_seconds / factor,
            poll_past_deadline_seconds=self.poll_past_deadline_seconds / factor,
            progress_edit_seconds=self.progress_edit_seconds / factor,
            rate_window_seconds=self.rate_window_seconds / factor,
            time_scale=self.time_scale * factor,
        )


def _one_of(name: str, value: str, allowed: tuple[str, ...]) -> Any:
    if value not in allowed:
        raise ConfigError(f"{name} must be {' or '.join(repr(a) for a in allowed)} (got {value!r})")
    return value


def _continue_threads(value: str) -> Literal["anyone", "starter"]:
    if value == "anyone":
        return "anyone"
    if value == "starter":
        return "starter"
    raise ConfigError(f"CONTINUE_THREADS must be 'anyone' or 'starter' (got {value!r})")


def _log_format(value: str) -> LogFormat:
    if value == "json":
        return "json"
    if value == "text":
        return "text"
    raise ConfigError(f"LOG_FORMAT must be 'text' or 'json' (got {value!r})")


class _Reader:
    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env

    def text(self, name: str, default: str) -> str:
        return self.env.get(name, "").strip() or default

    def ids(self, name: str) -> tuple[str, ...]:
        """Comma-separated Slack ids (C…, U…, S…): upper case, no blanks."""
        found = tuple(part.strip().upper() for part in self.env.get(name, "").split(",") if part.strip())
        for item in found:
            if not item.isalnum():
                raise ConfigError(f"{name} must be Slack ids separated by commas (got {item!r})")
        return found

    def required(self, name: str) -> str:
        value = self.env.get(name, "").strip()
        if not value:
            raise ConfigError(f"{name} is required but not set")
        return value

    def secret(self, name: str, *, required: bool = False) -> str:
        """A token, key or secret: surrounding whitespace (a pasted line break) is dropped; inside, only
        printable characters without spaces may appear, because it goes into an HTTP header. The value is
        never repeated in the message: a half-pasted secret is still a secret."""
        value = self.required(name) if required else self.env.get(name, "").strip()
        if any(not 33 <= ord(char) <= 126 for char in value):
            raise ConfigError(
                f"{name} contains a line break, a space or another character that cannot be part of it "
                "(was it copied with extra text?)"
            )
        return value

    def url(self, name: str, default: str) -> str:
        value = self.text(name, default)
        if not value.startswith(("http://", "https://")):
            raise ConfigError(f"{name} must be an http(s) URL (got {value!r})")
        return value

    def flag(self, name: str, default: bool) -> bool:
        raw = self.env.get(name, "").strip().lower()
        if not raw:
            return default
        if raw in ("1", "true", "yes", "on"):
            return True
        if raw in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"{name} must be true or false (got {raw!r})")

    def number(
        self,
        name: str,
        default: float,
        *,
        minimum: float | None = None,
        maximum: float | None = None,
        integer: bool = False,
    ) -> float:
        raw = self.env.get(name, "").strip()
        if not raw:
            return default
        try:
            value = float(int(raw)) if integer else float(raw)
        except ValueError:
            kind = "a whole number" if integer else "a number"
            raise ConfigError(f"{name} must be {kind} (got {raw!r})") from None
        if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
            raise ConfigError(f"{name} must be between {minimum} and {maximum} (got {raw})")
        return value


def _with_trailing_slash(url: str) -> str:
    return url if url.endswith("/") else url + "/"
