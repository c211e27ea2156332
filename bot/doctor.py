"""`blocks-slack doctor`: checks a deployment's configuration and everything it talks to, and prints a
checklist with a fix for each failure.

Each check is a plain function from `Settings` to checklist lines (`CheckResult`), so a check can be tested
alone and a new one is one more entry in `CHECKS`. The configuration is checked first: without valid
settings no other check can run, so a configuration error is the only line. Every check costs at most a
request or two (one per Blocks key, taken from that key's budget) and changes nothing, except that
Slack's `apps.connections.open` hands out a Socket Mode address that is never used.

No secret is printed: details never include one, and every line also goes through the scrubber that the
logs use, with the secrets read from the environment.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from sqlalchemy import select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, SQLAlchemyError

from bot.blocks.client import BlocksClient, KeyCheck
from bot.blocks.keys import key_hash, key_label
from bot.config import ConfigError, Settings
from bot.db import migrate
from bot.db.engine import make_engine, normalize_database_url
from bot.db.models import SlackBot
from bot.logs import Scrubber
from bot.oauth.store import DatabaseInstallationStore
from bot.secrets_at_rest import UnreadableSecret, Vault

MANIFEST_PATH = Path(__file__).resolve().parents[1] / "manifest.yml"
# Doctor is run by a person waiting for it: a database or Slack that has not answered by then is a finding.
DATABASE_WAIT_SECONDS = 5.0
SLACK_TIMEOUT_SECONDS = 15
BLOCKS_TIMEOUT_SECONDS = 15.0
# What Slack answers when the token itself is wrong, as opposed to Slack being busy or away.
_TOKEN_ERRORS = frozenset(
    {
        "invalid_auth",
        "not_authed",
        "account_inactive",
        "token_revoked",
        "token_expired",
        "not_allowed_token_type",
        "invalid_token",
        "missing_scope",
    }
)
# Variables that hold secrets: their values are scrubbed from every line, even when settings are invalid.
_SECRET_VARIABLES = (
    "SLACK_BOT_TOKEN",
    "SLACK_SIGNING_SECRET",
    "SLACK_APP_TOKEN",
    "BLOCKS_API_KEY",
    "SLACK_CLIENT_SECRET",
    "BLOCKS_SLACK_ENCRYPTION_KEY",
)
_URL_PASSWORD = re.compile(r"(://[^:/@\s]*:)[^@\s]*@")
_VARIABLE = re.compile(r"\b[A-Z][A-Z0-9_]{2,}\b")


@dataclass(frozen=True)
class CheckResult:
    """One checklist line: `fix` says what to do when `ok` is false."""

    name: str
    ok: bool
    detail: str
    fix: str = ""


def passed(name: str, detail: str) -> CheckResult:
    return CheckResult(name, True, detail)


def failed(name: str, detail: str, fix: str) -> CheckResult:
    return CheckResult(name, False, detail, fix)


@dataclass(frozen=True)
class Check:
    """A check of the deployment; `name` labels its line if the check itself breaks."""

    name: str
    run: Callable[[Settings], list[CheckResult]]


# -- configuration ----------------------------------------------------------------------------------


def check_configuration(env: Mapping[str, str]) -> tuple[CheckResult, Settings | None]:
    try:
        settings = Settings.from_env(env)
    except ConfigError as exc:
        return failed("configuration", str(exc), _configuration_fix(str(exc))), None
    mode = "Socket Mode" if settings.socket_mode else "HTTP events at /slack/events"
    keys = len(blocks_keys(settings.blocks_api_key))
    detail = f"valid ({mode}, {keys} Blocks key{'s' if keys != 1 else ''}, agent {settings.blocks_agent})"
    return passed("configuration", detail), settings


def _configuration_fix(message: str) -> str:
    # Every ConfigError names its variable first.
    found = _VARIABLE.search(message)
    variable = found.group(0) if found else "the setting"
    if "is required" in message:
        return f"set {variable} in the environment"
    return f"correct {variable} in the environment, as the message says"


# -- database ---------------------------------------------------------------------------------------


def check_database(settings: Settings) -> list[CheckResult]:
    url = settings.database_url
    where = database_label(url)
    if settings.ephemeral_disk and not settings.database_url_from_env:
        return [
            failed(
                "database",
                f"{where} is on an ephemeral disk: every conversation is lost at each restart",
                "attach PostgreSQL and set DATABASE_URL",
            )
        ]
    missing = _missing_sqlite_file(url)
    if missing is not None:
        return [missing]
    engine = make_engine(url, pool_size=1, wait_seconds=DATABASE_WAIT_SECONDS)
    try:
        with engine.connect() as connection:
            current = set(MigrationContext.configure(connection).get_current_heads())
    except SQLAlchemyError as exc:
        reason = _one_line(exc.orig if isinstance(exc, DBAPIError) else exc)
        return [failed("database", f"cannot use {where}: {reason}", _database_fix(url))]
    finally:
        engine.dispose()
    return [_migration_state(url, current)]


def database_label(url: str) -> str:
    """Where the database is, without its password."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ":memory:"
        return "SQLite in memory" if database == ":memory:" else f"SQLite file {Path(database).resolve()}"
    port = f":{parsed.port}" if parsed.port else ""
    return f"PostgreSQL {parsed.database or ''} on {parsed.host or 'localhost'}{port}"


