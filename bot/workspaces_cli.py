"""`blocks-slack workspaces list | set-key TEAM | remove-key TEAM [KEY_HASH] | new-encryption-key`.

The operator's side of the Blocks keys of each Slack workspace (the App Home tab is the admins' side). A
key is read from standard input, checked against Blocks (one request) and stored encrypted under
`BLOCKS_SLACK_ENCRYPTION_KEY`; from then on it is only named by its label, the start of its SHA-256, as
the logs, the metrics and the doctor name it. Listing and removing read hashes only, so they work without
the encryption key: an operator who lost it can still see and clear the keys nobody can read any more.

Every failure is one line on stderr and exit status 2 (`OperatorError`), and never shows a key: not even
an argument that was not what it should be, since that may be a key pasted in the wrong place.
"""

from __future__ import annotations

import getpass
import os
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, delete, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from bot.blocks.client import BlocksClient, KeyCheck
from bot.blocks.keys import key_hash, key_label
from bot.config import DEFAULT_SQLITE_URL
from bot.db import migrate
from bot.db.engine import make_engine, normalize_database_url
from bot.db.models import SlackBot, SlackInstallation, WorkspaceKey
from bot.oauth.workspace_keys import WorkspaceKeys, keys_of_workspace
from bot.secrets_at_rest import (
    ENCRYPTION_KEY_ENV,
    EncryptionKeyError,
    UnreadableSecret,
    Vault,
    encryption_key_setting,
    generate_key,
)

DEFAULT_BLOCKS_API_URL = "https://api.blocks.team"
# One request; an operator at a terminal would rather hear "unreachable" than wait the worker's 30 s.
CHECK_TIMEOUT_SECONDS = 15.0
# A team id (T…), or an enterprise id (E…) for an organization-wide install; the columns hold 32.
_WORKSPACE_ID = re.compile(r"[TE][A-Z0-9]{1,31}")
# A label is 12 hex digits; fewer than 6 would too easily name another key.
_HASH_PREFIX = re.compile(r"[0-9a-f]{6,64}")
_MAKE_KEY = "make one with `blocks-slack workspaces new-encryption-key` and set it, the same on every replica"


class OperatorError(Exception):
    """What the operator is told, as one line (exit status 2). Never carries a key."""


def one_line(error: object) -> str:
    return " ".join(str(error).split())


def fail(message: str) -> int:
    print(f"blocks-slack: {message}", file=sys.stderr)
    return 2


# -- shared with `audit` -------------------------------------------------------------------------------


def open_database(environ: Mapping[str, str]) -> Engine:
    """The bot's database (`DATABASE_URL`), migrated to this release's head: an operator command never
    creates or migrates a database, since a wrong DATABASE_URL would then quietly show nothing."""
    raw = environ.get("DATABASE_URL", "").strip() or DEFAULT_SQLITE_URL
    try:
        url = normalize_database_url(raw)
    except ValueError as exc:
        # SQLAlchemy's own parse error quotes the whole URL, password included.
        reason = one_line(exc) if str(exc).startswith("unsupported") else "not a database URL"
        raise OperatorError(
            f"DATABASE_URL is malformed: {reason} (sqlite:///FILE or postgresql://…)"
        ) from None
    parsed = make_url(url)
    database = parsed.database if parsed.get_backend_name() == "sqlite" else None
    # SQLite would create an empty file at a mistyped path, and the command would show nothing.
    if database not in (None, "", ":memory:") and not Path(str(database)).exists():
        raise OperatorError(f"no database at {database}: set DATABASE_URL to the bot's database")
    engine = make_engine(url, pool_size=1)
    try:
        with engine.connect() as conn:
            current = MigrationContext.configure(conn).get_current_heads()
    except SQLAlchemyError as exc:
        engine.dispose()
        reason = one_line(exc.orig if isinstance(exc, DBAPIError) else exc)
        raise OperatorError(f"cannot use the database (DATABASE_URL): {reason}") from None
    head = ScriptDirectory.from_config(migrate.alembic_config(url)).get_current_head()
    if tuple(current) != (head,):
        engine.dispose()
        found = ", ".join(current) or "no schema"
        raise OperatorError(
            f"the database is at {found}, this release needs revision {head}: run `blocks-slack migrate`"
        )
    return engine


def fitted(value: str, width: int) -> str:
    """`value` in `width` characters, cut with an ellipsis when longer."""
    return value if len(value) <= width else value[: width - 1] + "…"


def table_row(values: Sequence[str], widths: Sequence[int]) -> str:
    cells = [fitted(value, width).ljust(width) for value, width in zip(values, widths, strict=True)]
    return "  ".join(cells).rstrip()


# -- the workspace named on the command line -----------------------------------------------------------


