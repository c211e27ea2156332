"""The two sides of a comparison, run against fresh simulators with the same seeded load:

- `run_bot`: blocks-slack itself (intake over HTTP, the worker, SQLite or PostgreSQL, one process or
  several replicas);
- `run_naive`: what the Blocks quick start and the official GitHub Action do — one loop per turn that
  polls every 5 seconds, with no shared budget and an ordinary retry on 429 (Retry-After, else
  exponential backoff from 1 s, at most 5 attempts).
"""

from __future__ import annotations

import os
import random
import re
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench.measure import SideResult, answer_text, collect
from bench.workload import TurnSpec
from bot.blocks.links import rebase
from bot.sim.blocks import BlocksSimulator, SimConfig, default_answer
from bot.sim.events import EventSender
from bot.sim.process import BotProcess
from bot.sim.slack import BOT_USER_ID, SlackStub
from bot.sim.wsgi import serve_in_thread

SIGNING_SECRET = "bench-signing-secret"
BLOCKS_KEY = "bench-blocks-key"
SLACK_TOKEN = "xoxb-bench"
_TASK = re.compile(r"task (\d+)\b")


@dataclass
class Sims:
    blocks: BlocksSimulator
    slack: SlackStub
    blocks_url: str
    slack_url: str


@contextmanager
def simulators(scale: float, *, blocks_limit: int = 100) -> Iterator[Sims]:
    """Both simulators enforcing their limits in compressed time: Blocks `blocks_limit` requests per key in
    any 60 s window (no Retry-After), Slack Tier 3 at 50 a minute and about one post a second per
    channel."""
    minute = 60 / scale
    blocks = BlocksSimulator(SimConfig(rate_limit=blocks_limit, rate_window=minute, retry_after=None))
    blocks.answer = _bench_answer
    slack = SlackStub()
    slack.limits = {
        "chat.update": (50, minute),
        "reactions.add": (50, minute),
        "reactions.remove": (50, minute),
        "chat.postMessage": (60, minute),
    }
    blocks_server, slack_server = serve_in_thread(blocks, threads=16), serve_in_thread(slack, threads=16)
    try:
        yield Sims(blocks, slack, blocks_server.url, slack_server.url)
    finally:
        blocks_server.stop()
        slack_server.stop()


def _bench_answer(agent: str, text: str) -> str:
    """Answers that name their task, so that the measurement can find them in Slack."""
    match = _TASK.search(text)
    return answer_text(int(match.group(1)), agent) if match else default_answer(agent, text)


def request_text(spec: TurnSpec, scale: float) -> str:
    return f"<@{BOT_USER_ID}> task {spec.index} #delay={spec.duration / scale:.3f}"


def run_bot(
    specs: list[TurnSpec],
    scale: float,
    *,
    drain: float,
    keys: int = 1,
    blocks_limit: int = 100,
    name: str = "blocks-slack",
) -> SideResult:
    """blocks-slack as one `serve` process on SQLite (the default deployment), shipped defaults; with
    `keys` Blocks keys (`BLOCKS_API_KEY=k1,k2,…`) of `blocks_limit` requests a minute each."""
    with simulators(scale, blocks_limit=blocks_limit) as sims, tempfile.TemporaryDirectory() as folder:
        env = {
            **bot_environment(sims, f"sqlite:///{Path(folder) / 'bench.db'}", keys=bench_keys(keys)),
            "TIME_SCALE": str(scale),
            "LOG_LEVEL": "WARNING",
        }
        if blocks_limit != 100:
            env["BLOCKS_RATE_LIMIT_PER_MINUTE"] = str(blocks_limit)
        bot = BotProcess.spawn(env, Path(folder) / "bot.log")
        try:
            _deliver_all(sims, specs, scale, lambda: [bot.url], drain=drain)
        finally:
            bot.stop()
        return collect(name, specs, sims.blocks, sims.slack, scale)


def bench_keys(count: int) -> list[str]:
    """`count` Blocks keys: the benchmark's one key, then others beside it."""
    return [BLOCKS_KEY, *(f"{BLOCKS_KEY}-{number}" for number in range(2, count + 1))]