def _missing_sqlite_file(url: str) -> CheckResult | None:
    """Connecting would create a missing SQLite file: doctor says so instead of leaving an empty one."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or (parsed.database or ":memory:") == ":memory:":
        return None
    path = Path(parsed.database or "").resolve()
    if path.exists():
        return None
    if not path.parent.is_dir():
        return failed(
            "database",
            f"no SQLite file at {path}, and its folder does not exist",
            f"create the folder {path.parent}, or set DATABASE_URL to where the database is",
        )
    return failed(
        "database",
        f"no SQLite file at {path} yet",
        "run `blocks-slack migrate` (it creates it), or set DATABASE_URL to where the database is",
    )


def _database_fix(url: str) -> str:
    if make_url(url).get_backend_name() == "sqlite":
        return "check DATABASE_URL: it must name a SQLite file this user can read and write"
    return (
        "check DATABASE_URL (host, port, database, user and password) and that the database server "
        "is running and accepts connections from this host"
    )


def _migration_state(url: str, current: set[str]) -> CheckResult:
    script = ScriptDirectory.from_config(migrate.alembic_config(url))
    heads = set(script.get_heads())
    head = ", ".join(sorted(heads))
    if current == heads:
        return passed("database", f"reachable, migrated to head ({head})")
    if not current:
        return failed(
            "database", f"reachable, but no schema yet (head is {head})", "run `blocks-slack migrate`"
        )
    known = {revision.revision for revision in script.walk_revisions()}
    at = ", ".join(sorted(current))
    if not current <= known:
        return failed(
            "database",
            f"reachable, at revision {at}, which this version does not know (head is {head})",
            "a newer blocks-slack migrated this database: deploy that version, or point DATABASE_URL "
            "at this version's database",
        )
    return failed("database", f"reachable, at revision {at}; head is {head}", "run `blocks-slack migrate`")


# -- Slack ------------------------------------------------------------------------------------------


def check_slack(settings: Settings, manifest: Path = MANIFEST_PATH) -> list[CheckResult]:
    """The bot token (`auth.test`), then the scopes Slack says it has against those manifest.yml asks
    for. One request: Slack lists a token's scopes in the `x-oauth-scopes` header of every answer.
    Installed from Slack, every installation's token is checked the same way."""
    if settings.oauth:
        return check_installations(settings, manifest)
    client = WebClient(
        token=settings.slack_bot_token, base_url=settings.slack_api_url, timeout=SLACK_TIMEOUT_SECONDS
    )
    try:
        response = client.auth_test()
    except SlackApiError as exc:
        error = str(exc.response.get("error") or f"HTTP {exc.response.status_code}")
        return [failed("slack token", f"Slack says {error}", _slack_fix("SLACK_BOT_TOKEN", error))]
    except (SlackClientError, OSError) as exc:
        return [_slack_unreachable("slack token", settings, exc)]
    data = response.data if isinstance(response.data, dict) else {}
    team = f"{data.get('team') or '?'} ({data.get('team_id') or '?'})"
    token = passed("slack token", f"valid: bot @{data.get('user') or '?'} in workspace {team}")
    return [token, check_scopes(_header(response.headers, "x-oauth-scopes"), manifest)]