@dataclass(frozen=True)
class WorkspaceId:
    """A workspace as `workspace_keys` names it: its team, or an organization-wide install's enterprise."""

    shown: str
    team_id: str | None
    enterprise_id: str | None


def parse_workspace(argument: str, name: str = "TEAM") -> WorkspaceId:
    shown = argument.strip().upper()
    if not _WORKSPACE_ID.fullmatch(shown):
        # Not echoed: what was typed may be a key in the wrong place.
        raise OperatorError(
            f"{name} must be a Slack team id (T…), or an enterprise id (E…) for an organization-wide install"
        )
    if shown.startswith("T"):
        return WorkspaceId(shown, shown, None)
    return WorkspaceId(shown, None, shown)


def load_vault(environ: Mapping[str, str]) -> Vault:
    value = encryption_key_setting(environ)
    if value is None:
        raise OperatorError(f"{ENCRYPTION_KEY_ENV} is not set: keys are stored encrypted; {_MAKE_KEY}")
    try:
        return Vault.from_env_value(value)
    except EncryptionKeyError as exc:
        # Its message points at a Python function; an operator at the command line has a command.
        reason = str(exc).split(" (")[0]
        raise OperatorError(f"{reason}; {_MAKE_KEY}") from None


def _check_vault_reads_what_is_stored(engine: Engine, vault: Vault) -> None:
    """A key stored under another encryption key than the deployment's is one the bot cannot read: refuse
    when this one cannot read a secret stored already (an operator's shell lacking the real key)."""
    with engine.connect() as conn:
        stored = conn.execute(select(WorkspaceKey.key_encrypted).limit(1)).scalar()
        if stored is None:
            query = select(SlackBot.bot_token_encrypted).where(SlackBot.bot_token_encrypted.is_not(None))
            stored = conn.execute(query.limit(1)).scalar()
    if stored is None:
        return
    try:
        vault.decrypt(stored)
    except UnreadableSecret:
        raise OperatorError(
            f"{ENCRYPTION_KEY_ENV} cannot read the secrets stored in this database: set the deployment's "
            "own encryption key"
        ) from None


# -- set-key -------------------------------------------------------------------------------------------


def read_key(stdin: TextIO, prompt: str) -> str:
    """One line from standard input, never echoed: getpass at a terminal, the first line of a pipe."""
    line = getpass.getpass(prompt) if stdin.isatty() else stdin.readline()
    key = line.strip()
    if not key:
        raise OperatorError("no key on standard input (give the Blocks API key as one line): nothing saved")
    if not key.isascii() or not key.isprintable() or any(c.isspace() for c in key):
        raise OperatorError(
            "what standard input holds is not one Blocks API key (spaces or characters outside printable "
            "ASCII): nothing saved"
        )
    return key


def blocks_api_url(environ: Mapping[str, str]) -> str:
    url = environ.get("BLOCKS_API_URL", "").strip() or DEFAULT_BLOCKS_API_URL
    if not url.startswith(("https://", "http://")):
        raise OperatorError("BLOCKS_API_URL must be an http(s) URL, such as https://api.blocks.team")
    return url.rstrip("/")


def refusal(check: KeyCheck, api_url: str) -> str:
    """Why a key that was not accepted is not saved: a refused key is the key's fault, the rest is not."""
    if check.verdict == "rejected":
        return f"Blocks refused this key ({check.status}): nothing saved; check that it is a Blocks API key"
    if check.verdict == "rate_limited":
        return f"{check.detail}: the key could not be checked, nothing saved; try again in a minute"
    if check.verdict == "unreachable":
        return (
            f"cannot check the key, Blocks is unreachable: {check.detail}; nothing saved (check "
            "BLOCKS_API_URL and this host's network, or try again later)"
        )
    return f"{check.detail}: is BLOCKS_API_URL ({api_url}) the Blocks API? nothing saved"


def _operator() -> str:
    """`added_by` of a key set from the command line."""
    try:
        return f"cli:{getpass.getuser()}"[:64]
    except Exception:  # no user name in this container: getuser raises OSError or KeyError
        return "cli"


def set_key(argument: str, environ: Mapping[str, str], stdin: TextIO) -> str:
    """Check the key on `stdin` against Blocks and store it for the workspace; the line to print."""
    workspace = parse_workspace(argument)
    vault = load_vault(environ)
    api_url = blocks_api_url(environ)
    engine = open_database(environ)
    try:
        _check_vault_reads_what_is_stored(engine, vault)
        enterprise_id = workspace.enterprise_id
        if workspace.team_id is not None:
            enterprise_id = _enterprise_of(engine, workspace.team_id)
        key = read_key(stdin, f"Blocks API key for {workspace.shown} (not shown): ")
        try:
            return _store_checked(engine, vault, workspace, enterprise_id, key, api_url)
        except OperatorError:
            raise
        except Exception as exc:
            # Whatever else breaks is still one line, and is scrubbed of the key in case it quotes it.
            detail = one_line(getattr(exc, "orig", None) or exc).replace(key, "[the key]")
            raise OperatorError(f"cannot store the key: {type(exc).__name__}: {detail}") from None
    finally:
        engine.dispose()


