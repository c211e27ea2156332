"""The scenarios: light and heavy (blocks-slack beside the naive baseline), keys, fair, replicas, intake,
memory."""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
from sqlalchemy import create_engine, func, insert, select, text, update

from bench.measure import SideResult
from bench.sides import (
    SIGNING_SECRET,
    bot_environment,
    run_bot,
    run_naive,
    run_replicas,
    simulators,
)
from bench.workload import MAX_DURATION, TurnSpec, flood, workload
from bot.blocks.budget import Budget, BudgetPolicy
from bot.db import migrate
from bot.db.engine import make_engine, normalize_database_url
from bot.db.models import Conversation, InboundMessage, Turn
from bot.sim.events import EventSender, envelope, message_event
from bot.sim.process import BotProcess
from bot.sim.slack import BOT_USER_ID, TEAM_ID
from bot.turns import states
from bot.turns.intake import new_turn_values
from bot.turns.lease import claim_next


@dataclass(frozen=True)
class Load:
    running: float
    minutes: float
    scale: float
    seed: int = 1
    blocks_limit: int = 100  # Blocks requests a minute per key

    @property
    def drain(self) -> float:
        """Simulated seconds to wait after the last arrival: the longest turn, plus slack."""
        return MAX_DURATION * 1.25


def compare(load: Load) -> list[SideResult]:
    specs = workload(running=load.running, minutes=load.minutes, seed=load.seed)
    naive = run_naive(specs, load.scale, drain=load.drain)
    bot = run_bot(specs, load.scale, drain=load.drain)
    return [naive, bot]


def keys(load: Load, counts: tuple[int, ...] = (1, 2, 3)) -> list[SideResult]:
    """The same seeded load on one `serve` process with 1, 2 and 3 Blocks keys, each against fresh
    simulators (which count every key's requests in its own window)."""
    specs = workload(running=load.running, minutes=load.minutes, seed=load.seed)
    return [
        run_bot(
            specs,
            load.scale,
            drain=load.drain,
            keys=count,
            blocks_limit=load.blocks_limit,
            name=f"{count} key{'' if count == 1 else 's'}",
        )
        for count in counts
    ]


@dataclass(frozen=True)
class Flood:
    flood: int  # turns the flooding person asks for, within a minute
    each: int  # turns each of the two others asks for, over the next eight minutes
    scale: float


@dataclass(frozen=True)
class FairResult:
    specs: list[TurnSpec]
    alone: SideResult  # the others' turns alone (the baseline)
    flooded: SideResult  # the same turns, and the flood


def fair(load: Flood) -> FairResult:
    """The others' turns alone, then the same turns while one person floods, each on one `serve` process
    and one key against fresh simulators."""
    specs = flood(flood=load.flood, each=load.each)
    others = [spec for spec in specs if spec.user != "UFLOOD"]
    drain = MAX_DURATION * 1.25
    alone = run_bot(others, load.scale, drain=drain, name="the others alone")
    flooded = run_bot(specs, load.scale, drain=drain + 30 * 60, name="with the flood")
    return FairResult(specs, alone, flooded)