def check_scopes(granted_header: str | None, manifest: Path = MANIFEST_PATH) -> CheckResult:
    try:
        wanted = manifest_bot_scopes(manifest)
    except (OSError, ValueError) as exc:
        return failed(
            "slack scopes",
            f"cannot read the scopes manifest.yml asks for ({_one_line(exc)})",
            "run doctor from the blocks-slack checkout, where manifest.yml is",
        )
    if granted_header is None:
        return failed(
            "slack scopes",
            "Slack's answer did not list the token's scopes (no x-oauth-scopes header)",
            "check SLACK_API_URL: it must be Slack's Web API, https://slack.com/api/ (or GovSlack's)",
        )
    granted = {scope.strip() for scope in granted_header.split(",") if scope.strip()}
    missing = [scope for scope in wanted if scope not in granted]
    if missing:
        return failed(
            "slack scopes",
            f"missing {len(missing)} of the {len(wanted)} scopes manifest.yml asks for",
            f"add these scopes to the app and reinstall it: {', '.join(missing)}",
        )
    return passed("slack scopes", f"all {len(wanted)} scopes manifest.yml asks for are granted")


def check_socket_mode(settings: Settings) -> list[CheckResult]:
    """The app-level token, when set: `apps.connections.open` is what Socket Mode calls to connect."""
    if not settings.socket_mode:
        return []
    client = WebClient(base_url=settings.slack_api_url, timeout=SLACK_TIMEOUT_SECONDS)
    try:
        client.apps_connections_open(app_token=settings.slack_app_token)
    except SlackApiError as exc:
        error = str(exc.response.get("error") or f"HTTP {exc.response.status_code}")
        return [failed("socket mode token", f"Slack says {error}", _slack_fix("SLACK_APP_TOKEN", error))]
    except (SlackClientError, OSError) as exc:
        return [_slack_unreachable("socket mode token", settings, exc)]
    return [passed("socket mode token", "valid: Slack hands out Socket Mode connections for it")]


def check_installations(settings: Settings, manifest: Path = MANIFEST_PATH) -> list[CheckResult]:
    """OAuth mode: each installed workspace's bot token, as the worker will use it."""
    engine = make_engine(settings.database_url)
    try:
        store = DatabaseInstallationStore(
            engine, Vault.from_env_value(settings.encryption_key), client_id=settings.slack_client_id
        )
        with engine.connect() as conn:
            owners = conn.execute(
                select(SlackBot.enterprise_id, SlackBot.team_id)
                .where(SlackBot.client_id == settings.slack_client_id)
                .distinct()
            ).all()
        if not owners:
            return [passed("installations", "none yet: send admins to /slack/install")]
        return [_installation_result(settings, store, e, t, manifest) for e, t in owners]
    except UnreadableSecret:
        return [
            failed(
                "installations",
                "the stored tokens cannot be decrypted",
                "BLOCKS_SLACK_ENCRYPTION_KEY must include the key they were stored with "
                "(new,old while rotating)",
            )
        ]
    finally:
        engine.dispose()


def _installation_result(
    settings: Settings,
    store: DatabaseInstallationStore,
    enterprise_id: str | None,
    team_id: str | None,
    manifest: Path,
) -> CheckResult:
    name = f"installation {team_id or enterprise_id}"
    bot = store.find_bot(enterprise_id=enterprise_id, team_id=team_id, is_enterprise_install=team_id is None)
    if bot is None or not bot.bot_token:
        return failed(name, "no bot token stored", "reinstall the app there from /slack/install")
    client = WebClient(token=bot.bot_token, base_url=settings.slack_api_url, timeout=SLACK_TIMEOUT_SECONDS)
    try:
        response = client.auth_test()
    except SlackApiError as exc:
        error = str(exc.response.get("error") or f"HTTP {exc.response.status_code}")
        return failed(name, f"Slack says {error}", "reinstall the app there from /slack/install")
    except (SlackClientError, OSError) as exc:
        return _slack_unreachable(name, settings, exc)
    scopes = check_scopes(_header(response.headers, "x-oauth-scopes"), manifest)
    if not scopes.ok:
        return failed(name, scopes.detail, "reinstall the app there from /slack/install to grant them")
    return passed(name, f"token valid for {bot.team_name or team_id or enterprise_id}, scopes granted")


