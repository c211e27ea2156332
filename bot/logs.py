"""Logging set-up: one line per record, and no secret in any line that is written.

Secrets are scrubbed from the whole formatted record, traceback included: an exception message can carry
a token (an HTTP library refusing a header quotes it, escaped), so scrubbing only the message is not
enough. Known secrets are replaced in every form they can take in a line (as they are, and as `repr`
escapes them), and anything shaped like a Slack token is replaced whether or not it is known here.
Uncaught exceptions in any thread go through the same path instead of straight to stderr.

Lines carry the ids of what they are about (turn, Blocks session, team, channel) from `log_context`, in
the text format as a bracketed suffix and in the JSON format (`LOG_FORMAT=json`, one object a line) as
fields. Message texts and answers are never logged; the libraries that would log request bodies at DEBUG
(slack_sdk, slack_bolt, urllib3) are kept at INFO unless `LOG_MESSAGE_BODIES=true`.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from types import TracebackType

# Slack tokens have a recognizable shape (xoxb-, xoxp-, xoxe-, xapp-…): never log one, known or not.
_SLACK_TOKEN = re.compile(r"\b(xox[a-z]|xapp)-[A-Za-z0-9-]{4,}")
_MIN_SECRET_LENGTH = 6


class Scrubber:
    """Replaces secrets in text; shared by the log formatter and the command line's error lines."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        forms: set[str] = set()
        for secret in secrets:
            if secret and len(secret) >= _MIN_SECRET_LENGTH:
                forms.update({secret, repr(secret)[1:-1], repr(secret.encode(errors="replace"))[2:-1]})
                # A secret with a line break inside reaches a message in pieces: hide each long piece.
                forms.update(p for p in re.split(r"\s+", secret) if len(p) >= _MIN_SECRET_LENGTH)
        self._forms = sorted(forms, key=len, reverse=True)  # longest first: no half-replaced secret

    def __call__(self, text: str) -> str:
        for form in self._forms:
            if form in text:
                text = text.replace(form, "***")
        return _SLACK_TOKEN.sub(lambda m: f"{m.group(1)}-***", text)


# The ids a line may carry, in the order the text format shows them.
CONTEXT_FIELDS = ("turn_id", "session_id", "team", "channel")
_CONTEXT: contextvars.ContextVar[dict[str, str] | None] = contextvars.ContextVar("log_context", default=None)
# Libraries that log whole request and response bodies (message texts) at DEBUG.
_BODY_LOGGERS = ("slack_sdk", "slack_bolt", "urllib3", "waitress")


@contextmanager
def log_context(**ids: object) -> Iterator[None]:
    """Every line logged inside (in this thread) carries these ids; None values are left out."""
    given = {k: str(v) for k, v in ids.items() if v is not None}
    token = _CONTEXT.set({**(_CONTEXT.get() or {}), **given})
    try:
        yield
    finally:
        _CONTEXT.reset(token)


def _ids(record: logging.LogRecord) -> dict[str, str]:
    found = getattr(record, "ids", None)
    return found if isinstance(found, dict) else {}


class _ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.ids = _CONTEXT.get() or {}
        return True


class ScrubbingFormatter(logging.Formatter):
    """Text lines: `time LEVEL logger: message [turn=… session=… team=… channel=…]`, scrubbed."""

    def __init__(self, scrub: Scrubber, fmt: str = "%(asctime)s %(levelname)s %(name)s: %(message)s") -> None:
        super().__init__(fmt)
        self.scrub = scrub

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        ids = _ids(record)
        if ids:
            suffix = " ".join(
                f"{name.removesuffix('_id')}={ids[name]}" for name in CONTEXT_FIELDS if name in ids
            )
            head, newline, rest = line.partition("\n")  # after the message, before any traceback
            line = f"{head} [{suffix}]{newline}{rest}"
        return self.scrub(line)


class JsonFormatter(logging.Formatter):
    """One JSON object a line: timestamp, level, logger, message, the context ids, and the traceback."""

    def __init__(self, scrub: Scrubber) -> None:
        super().__init__()
        self.scrub = scrub

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "timestamp": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": self.scrub(record.getMessage()),
        }
        entry.update(_ids(record))
        if record.exc_info:
            entry["exception"] = self.scrub(self.formatException(record.exc_info))
        # Scrubbed field by field (a secret is found as written, not as JSON escapes it), then as a line.
        return self.scrub(json.dumps(entry, ensure_ascii=False))


