"""Command line: `blocks-slack serve | web | worker | migrate | sim | demo | chat | doctor | workspaces |
audit` (or `python -m bot`)."""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
import threading
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from bot import __version__
from bot.config import ENVIRONMENT

logger = logging.getLogger("bot")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="blocks-slack", description="Slack threads ↔ Blocks agent sessions")
    parser.add_argument("--version", action="version", version=f"blocks-slack {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    for name, summary in SERVICE_COMMANDS.items():
        service = _command(commands, name, summary, ENVIRONMENT)
        service.add_argument("--port", type=int, help="port to listen on (overrides PORT)")
        service.add_argument("--host", help="address to listen on (overrides HOST)")
    migrate = _command(
        commands,
        "migrate",
        "upgrade the database schema to the latest version",
        {"DATABASE_URL": ENVIRONMENT["DATABASE_URL"]},
    )
    migrate.add_argument("--check", action="store_true", help="also fail if the models and schema differ")
    sim = _command(
        commands,
        "sim",
        "run a simulator: the Blocks API or the Slack Web API",
        {},
        description="Runs the Blocks API simulator or the Slack Web API stub on its own, for a bot "
        "started separately (point BLOCKS_API_URL or SLACK_API_URL at it). Their control endpoints, for "
        "tests and experiments, are documented in bot/sim/blocks.py (/_sim/…) and bot/sim/slack.py "
        "(/_stub/…).",
    )
    sim.add_argument(
        "which", choices=["blocks", "slack"], help="blocks: the Blocks API; slack: Slack's Web API"
    )
    sim.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    sim.add_argument("--port", type=int, default=0, help="port to listen on (default: any free port)")
    sim.add_argument(
        "--answer-delay",
        type=float,
        default=2.0,
        help="blocks only: seconds the simulated agent works before it answers (default 2; a message can "
        "ask for its own with #delay=N)",
    )
    demo = _command(commands, "demo", "a scripted conversation against both simulators, printed", {})
    demo.add_argument("--fast", action="store_true", help="shorter agent delays")
    chat = _command(
        commands,
        "chat",
        "talk to the real bot in this terminal, as in a Slack thread (no Slack workspace needed)",
        CHAT_ENVIRONMENT,
        description="A conversation with the real bot, its worker and its database, in this terminal. The\n"
        "Slack side is an in-process stub, so no workspace is needed; the thread is shown as Slack\n"
        "would show it, updated live. The first message starts a thread that mentions the bot, later\n"
        "ones reply in it; a number presses that button; /new starts another thread, /help lists the\n"
        "commands, /quit or Ctrl-D leaves.",
    )
    chat.add_argument("--log", metavar="FILE", help="append the bot's log to FILE (default: not shown)")
    commands.add_parser(
        "doctor",
        help="check the configuration, database, Slack tokens and Blocks keys; exit 1 if any check fails",
        description="Checks the configuration, the database (reachable, migrated to head), SLACK_BOT_TOKEN "
        "(auth.test, and its scopes against manifest.yml), SLACK_APP_TOKEN when set (apps.connections.open) "
        "and each Blocks key (one request each), and prints a checklist with a fix for each failure. "
        "It reads the environment serve reads: SLACK_BOT_TOKEN, SLACK_SIGNING_SECRET, SLACK_APP_TOKEN, "
        "SLACK_API_URL, BLOCKS_API_KEY (several keys may be separated by commas), BLOCKS_API_URL, "
        "BLOCKS_TIMEOUT_SECONDS, DATABASE_URL and DYNO, and validates every other setting. "
        "Exits 0 when every check passes, 1 otherwise.",
    )
    _declare_workspaces(commands)
    audit = _command(
        commands,
        "audit",
        "every turn: who asked, where, which agent and key, when, and the outcome (never a message text)",
        {"DATABASE_URL": ENVIRONMENT["DATABASE_URL"]},
    )
    audit.add_argument("--team", help="only this workspace (T…), or every workspace of an organization (E…)")
    audit.add_argument("--since", metavar="DURATION", help="only turns requested this recently: 90m, 36h, 7d")
    audit.add_argument("--format", choices=["table", "csv"], default="table", help="default: table")
    audit.add_argument(
        "--settings", action="store_true", help="who changed which setting of a channel or workspace, instead"
    )
    args = parser.parse_args(argv)

    if args.command in SERVICE_COMMANDS:
        return _run_service(args.command, port=args.port, host=args.host)
    if args.command == "migrate":
        return _migrate(check=args.check)
    if args.command == "sim":
        return _run_sim(args.which, args.host, args.port, args.answer_delay)
    if args.command == "chat":
        from bot.chat import run_chat

        return run_chat(log_path=args.log)
    if args.command == "workspaces":
        from bot.workspaces_cli import run_workspaces

        # Each action takes its own arguments: those it lacks are absent from `args`.
        given = {name: getattr(args, name) for name in ("team", "key", "yes") if hasattr(args, name)}
        return run_workspaces(args.action, **given)
    if args.command == "audit":
        from bot.audit import run_audit

        return run_audit(team=args.team, since=args.since, output_format=args.format, settings=args.settings)
    if args.command == "doctor":
        from bot.doctor import run_doctor

        return run_doctor()
    from bot.demo import run_demo

    return run_demo(fast=args.fast)


# What chat reads: its Slack side is always the stub, every other setting is chat's own.
CHAT_ENVIRONMENT = {
    "BLOCKS_API_KEY": "unset: the in-process Blocks simulator; set: the real Blocks API, with this key",
    "BLOCKS_API_URL": "the real Blocks API's origin (default https://api.blocks.team)",
    "BLOCKS_AGENT": ENVIRONMENT["BLOCKS_AGENT"],
    "DATABASE_URL": "default: a temporary SQLite file; never a running bot's (chat would take its turns)",
}

SERVICE_COMMANDS = {
    "serve": "intake and worker in one process (listens on $PORT)",
    "web": "intake only: Slack events, health, readiness and metrics on $PORT",
    "worker": "worker only: runs turns from the database (health, readiness and metrics on $PORT)",
}


# What the workspaces commands read: never the Slack tokens, which they have no use for.
_KEYS_DATABASE = {"DATABASE_URL": ENVIRONMENT["DATABASE_URL"]}
_KEYS_FALLBACK = {"BLOCKS_API_KEY": "the deployment's key(s): what a workspace without its own key uses"}
_KEYS_ENCRYPTION = {
    "BLOCKS_SLACK_ENCRYPTION_KEY": "Fernet key(s) the stored keys are encrypted with (required)"
}


def _declare_workspaces(commands: Any) -> None:
    workspaces = _command(
        commands,
        "workspaces",
        "the Blocks API keys of each Slack workspace: list, set-key, remove-key",
        {},
        description="The Blocks API keys of each Slack workspace, stored encrypted. A key is only ever\n"
        "shown by its label (the start of its SHA-256, as logs, metrics and doctor show it). TEAM is a\n"
        "team id (T…), or an enterprise id (E…) for an organization-wide install.",
    )
    actions = workspaces.add_subparsers(dest="action", required=True)
    _command(
        actions,
        "list",
        "each workspace installed or with keys: its keys' labels, whether it falls back to BLOCKS_API_KEY",
        {**_KEYS_DATABASE, **_KEYS_FALLBACK},
    )
    set_key = _command(
        actions,
        "set-key",
        "add a Blocks key to a workspace: read from standard input, checked against Blocks, stored encrypted",
        {
            **_KEYS_DATABASE,
            **_KEYS_ENCRYPTION,
            "BLOCKS_API_URL": "the Blocks API the key is checked against (default https://api.blocks.team)",
        },
        description="Reads one Blocks API key from standard input (not echoed at a terminal; never an\n"
        "argument, which the shell's history would keep), checks it against Blocks with one request,\n"
        "and stores it encrypted for TEAM only if Blocks accepted it. A workspace may hold several\n"
        "keys: run it again to add another. Prints the key's label.",
    )
    set_key.add_argument("team", metavar="TEAM", help="T… (a workspace) or E… (an organization-wide install)")
    remove = _command(
        actions,
        "remove-key",
        "remove one key of a workspace, or all of them",
        {**_KEYS_DATABASE, **_KEYS_FALLBACK},
    )
    remove.add_argument("team", metavar="TEAM", help="T… (a workspace) or E… (an organization-wide install)")
    remove.add_argument(
        "key",
        metavar="KEY_HASH",
        nargs="?",
        help="the key's label as `workspaces list` shows it (or more of its hash); without it, every key "
        "of TEAM, after a confirmation",
    )
    remove.add_argument("--yes", action="store_true", help="remove every key without asking")
    _command(
        actions,
        "new-encryption-key",
        "print a new random key for BLOCKS_SLACK_ENCRYPTION_KEY",
        {},
        description="Prints a new Fernet key for BLOCKS_SLACK_ENCRYPTION_KEY. To rotate, put the new key\n"
        "in front of the old one, comma-separated: every key decrypts, the first encrypts.",
    )


def _command(
    commands: Any, name: str, summary: str, environment: Mapping[str, str], *, description: str | None = None
) -> argparse.ArgumentParser:
    """A subcommand whose --help ends with the environment variables it reads."""
    epilog = None
    if environment:
        width = max(len(variable) for variable in environment)
        lines = [f"  {variable:<{width}}  {meaning}" for variable, meaning in environment.items()]
        epilog = "environment variables it reads:\n" + "\n".join(lines)
    parser: argparse.ArgumentParser = commands.add_parser(
        name,
        help=summary,
        description=description or summary,
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    return parser


def _run_service(mode: str, *, port: int | None = None, host: str | None = None) -> int:
    from bot import logs
    from bot.config import ConfigError, Settings

    try:
        settings = Settings.from_env()
    except ConfigError as exc:
        print(f"blocks-slack: configuration error: {exc}", file=sys.stderr)
        return 2
    if port is not None:
        if not 0 <= port <= 65535:
            print(f"blocks-slack: --port must be between 0 and 65535 (got {port})", file=sys.stderr)
            return 2
        settings = replace(settings, port=port)
    if host is not None:
        settings = replace(settings, host=host)
    scrub = logs.configure(
        settings.log_level,
        secrets=settings.secrets,
        log_format=settings.log_format,
        message_bodies=settings.log_message_bodies,
    )
    if settings.ephemeral_disk and not settings.database_url_from_env:
        logger.warning(
            "!!! DATABASE_URL is not set and this disk is ephemeral: the SQLite file %s is lost at every "
            "restart, and with it every conversation. Attach PostgreSQL and set DATABASE_URL. !!!",
            settings.database_url,
        )
    from bot.service import StartupError, build, one_line

    try:
        service = build(settings, mode)  # type: ignore[arg-type]
        service.run_until_signal()
    except StartupError as exc:
        print(f"blocks-slack: {scrub(str(exc))}", file=sys.stderr)
        return 2
    except Exception as exc:
        # Whatever else goes wrong while starting is still one line, and never carries a secret.
        print(f"blocks-slack: cannot start: {type(exc).__name__}: {scrub(one_line(exc))}", file=sys.stderr)
        return 2
    return 0


def _migrate(*, check: bool) -> int:
    from alembic.util import CommandError
    from sqlalchemy.exc import OperationalError, SQLAlchemyError

    from bot import logs
    from bot.config import DEFAULT_SQLITE_URL
    from bot.db import migrate
    from bot.db.engine import make_engine
    from bot.service import one_line

    logs.configure("WARNING")  # one line of our own, not Alembic's log of each step
    url = os.environ.get("DATABASE_URL", "").strip() or DEFAULT_SQLITE_URL
    try:
        engine = make_engine(url)
        before, after = migrate.upgrade(engine)
        if check:
            migrate.check(engine)
    except ValueError as exc:
        print(f"blocks-slack: DATABASE_URL is malformed: {exc}", file=sys.stderr)
        return 2
    except OperationalError as exc:
        print(f"blocks-slack: cannot use the database (DATABASE_URL): {one_line(exc.orig)}", file=sys.stderr)
        return 2
    except CommandError as exc:
        # e.g. a database migrated by a newer release: a revision this code does not know
        print(f"blocks-slack: cannot migrate the database: {one_line(exc)}", file=sys.stderr)
        return 2
    except SQLAlchemyError as exc:
        # e.g. a user without the right to create tables
        detail = one_line(getattr(exc, "orig", None) or exc)
        print(f"blocks-slack: the database refused the migration: {detail}", file=sys.stderr)
        return 2
    if before == after:
        print(f"database schema is up to date (revision {after})")
    else:
        print(f"database schema upgraded from {before or 'nothing'} to revision {after}")
    return 0


def _run_sim(which: str, host: str, port: int, answer_delay: float) -> int:
    from bot.sim.blocks import BlocksSimulator, SimConfig
    from bot.sim.slack import SlackStub
    from bot.sim.wsgi import serve_in_thread

    app = BlocksSimulator(SimConfig(answer_delay=answer_delay)) if which == "blocks" else SlackStub()
    running = serve_in_thread(app, host=host, port=port)
    label = "Blocks API simulator" if which == "blocks" else "Slack Web API stub"
    hint = "BLOCKS_API_URL" if which == "blocks" else "SLACK_API_URL"
    suffix = "" if which == "blocks" else "/api/"
    print(f"{label} on {running.url} (set {hint}={running.url}{suffix}); Ctrl-C stops it", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        threading.Event().wait()
    running.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