def _slack_fix(variable: str, error: str) -> str:
    if error in _TOKEN_ERRORS:
        where = (
            "the app-level token with the connections:write scope, from the app's Basic Information page"
            if variable == "SLACK_APP_TOKEN"
            else "the Bot User OAuth Token, from the app's OAuth & Permissions page"
        )
        return f"check {variable}: Slack says {error}; it must be {where}"
    if error == "ratelimited":
        return "Slack is rate limiting this token right now: run doctor again in a minute"
    return f"Slack refused the request ({error}): check https://slack-status.com, then run doctor again"


def _slack_unreachable(name: str, settings: Settings, exc: BaseException) -> CheckResult:
    return failed(
        name,
        f"cannot reach Slack at {settings.slack_api_url}: {_one_line(exc)}",
        "check SLACK_API_URL and that this host can reach it (proxy, firewall, DNS)",
    )


def manifest_bot_scopes(path: Path = MANIFEST_PATH) -> list[str]:
    """The bot scopes manifest.yml asks for (`oauth_config.scopes.bot`).

    PyYAML is not one of the app's dependencies, and this one list is all doctor needs: it is read by
    its indentation, in block style (`- scope` lines) or flow style (`[a, b]`). The tests compare this
    reading with PyYAML's."""
    keys = ("oauth_config", "scopes", "bot")
    found, indent = 0, -1  # how many of `keys` were found, and the indentation of the last one
    scopes: list[str] = []
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = re.sub(r"(^|\s)#.*$", "", raw).rstrip()
        if not line.strip():
            continue
        depth, text = len(line) - len(line.lstrip()), line.strip()
        if found == len(keys):
            # A sequence may sit at its key's own indentation; anything else there ends it.
            if depth < indent or (depth == indent and not text.startswith("-")):
                break
            if text.startswith("-"):
                scopes.append(_scalar(text[1:]))
            continue
        if found and depth <= indent:
            break  # left the section that should have held the next key
        key, _, rest = text.partition(":")
        if key.strip() == keys[found] and depth > indent:
            found, indent = found + 1, depth
            if found == len(keys) and rest.strip():
                return _flow_list(rest.strip())
    if found < len(keys):
        raise ValueError(f"{path.name} has no {'.'.join(keys)} list")
    return scopes


def _flow_list(text: str) -> list[str]:
    if not (text.startswith("[") and text.endswith("]")):
        raise ValueError(f"oauth_config.scopes.bot is not a list: {text!r}")
    return [_scalar(item) for item in text[1:-1].split(",") if item.strip()]


def _scalar(text: str) -> str:
    return text.strip().strip("'\"")


def _header(headers: Any, name: str) -> str | None:
    """A response header, whatever case the server (or a proxy) gave its name."""
    items = headers.items() if hasattr(headers, "items") else ()
    for key, value in items:
        if str(key).lower() == name:
            return ", ".join(value) if isinstance(value, list) else str(value)
    return None


# -- Blocks -----------------------------------------------------------------------------------------


def blocks_keys(value: str) -> list[str]:
    """BLOCKS_API_KEY: one key, or several separated by commas."""
    return [key.strip() for key in value.split(",") if key.strip()]


def shown_key(key: str) -> str:
    """Names a key in output without revealing any of it: the start of its SHA-256."""
    return "sha256:" + key_label(key_hash(key))


def check_blocks_keys(settings: Settings) -> list[CheckResult]:
    """One request per key (from that key's budget) that tells a refused key from Blocks being away."""
    keys = blocks_keys(settings.blocks_api_key)
    if not keys and settings.oauth:
        return [passed("blocks key", "no fallback key: each workspace connects its own (workspaces set-key)")]
    if not keys:
        return [failed("blocks key", "BLOCKS_API_KEY holds no key", "set BLOCKS_API_KEY to a Blocks API key")]
    timeout = min(settings.blocks_timeout_seconds, BLOCKS_TIMEOUT_SECONDS)
    results = []
    for index, key in enumerate(keys, 1):
        name = "blocks key" if len(keys) == 1 else f"blocks key {index} of {len(keys)}"
        client = BlocksClient(api_url=settings.blocks_api_url, api_key=key, timeout=timeout)
        try:
            outcome = client.check_key()
        finally:
            client.close()
        results.append(_key_result(name, shown_key(key), outcome, settings.blocks_api_url))
    return results