def run_replicas(
    specs: list[TurnSpec], scale: float, *, database_url: str, drain: float, workdir: Path
) -> tuple[SideResult, list[BotProcess]]:
    """Three `serve` processes on one PostgreSQL database sharing one key; one is killed midway."""
    with simulators(scale) as sims:
        env = {
            **bot_environment(sims, database_url),
            "TIME_SCALE": str(scale),
            # A short lease, so that the killed replica's turns are taken over quickly in compressed
            # time; still three times the Blocks timeout.
            "LEASE_SECONDS": "3",
            "BLOCKS_TIMEOUT_SECONDS": "1",
            "IDLE_POLL_SECONDS": "0.1",
            "LOG_LEVEL": "WARNING",
        }
        replicas = [BotProcess.spawn(env, workdir / f"replica-{i}.log") for i in range(3)]
        kill_after = specs[len(specs) // 2].arrives_at / scale if specs else 0.0
        started = time.monotonic()

        def live_urls() -> list[str]:
            if replicas[0].alive and time.monotonic() - started >= kill_after:
                replicas[0].stop()  # SIGKILL, midway through the arrivals
            return [r.url for r in replicas if r.alive]

        try:
            _deliver_all(sims, specs, scale, live_urls, drain=drain)
        finally:
            for replica in replicas:
                replica.stop()
        result = collect("blocks-slack ×3", specs, sims.blocks, sims.slack, scale)
        result.extra.update(_duplicates(sims))
        return result, replicas


def bot_environment(sims: Sims, database_url: str, *, keys: Sequence[str] = (BLOCKS_KEY,)) -> dict[str, str]:
    """The environment of a bot process pointed at the simulators (this process's, less bot settings),
    with these Blocks keys."""
    prefixes = ("SLACK_", "BLOCKS_", "DATABASE_", "DYNO")
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}
    return {
        **inherited,
        "SLACK_BOT_TOKEN": SLACK_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": sims.slack_url + "/api/",
        "BLOCKS_API_KEY": ",".join(keys),
        "BLOCKS_API_URL": sims.blocks_url,
        "DATABASE_URL": database_url,
        # A load's sender (UALICE) stands for a team, and the flood measures fair shares, not caps: no
        # per-person cap.
        "MAX_RUNNING_TURNS_PER_USER": "0",
    }


def _duplicates(sims: Sims) -> dict[str, object]:
    """Placeholders, sessions and answers that exist more than once."""
    markers: dict[tuple[object, object], int] = {}
    answers: dict[int, set[str]] = {}
    for message in sims.slack.messages.values():
        if not message.is_bot:
            continue
        if message.metadata:
            payload = message.metadata.get("event_payload", {})
            key = (payload.get("turn_id"), payload.get("post"))
            markers[key] = markers.get(key, 0) + 1
        match = re.search(r"ANSWER\[(\d+)\]", message.markdown + message.text)
        if match:
            answers.setdefault(int(match.group(1)), set()).add(message.ts)
    sessions: dict[int, int] = {}
    for item in sims.blocks.snapshot()["user_messages"]:
        match = _TASK.search(item["message"])
        if match:
            sessions[int(match.group(1))] = sessions.get(int(match.group(1)), 0) + 1
    return {
        "duplicate posts": sum(1 for count in markers.values() if count > 1),
        "duplicate sessions": sum(1 for count in sessions.values() if count > 1),
        "duplicate answers": sum(1 for found in answers.values() if len(found) > 1),
    }


def _deliver_all(
    sims: Sims, specs: list[TurnSpec], scale: float, urls: Callable[[], list[str]], *, drain: float
) -> None:
    """Post each request when it arrives (as Slack does: app_mention and message), then wait for the
    answers, at most `drain` simulated seconds after the last arrival."""
    rng = random.Random(7)
    start = time.monotonic()
    local = threading.local()

    def deliver(spec: TurnSpec) -> None:
        text = request_text(spec, scale)
        message = sims.slack.human_message(spec.channel, spec.user, text)
        for _attempt in range(10):
            url = rng.choice(urls())
            sender = getattr(local, "senders", {}).get(url)
            if sender is None:
                sender = EventSender(url, SIGNING_SECRET)
                local.senders = {**getattr(local, "senders", {}), url: sender}
            try:
                if all(
                    d.status == 200
                    for d in sender.deliver_message(
                        channel=spec.channel, user=spec.user, text=text, ts=message.ts
                    )
                ):
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)

    with ThreadPoolExecutor(max_workers=8) as pool:
        for spec in specs:
            time.sleep(max(0.0, start + spec.arrives_at / scale - time.monotonic()))
            urls()  # lets the replicas scenario kill a replica on time
            pool.submit(deliver, spec)
    deadline = start + ((specs[-1].arrives_at if specs else 0) + drain) / scale
    _wait_for_answers(sims, specs, deadline)