def replicas(load: Load, database_url: str) -> SideResult:
    specs = workload(running=load.running, minutes=load.minutes, seed=load.seed)
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(normalize_database_url(database_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in database_url else "?"
    url = f"{database_url}{separator}options=-csearch_path%3D{schema}"
    try:
        with tempfile.TemporaryDirectory() as folder:
            result, _processes = run_replicas(
                specs, load.scale, database_url=url, drain=load.drain, workdir=Path(folder)
            )
        return result
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@dataclass
class IntakeResult:
    deliveries: int
    messages: int
    recorded: int
    non_200: int
    p50_ms: float
    p99_ms: float
    max_ms: float


class _Scraper:
    """Scrapes `<url>/metrics` every `every` seconds from `start` to `stop` (nothing when `every` is None);
    `stop` raises if any scrape failed, so a "scraped" run is one that was."""

    def __init__(self, every: float | None) -> None:
        self.every = every
        self.scrapes = 0
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, url: str) -> None:
        if self.every is not None:
            self._thread = threading.Thread(target=self._loop, args=(url, self.every), daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self.failures:
            raise RuntimeError(f"{len(self.failures)} of {self.scrapes} scrapes failed: {self.failures[0]}")

    def _loop(self, url: str, every: float) -> None:
        with httpx.Client(timeout=5) as client:
            while not self._stop.wait(every):
                self.scrapes += 1
                try:
                    status = client.get(f"{url}/metrics").status_code
                except httpx.HTTPError as exc:
                    self.failures.append(f"{type(exc).__name__}: {exc}")
                    continue
                if status != 200:
                    self.failures.append(f"answered {status}")


def intake(total: int, *, senders: int = 8, scrape_every: float | None = None) -> IntakeResult:
    """`total` signed deliveries, as fast as `senders` concurrent connections go: each mention as
    app_mention and message, 10% of them delivered once more as a retry. The bot runs as its own
    process (serve, SQLite, worker included); reported: ack latency, and each message recorded once.
    With `scrape_every`, `/metrics` is scraped that often meanwhile (as a Prometheus server would, only
    much more often)."""
    scraper = _Scraper(scrape_every)
    with simulators(1.0) as sims, tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'intake.db'}"
        bot = BotProcess.spawn({**bot_environment(sims, url), "LOG_LEVEL": "ERROR"}, Path(folder) / "bot.log")
        try:
            payloads: list[tuple[dict[str, object], int | None]] = []
            index = 0
            while len(payloads) < total:
                text = f"<@{BOT_USER_ID}> intake {index}"
                channel = f"C{index % 50:03d}"
                ts = sims.slack.human_message(channel, "UALICE", text).ts
                for kind in ("app_mention", "message"):
                    event = message_event(channel=channel, user="UALICE", text=text, ts=ts, kind=kind)
                    payloads.append((envelope(event), None))
                if index % 10 == 0:
                    payloads.append((payloads[-1][0], 1))
                index += 1
            payloads = payloads[:total]
            messages = len({p["event"]["ts"] for p, _ in payloads})  # type: ignore[index]
            clients = [EventSender(bot.url, SIGNING_SECRET) for _ in range(senders)]

            def send(item: tuple[int, tuple[dict[str, object], int | None]]) -> tuple[int, float]:
                number, (payload, retry) = item
                delivery = clients[number % senders].send(payload, retry_num=retry)
                return delivery.status, delivery.seconds

            scraper.start(bot.url)
            with ThreadPoolExecutor(max_workers=senders) as pool:
                results = list(pool.map(send, enumerate(payloads)))
            for client in clients:
                client.close()
        finally:
            try:
                scraper.stop()
            finally:
                bot.stop()
        engine = make_engine(url)
        with engine.connect() as conn:
            recorded = int(conn.execute(select(func.count()).select_from(InboundMessage)).scalar_one())
        engine.dispose()
    latencies = sorted(seconds * 1000 for _, seconds in results)
    return IntakeResult(
        deliveries=len(results),
        messages=messages,
        recorded=recorded,
        non_200=sum(1 for status, _ in results if status != 200),
        p50_ms=latencies[len(latencies) // 2],
        p99_ms=latencies[int(len(latencies) * 0.99) - 1],
        max_ms=latencies[-1],
    )


@dataclass
class MemoryResult:
    turns: int
    seconds: float
    peak_rss_mb: float
    polls: int
    claim_ms_small: float
    claim_ms_large: float
    small: int


def memory(turns: int, *, seconds: float, small: int = 100) -> MemoryResult:
    """RSS of one worker process with `turns` running and being polled; claim latency at `turns` running
    beside `small` running."""
    with simulators(10.0) as sims, tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'memory.db'}"
        _seed_running(url, sims, turns)
        env = {**bot_environment(sims, url), "TIME_SCALE": "10", "LOG_LEVEL": "ERROR", "PORT": "0"}
        process = subprocess.Popen(
            [sys.executable, "-m", "bot", "worker"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        peak = 0.0
        deadline = time.monotonic() + seconds
        try:
            while time.monotonic() < deadline and process.poll() is None:
                peak = max(peak, _rss_mb(process.pid))
                time.sleep(0.25)
        finally:
            process.kill()
            process.wait()
        polls = sum(1 for entry in sims.blocks.log if entry["method"] == "GET")
        if polls == 0:  # the memory of a worker that does nothing measures nothing
            raise RuntimeError("the worker polled no turn in the memory scenario")
    return MemoryResult(turns, seconds, peak, polls, _claim_ms(small), _claim_ms(turns), small)


def _seed_running(
    url: str, sims: object, turns: int, *, due_now: int = 0, people: int = 1, key_hash: str | None = None
) -> None:
    """`turns` turns being polled, `due_now` of them due, asked by `people` people in turn, their sessions
    of `key_hash`."""
    engine = make_engine(url)
    migrate.upgrade(engine)
    now = time.time()
    conversations, rows = [], []
    for i in range(turns):
        session_id, thread_id = str(uuid.uuid4()), str(uuid.uuid4())
        if sims is not None:
            sims.blocks.seed_running_turn(session_id=session_id, thread_id=thread_id)  # type: ignore[attr-defined]
        conversations.append(
            {
                "id": i + 1,
                "team_id": TEAM_ID,  # the Slack stub's workspace, the one the bot serves
                "channel_id": f"C{i % 100:03d}",
                "thread_ts": f"{i}.0001",
                "channel_type": "channel",
                "agent": "claude",
                "started_by": f"U{i % people:04d}",
                "joins_existing_thread": False,
                "session_id": session_id,
                "blocks_key_hash": key_hash,
                "session_url": "https://x/s",
                "created_at": now,
                "updated_at": now,
            }
        )
        # A turn already submitted to Blocks and being polled.
        rows.append(
            {
                **new_turn_values(i + 1, f"U{i % people:04d}", now, phase=states.ACTIVE, step=states.POLL),
                "next_run_at": now - 1 if i < due_now else now + (i % 600) / 10,
                "placeholder_state": "posted",
                "placeholder_ts": f"{i}.0002",
                "submit_state": "sent",
                "submitted_at": now,
                "blocks_thread_id": thread_id,
                "deadline_at": now + 1800,
                "horizon_at": now + 86400,
            }
        )
    with engine.begin() as conn:
        conn.execute(insert(Conversation), conversations)
        conn.execute(insert(Turn), rows)
    engine.dispose()


def _claim_ms(turns: int, claims: int = 200) -> float:
    """Median time of one claim among `turns` running turns (claims spread over due ones)."""
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'claims.db'}"
        _seed_running(url, None, turns, due_now=min(turns, claims))
        engine = make_engine(url)
        budget = Budget(api_key="k", policy=BudgetPolicy(capacity=1e9, refill_per_second=1e9, poll_reserve=0))
        with engine.begin() as conn:
            budget.ensure(conn, time.time())
        timings = []
        for _ in range(min(turns, claims)):
            started = time.perf_counter()
            claimed = claim_next(engine, budget, now=time.time(), lease_seconds=600)
            timings.append(time.perf_counter() - started)
            assert claimed is not None
            with engine.begin() as conn:
                conn.execute(
                    update(Turn)
                    .where(Turn.id == claimed.lease.turn_id)
                    .values(next_run_at=time.time() + 3600)
                )
        engine.dispose()
    return statistics.median(timings) * 1000


@dataclass
class BacklogClaims:
    people: int
    due_small: int
    due_large: int
    claim_ms_small: float  # a claim that pays, beside `due_small` due polls
    claim_ms_large: float  # and beside `due_large`
    fruitless_ms_large: float  # a claim that finds the key spent, beside `due_large`


def backlog_claims(due: int, *, people: int = 50, small: int = 100) -> BacklogClaims:
    """What a claim costs when Blocks steps pile up waiting for tokens: every due step is read, grouped by
    person, to decide whose turn it is (turns/shares.py). Median of a few hundred claims."""
    plenty = BudgetPolicy(capacity=1e9, refill_per_second=1e9, poll_reserve=0)
    spent = BudgetPolicy(capacity=1, refill_per_second=1e-9, poll_reserve=0)
    return BacklogClaims(
        people,
        small,
        due,
        _backlog_claim_ms(small, people, plenty),
        _backlog_claim_ms(due, people, plenty),
        _backlog_claim_ms(due, people, spent),
    )


def _backlog_claim_ms(due: int, people: int, policy: BudgetPolicy, claims: int = 200) -> float:
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'backlog.db'}"
        budget = Budget(api_key="k", policy=policy)
        _seed_running(url, None, due, due_now=due, people=people, key_hash=budget.key_hash)
        engine = make_engine(url)
        with engine.begin() as conn:
            budget.ensure(conn, time.time())
            budget.take(conn, time.time(), for_poll=False)  # a spent key stays spent; plenty stays plenty
        timings = []
        for _ in range(claims):
            started = time.perf_counter()
            claimed = claim_next(engine, budget, now=time.time(), lease_seconds=600)
            timings.append(time.perf_counter() - started)
            if claimed is not None:  # back in the backlog: the count of due steps stays the same
                with engine.begin() as conn:
                    conn.execute(
                        update(Turn)
                        .where(Turn.id == claimed.lease.turn_id)
                        .values(lease_token=None, lease_until=None)
                    )
        engine.dispose()
    return statistics.median(timings) * 1000


def _rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0