def check_key(api_url: str, key: str) -> KeyCheck:
    client = BlocksClient(api_url=api_url, api_key=key, timeout=CHECK_TIMEOUT_SECONDS)
    try:
        return client.check_key()
    finally:
        client.close()


def _store_checked(
    engine: Engine,
    vault: Vault,
    workspace: WorkspaceId,
    enterprise_id: str | None,
    key: str,
    api_url: str,
) -> str:
    keys = WorkspaceKeys(engine, vault)
    held = keys.list(workspace.team_id, enterprise_id)
    label = key_label(key_hash(key))
    if any(connected.key_hash == key_hash(key) for connected in held):
        return f"key {label} is connected to {workspace.shown} already: nothing changed"
    outcome = check_key(api_url, key)
    if not outcome.ok:
        raise OperatorError(refusal(outcome, api_url))
    keys.add(workspace.team_id, enterprise_id, key, _operator())
    count = len(held) + 1
    return f"connected key {label} to {workspace.shown} ({count} key{'s' if count != 1 else ''} now)"


def _enterprise_of(engine: Engine, team_id: str) -> str | None:
    """The Enterprise Grid organization of an installed team, kept beside its keys for the record."""
    query = (
        select(SlackInstallation.enterprise_id)
        .where(SlackInstallation.team_id == team_id)
        .order_by(SlackInstallation.installed_at.desc())
        .limit(1)
    )
    with engine.connect() as conn:
        return conn.execute(query).scalar()


# -- list ----------------------------------------------------------------------------------------------


@dataclass
class _Listed:
    workspace: str
    enterprise: str = ""
    name: str = ""
    installed: bool = False
    hashes: list[str] = field(default_factory=list)


LIST_HEADERS = ("WORKSPACE", "ENTERPRISE", "NAME", "INSTALLED", "KEYS", "FALLBACK", "LABELS")
# The name is Slack's, of any length: cut it so that the columns after it stay in view.
_NAME_WIDTH = 30


def list_workspaces(environ: Mapping[str, str]) -> list[str]:
    """The lines of the table: each workspace with an installation or a key of its own."""
    engine = open_database(environ)
    try:
        with engine.connect() as conn:
            installs = conn.execute(
                select(
                    SlackInstallation.team_id,
                    SlackInstallation.enterprise_id,
                    SlackInstallation.team_name,
                    SlackInstallation.enterprise_name,
                ).order_by(SlackInstallation.installed_at, SlackInstallation.id)
            ).all()
            keys = conn.execute(
                select(WorkspaceKey.team_id, WorkspaceKey.enterprise_id, WorkspaceKey.key_hash).order_by(
                    WorkspaceKey.added_at, WorkspaceKey.id
                )
            ).all()
    finally:
        engine.dispose()
    found: dict[str, _Listed] = {}
    for team_id, enterprise_id, team_name, enterprise_name in installs:  # oldest first: the newest wins
        owner = team_id or enterprise_id or ""  # every install has one or the other
        listed = found.setdefault(owner, _Listed(owner))
        listed.enterprise = (enterprise_id or "") if team_id else ""
        listed.name = (team_name if team_id else enterprise_name) or ""
        listed.installed = True
    for team_id, enterprise_id, hashed in keys:
        owner = team_id or enterprise_id or ""  # every key has one or the other (see WorkspaceKeys.add)
        listed = found.setdefault(owner, _Listed(owner))
        if team_id and enterprise_id and not listed.enterprise:
            listed.enterprise = enterprise_id
        listed.hashes.append(hashed)
    if not found:
        return ["no workspace is installed, and none has a Blocks key of its own"]
    fallback = "BLOCKS_API_KEY" if environ.get("BLOCKS_API_KEY", "").strip(" ,") else "none"
    rows = [
        (
            listed.workspace,
            listed.enterprise,
            listed.name,
            "yes" if listed.installed else "no",
            str(len(listed.hashes)),
            "-" if listed.hashes else fallback,
            ", ".join(key_label(hashed) for hashed in listed.hashes),
        )
        for listed in sorted(found.values(), key=lambda listed: listed.workspace)
    ]
    widths = [max(len(header), *(len(row[i]) for row in rows)) for i, header in enumerate(LIST_HEADERS)]
    widths[2] = min(widths[2], _NAME_WIDTH)
    return [table_row(LIST_HEADERS, widths), *(table_row(row, widths) for row in rows)]