def _key_result(name: str, label: str, outcome: KeyCheck, api_url: str) -> CheckResult:
    detail = f"{outcome.detail} (key {label})"
    if outcome.ok:
        return passed(name, f"accepted by {api_url} (key {label})")
    if outcome.verdict == "rejected":
        fix = "check BLOCKS_API_KEY: Blocks refused this key; replace it with a valid Blocks API key"
    elif outcome.verdict == "rate_limited":
        fix = "the key's request budget is used up right now (is the bot busy?): run doctor again in a minute"
    elif outcome.verdict == "unreachable" and outcome.status is not None:
        fix = "Blocks is failing right now: run doctor again later"
    elif outcome.verdict == "unreachable":
        fix = f"check BLOCKS_API_URL ({api_url}) and that this host can reach it (proxy, firewall, DNS)"
    else:
        fix = f"check BLOCKS_API_URL ({api_url}): it must be the Blocks API, https://api.blocks.team"
    return failed(name, detail, fix)


# -- running and printing ---------------------------------------------------------------------------

CHECKS: tuple[Check, ...] = (
    Check("database", check_database),
    Check("slack token", check_slack),
    Check("socket mode token", check_socket_mode),
    Check("blocks key", check_blocks_keys),
)


def run_checks(env: Mapping[str, str], checks: Sequence[Check] = CHECKS) -> list[CheckResult]:
    configuration, settings = check_configuration(env)
    if settings is None:
        return [configuration]
    results = [configuration]
    for check in checks:
        results.extend(_guarded(check, settings))
    return results


def _guarded(check: Check, settings: Settings) -> list[CheckResult]:
    # A check that breaks is one failing line: the rest of the checklist is still worth printing.
    try:
        return check.run(settings)
    except Exception as exc:
        return [
            failed(
                check.name,
                f"the check itself failed: {type(exc).__name__}: {_one_line(exc)}",
                "report this line as a blocks-slack bug",
            )
        ]


def format_result(result: CheckResult) -> str:
    if result.ok:
        return f"✓ {result.name}: {result.detail}"
    return f"✗ {result.name}: {result.detail} — fix: {result.fix}"


def summary(results: Sequence[CheckResult]) -> str:
    failures = sum(not result.ok for result in results)
    if not failures:
        return f"all {len(results)} checks passed"
    if len(results) == 1 and results[0].name == "configuration":
        return "the configuration is invalid: the other checks need it, so they did not run"
    return f"{failures} of {len(results)} checks failed"


def print_checklist(
    results: Sequence[CheckResult], *, scrub: Callable[[str], str], out: Callable[[str], None] = print
) -> None:
    for result in results:
        out(scrub(format_result(result)))
    out(scrub(summary(results)))


def secret_scrubber(env: Mapping[str, str]) -> Callable[[str], str]:
    """Hides every secret the environment holds, read from it directly so that it works even when the
    settings are invalid, and any password in a URL."""
    scrubber = Scrubber(_environment_secrets(env))
    return lambda text: scrubber(_URL_PASSWORD.sub(r"\1***@", text))


def _environment_secrets(env: Mapping[str, str]) -> Iterable[str]:
    for variable in _SECRET_VARIABLES:
        value = env.get(variable, "").strip()
        yield value
        yield from blocks_keys(value) if variable == "BLOCKS_API_KEY" else ()
    raw_url = env.get("DATABASE_URL", "").strip()
    try:
        password = make_url(normalize_database_url(raw_url)).password if raw_url else None
    except (ArgumentError, ValueError):
        # Unreadable, so its password cannot be found in it: hide the whole URL if it may hold one.
        password = raw_url if "@" in raw_url else None
    if password:
        yield str(password)


def run_doctor(env: Mapping[str, str] | None = None, out: Callable[[str], None] = print) -> int:
    """Prints the checklist; 0 when every check passed, 1 otherwise."""
    env = os.environ if env is None else env
    results = run_checks(env)
    print_checklist(results, scrub=secret_scrubber(env), out=out)
    return 0 if all(result.ok for result in results) else 1


def _one_line(error: object) -> str:
    return " ".join(str(error).split())