def configure(
    level: str,
    secrets: Iterable[str] = (),
    *,
    log_format: str = "text",
    message_bodies: bool = False,
) -> Scrubber:
    scrub = Scrubber(secrets)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(scrub) if log_format == "json" else ScrubbingFormatter(scrub))
    handler.addFilter(_ContextFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level if level in logging.getLevelNamesMapping() else "INFO")
    _route_uncaught_exceptions()
    # httpx logs every request URL at INFO; the worker's own lines say what matters.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)
    for name in _BODY_LOGGERS:
        logging.getLogger(name).setLevel(logging.NOTSET if message_bodies else logging.INFO)
    if message_bodies:
        logging.getLogger("bot").warning(
            "LOG_MESSAGE_BODIES=true: message texts and answers may appear in DEBUG lines; for debugging only"
        )
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    # Alembic logs each migration step at INFO; start-up logs one line of its own instead.
    logging.getLogger("alembic.runtime.migration").setLevel(logging.WARNING)
    # slack_sdk logs every failed request at ERROR (and the start-up check's, before its one line):
    # the bot logs what each failure means itself.
    logging.getLogger("slack_sdk.web.base_client").setLevel(
        logging.NOTSET if message_bodies else logging.CRITICAL
    )
    # Bolt reads SLACK_BOT_TOKEN from the environment too, then warns that the client's token wins:
    # they are the same token, so the warning would only confuse.
    logging.getLogger("slack_bolt.App").addFilter(
        lambda record: "`token` will be unused" not in record.getMessage()
    )
    return scrub


def _route_uncaught_exceptions() -> None:
    """Python prints uncaught exceptions (main thread and others) straight to stderr, unscrubbed."""
    log = logging.getLogger("bot")

    def main_hook(kind: type[BaseException], value: BaseException, tb: TracebackType | None) -> None:
        log.critical("uncaught exception", exc_info=(kind, value, tb))

    def thread_hook(args: threading.ExceptHookArgs) -> None:
        if args.exc_value is None:
            return
        name = args.thread.name if args.thread is not None else "?"
        log.critical("uncaught exception in thread %s", name, exc_info=args.exc_value)

    sys.excepthook = main_hook
    threading.excepthook = thread_hook


class Throttle:
    """Repeats of one failure, logged once per period with a count instead of once per occurrence.

    While the database is down every worker thread, every Slack delivery and every health check fails
    the same way, many times a second: the first failure of a run is logged in full (traceback once),
    then one line per `period` says how many more there were, and the recovery is logged when it comes.
    """

    def __init__(
        self,
        log: logging.Logger,
        *,
        period: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        level: int = logging.ERROR,
    ) -> None:
        self.log = log
        self.period = period
        self.clock = clock
        self.level = level
        self._lock = threading.Lock()
        self._runs: dict[str, _Run] = {}

    def failed(self, key: str, message: str, exc: BaseException | None = None) -> None:
        now = self.clock()
        with self._lock:
            run = self._runs.get(key)
            if run is None:
                self._runs[key] = _Run(started=now, logged_at=now)
                first = True
            else:
                run.count += 1
                run.unlogged += 1
                first = False
                if now - run.logged_at < self.period:
                    return
                repeats, run.unlogged, run.logged_at = run.unlogged, 0, now
        if first:
            self.log.log(self.level, "%s", message, exc_info=exc)
            return
        detail = f": {type(exc).__name__}: {' '.join(str(exc).split())[:300]}" if exc is not None else ""
        self.log.log(
            self.level, "%s (%d more times in the last %.0f s)%s", message, repeats, self.period, detail
        )

    def recovered(self, key: str, message: str) -> None:
        with self._lock:
            run = self._runs.pop(key, None)
        if run is not None:
            self.log.warning(
                "%s (after %d failures in %.0f s)", message, run.count, self.clock() - run.started
            )

    def failing(self, key: str) -> int:
        """How many failures in a row `key` has had (0: none)."""
        with self._lock:
            run = self._runs.get(key)
            return 0 if run is None else run.count


class _Run:
    def __init__(self, *, started: float, logged_at: float) -> None:
        self.started = started
        self.logged_at = logged_at
        self.count = 1
        self.unlogged = 0