# -- remove-key ----------------------------------------------------------------------------------------


def remove_key(
    argument: str, which: str | None, environ: Mapping[str, str], stdin: TextIO, *, yes: bool
) -> str:
    """Remove one key of the workspace (by its label or the start of its hash) or, confirmed, all."""
    workspace = parse_workspace(argument)
    engine = open_database(environ)
    try:
        mine = keys_of_workspace(workspace.team_id, workspace.enterprise_id)
        with engine.connect() as conn:
            held = list(
                conn.execute(
                    select(WorkspaceKey.key_hash).where(mine).order_by(WorkspaceKey.added_at, WorkspaceKey.id)
                ).scalars()
            )
        if not held:
            raise OperatorError(f"{workspace.shown} has no Blocks key of its own: nothing to remove")
        if which is not None:
            chosen = [_matching(held, which, workspace.shown)]
        else:
            if not yes and not _confirmed(stdin, workspace.shown, len(held), environ):
                raise OperatorError("not confirmed: nothing removed")
            chosen = held
        with engine.begin() as conn:
            conn.execute(delete(WorkspaceKey).where(mine, WorkspaceKey.key_hash.in_(chosen)))
    finally:
        engine.dispose()
    labels = ", ".join(key_label(hashed) for hashed in chosen)
    left = len(held) - len(chosen)
    if left:
        after = f"{left} key{'s' if left != 1 else ''} left"
    elif environ.get("BLOCKS_API_KEY", "").strip(" ,"):
        after = "it now uses BLOCKS_API_KEY"
    else:
        after = "it has no Blocks key now: its users are told that an admin must connect one"
    return f"removed key{'s' if len(chosen) != 1 else ''} {labels} of {workspace.shown}; {after}"


def _matching(held: Sequence[str], which: str, shown: str) -> str:
    # The doctor writes a key as `sha256:<label>`: either form may be pasted.
    prefix = which.strip().lower().removeprefix("sha256:")
    listed = ", ".join(key_label(hashed) for hashed in held)
    if not _HASH_PREFIX.fullmatch(prefix):
        # Not echoed: what was typed may be the key itself.
        raise OperatorError(
            f"KEY_HASH must be a key's label as `blocks-slack workspaces list` shows it ({shown}: {listed})"
        )
    matches = [hashed for hashed in held if hashed.startswith(prefix)]
    if not matches:
        raise OperatorError(f"no key of {shown} has that label (its keys: {listed}): nothing removed")
    if len(matches) > 1:
        raise OperatorError(f"that label names {len(matches)} keys of {shown}: give more of its hash")
    return matches[0]


def _confirmed(stdin: TextIO, shown: str, count: int, environ: Mapping[str, str]) -> bool:
    then = "BLOCKS_API_KEY" if environ.get("BLOCKS_API_KEY", "").strip(" ,") else "no Blocks key"
    noun = "its key" if count == 1 else f"all {count} of its keys"
    print(f"Remove {noun} from {shown}? New sessions there will use {then}. [y/N] ", end="", file=sys.stderr)
    sys.stderr.flush()
    answer = stdin.readline()
    if not answer.endswith("\n"):
        print(file=sys.stderr)  # the error goes on its own line, not after the question
    if not answer:
        raise OperatorError("no answer on standard input (--yes removes without asking): nothing removed")
    return answer.strip().lower() in ("y", "yes")


# -- the command ---------------------------------------------------------------------------------------


def run_workspaces(
    action: str,
    *,
    team: str | None = None,
    key: str | None = None,
    yes: bool = False,
    environ: Mapping[str, str] | None = None,
) -> int:
    env = os.environ if environ is None else environ
    try:
        if action == "new-encryption-key":
            print(generate_key())
        elif action == "list":
            print("\n".join(list_workspaces(env)))
        elif action == "set-key":
            print(set_key(team or "", env, sys.stdin))
        elif action == "remove-key":
            print(remove_key(team or "", key, env, sys.stdin, yes=yes))
        else:
            return fail(f"unknown workspaces command {action!r}")
    except OperatorError as exc:
        return fail(str(exc))
    except KeyboardInterrupt:
        return fail("interrupted: nothing changed")
    except EOFError:
        return fail("standard input ended: nothing changed")
    except SQLAlchemyError as exc:
        return fail(f"the database refused: {one_line(exc.orig if isinstance(exc, DBAPIError) else exc)}")
    except Exception as exc:
        # Still one line and no traceback; set-key has scrubbed its key from anything that reaches here.
        return fail(f"workspaces {action} failed: {type(exc).__name__}: {one_line(exc)}")
    return 0
