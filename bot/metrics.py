"""Prometheus metrics, served at `/metrics` by every process (`serve`, `web` and `worker`).

Two kinds, aggregated differently across replicas:

* Counters and histograms count what this process did (Blocks requests, Slack calls, acks, deliveries,
  polls). Each replica has its own: add them up (`sum by (…) (rate(…))`).
* Gauges read from the database at scrape time describe the whole deployment (turns by phase and outcome,
  the Blocks key's budget): every replica reports the same value, so take one (`max by (…)`), never the
  sum.

The instruments are module-level, as prometheus_client intends (one process, one set); the database
gauges belong to a `Metrics` object built per service, whose registry also serves the module-level ones.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator

import httpx
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import generate_latest
from sqlalchemy import Engine, func, select

from bot.blocks.keys import key_label
from bot.db.engine import reading
from bot.db.models import Turn
from bot.db.token_bucket import TokenBucket
from bot.turns import states
from bot.turns.lease import blocks_waiting_by_key

CONTENT_TYPE = CONTENT_TYPE_LATEST
# The database gauges are read at most this often, whoever scrapes how often.
DATABASE_CACHE_SECONDS = 5.0
PREFIX = "blocks_slack"

# Seconds: Slack's 3 s ack deadline and the answer latencies users notice sit well inside these.
_ACK_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0)
_LATENCY_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0)

BLOCKS_REQUESTS = Counter(
    f"{PREFIX}_blocks_requests",
    "Blocks API requests by endpoint and HTTP status ('error': no answer)",
    ["endpoint", "status"],
)
BLOCKS_RATE_LIMITED = Counter(
    f"{PREFIX}_blocks_rate_limited", "Blocks answers of 429, by key (a hash)", ["key"]
)
SLACK_CALLS = Counter(
    f"{PREFIX}_slack_calls",
    "Slack Web API calls by method and result ('ok' or Slack's error)",
    ["method", "error"],
)
SLACK_RATE_LIMITED = Counter(
    f"{PREFIX}_slack_rate_limited", "Slack answers of 'ratelimited', by method", ["method"]
)
TURNS_ENDED = Counter(f"{PREFIX}_turns_ended", "Turns this process ended, by outcome", ["outcome"])
FEEDBACK = Counter(
    f"{PREFIX}_feedback", "Presses of an answer's feedback buttons, by value (good or bad)", ["value"]
)
ACK_SECONDS = Histogram(
    f"{PREFIX}_ack_seconds", "From a Slack request's arrival to the bot's answer to it", buckets=_ACK_BUCKETS
)
ADDED_LATENCY_SECONDS = Histogram(
    f"{PREFIX}_added_latency_seconds",
    "From an answer being ready in Blocks to it being visible in Slack",
    buckets=_LATENCY_BUCKETS,
)
POLL_LAG_SECONDS = Histogram(
    f"{PREFIX}_poll_lag_seconds", "From a poll being due to it being done", buckets=_LATENCY_BUCKETS
)


# Blocks endpoints by path, so that session ids do not become label values.
_ENDPOINTS = (
    ("POST", re.compile(r"^/rest/v1/sessions/?$"), "create_session"),
    ("POST", re.compile(r"^/rest/v1/sessions/[^/]+/messages/?$"), "send_message"),
    ("GET", re.compile(r"^/rest/v1/sessions/[^/]+/threads/[^/]+/messages/?$"), "thread_messages"),
    ("GET", re.compile(r"^/rest/v1/sessions/[^/]+/messages/?$"), "session_messages"),
    ("GET", re.compile(r"^/rest/v1/sessions/[^/]+/?$"), "get_session"),
)


def blocks_endpoint(method: str, path: str) -> str:
    for expected, pattern, name in _ENDPOINTS:
        if method == expected and pattern.match(path):
            return name
    return "other"


class MeteredTransport(httpx.BaseTransport):
    """An httpx transport that counts every Blocks request by endpoint and status, and its 429s by key."""

    def __init__(self, inner: httpx.BaseTransport, *, key: str) -> None:
        self.inner = inner
        self.key = key  # `keys.key_label` of the key the client sends

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        endpoint = blocks_endpoint(request.method, request.url.path)
        try:
            response = self.inner.handle_request(request)
        except Exception:
            BLOCKS_REQUESTS.labels(endpoint, "error").inc()
            raise
        BLOCKS_REQUESTS.labels(endpoint, str(response.status_code)).inc()
        if response.status_code == 429:
            BLOCKS_RATE_LIMITED.labels(self.key).inc()
        return response

    def close(self) -> None:
        self.inner.close()


def count_slack_call(method: str, error: str | None) -> None:
    SLACK_CALLS.labels(method, error or "ok").inc()
    if error == "ratelimited":
        SLACK_RATE_LIMITED.labels(method).inc()


class _ProcessMetrics:
    """The module-level instruments (and the process and GC metrics of the default registry)."""

    def collect(self) -> Iterable[Metric]:
        return REGISTRY.collect()

    def describe(self) -> list[Metric]:
        return []  # collected at scrape time only; nothing to check for duplicates


class _DatabaseMetrics:
    """Gauges read from the database: the deployment's state, not this process's. Read without taking the
    writer lock, and at most once per `cache_seconds` (scrapes are public and may come often; Prometheus
    scrapes every 15 s by default), so a scrape never competes with Slack's deliveries for the database."""

    def __init__(
        self,
        engine: Engine,
        budgets: Callable[[], Iterable[tuple[str, TokenBucket]]],
        cache_seconds: float,
    ) -> None:
        self.engine = engine
        self.budgets = budgets
        self.cache_seconds = cache_seconds
        self._lock = threading.Lock()
        self._read_at = float("-inf")
        self._families: list[Metric] = []

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            if time.monotonic() - self._read_at >= self.cache_seconds:
                self._families = self._read(time.time())
                self._read_at = time.monotonic()
            return iter(list(self._families))

    def _read(self, now: float) -> list[Metric]:
        turns = GaugeMetricFamily(
            f"{PREFIX}_turns_in_flight",
            "Turns not finished, by phase and step (all replicas; finished ones: turns_ended_total)",
            labels=["phase", "step"],
        )
        tokens = GaugeMetricFamily(
            f"{PREFIX}_blocks_budget_tokens",
            "Blocks request tokens left in a key's shared budget",
            labels=["key"],
        )
        waiting = GaugeMetricFamily(
            f"{PREFIX}_blocks_budget_waiting",
            "Blocks requests due and waiting for a key's budget ('new': sessions not created yet)",
            labels=["key"],
        )
        up = GaugeMetricFamily(f"{PREFIX}_database_up", "1 when the database answered the last read")
        try:
            with reading(self.engine) as conn:
                for phase in (states.ACTIVE, states.WAITING):  # each read from its partial index
                    rows = conn.execute(
                        select(Turn.step, func.count()).where(Turn.phase == phase).group_by(Turn.step)
                    ).all()
                    for step, count in rows:
                        turns.add_metric([phase, step], float(count))
                for key_hash, count in blocks_waiting_by_key(conn, now):
                    waiting.add_metric([key_label(key_hash) if key_hash else "new"], float(count))
                for label, bucket in self.budgets():
                    left = bucket.tokens(conn, now)
                    if left is not None:
                        tokens.add_metric([label], left)
        except Exception:
            up.add_metric([], 0.0)
            return [up]  # the database is away: say so rather than fail the scrape (health says why)
        up.add_metric([], 1.0)
        return [up, turns, tokens, waiting]


class Metrics:
    """What `/metrics` serves for one service."""

    def __init__(
        self,
        engine: Engine | None = None,
        budgets: Callable[[], Iterable[tuple[str, TokenBucket]]] = lambda: (),
        *,
        cache_seconds: float = DATABASE_CACHE_SECONDS,
    ) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(_ProcessMetrics())  # duck-typed, as the library intends
        self.database = _DatabaseMetrics(engine, budgets, cache_seconds) if engine is not None else None
        if self.database is not None:
            self.registry.register(self.database)

    def render(self) -> bytes:
        return generate_latest(self.registry)