def _wait_for_answers(sims: Sims, specs: list[TurnSpec], deadline: float) -> None:
    wanted = {spec.index for spec in specs}
    while time.monotonic() < deadline:
        seen = set()
        for call in list(sims.slack.calls):
            if call.get("ok") and call["method"] in ("chat.update", "chat.postMessage"):
                match = re.search(r"ANSWER\[(\d+)\]", str(call["params"]))
                if match:
                    seen.add(int(match.group(1)))
        if wanted <= seen:
            return
        time.sleep(0.5)


# -- the naive baseline ---------------------------------------------------------------------------


def run_naive(specs: list[TurnSpec], scale: float, *, drain: float) -> SideResult:
    with simulators(scale) as sims:
        blocks = httpx.Client(
            base_url=sims.blocks_url,
            headers={"Authorization": f"ApiKey {BLOCKS_KEY}"},
            timeout=30,
            limits=httpx.Limits(max_connections=64, max_keepalive_connections=64),
        )
        slack = httpx.Client(
            base_url=sims.slack_url, headers={"Authorization": f"Bearer {SLACK_TOKEN}"}, timeout=30
        )
        start = time.monotonic()
        stop_at = start + ((specs[-1].arrives_at if specs else 0) + drain) / scale
        threads = []
        for spec in specs:
            time.sleep(max(0.0, start + spec.arrives_at / scale - time.monotonic()))
            thread = threading.Thread(
                target=_naive_turn, args=(spec, scale, sims, blocks, slack, stop_at), daemon=True
            )
            thread.start()
            threads.append(thread)
        for thread in threads:
            thread.join(max(0.0, stop_at - time.monotonic()))
        blocks.close()
        slack.close()
        return collect("naive 5 s polling", specs, sims.blocks, sims.slack, scale)


def _naive_turn(
    spec: TurnSpec, scale: float, sims: Sims, blocks: httpx.Client, slack: httpx.Client, stop_at: float
) -> None:
    message = sims.slack.human_message(spec.channel, "UALICE", request_text(spec, scale))
    body = {"message": f"task {spec.index} #delay={spec.duration / scale:.3f}", "agent_name": "claude"}
    created = _with_retry(lambda: blocks.post("/rest/v1/sessions", json=body), scale)
    if created is None or created.status_code != 200:
        return
    poll_url = rebase(created.json()["_links"]["final_message"]["href"], sims.blocks_url)
    while time.monotonic() < stop_at:
        time.sleep(5 / scale)
        response = _with_retry(lambda: blocks.get(poll_url), scale)
        if response is not None and response.status_code == 200 and response.json()["items"]:
            answer = response.json()["items"][0]["message"]
            post = {"channel": spec.channel, "thread_ts": message.ts, "text": answer}
            _with_retry(lambda post=post: slack.post("/api/chat.postMessage", json=post), scale)  # type: ignore[misc]
            return


def _with_retry(send: Callable[[], httpx.Response], scale: float) -> httpx.Response | None:
    """The official action's policy: on 429 or 5xx, Retry-After or 1 s × 2ⁿ with jitter, 5 attempts.
    (A Retry-After is real seconds, as the server counts; the backoff is in simulated seconds.)"""
    for attempt in range(5):
        try:
            response = send()
        except httpx.HTTPError:
            response = None
        if response is not None and response.status_code != 429 and response.status_code < 500:
            return response
        retry_after = response.headers.get("retry-after") if response is not None else None
        if retry_after:
            time.sleep(float(retry_after))
        else:
            time.sleep(min(30.0, 2.0**attempt) * random.uniform(0.5, 1.0) / scale)
    return None
