"""`python -m bench [--quick] [--only NAME …] [--record]`: every scenario, printed as Markdown.

Time is compressed: the simulators' turn durations and rate-limit windows, and the bot's policy
durations and rate minute (TIME_SCALE), are all divided by one factor per scenario, shown in its
heading. Latencies are reported in simulated seconds.
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

from bench.clairvoyant import clairvoyant
from bench.measure import SideResult, percentile
from bench.model import ORDERS, replay
from bench.scenarios import (
    FairResult,
    Flood,
    Load,
    backlog_claims,
    compare,
    fair,
    intake,
    keys,
    memory,
    replicas,
)
from bench.workload import TurnSpec, workload
from bot.blocks.budget import BudgetPolicy
from bot.config import Settings
from bot.db.token_bucket import BucketSize
from bot.slack.pacing import SlackTiers, edits_bucket
from bot.turns.schedule import PollPolicy

FULL = {
    # ×10, not more: a claim and a request take real milliseconds, which compression multiplies.
    "light": Load(running=8, minutes=60, scale=10),
    "heavy": Load(running=200, minutes=20, scale=10),
    # 1, 2 and 3 keys on one process: a load that one key cannot poll promptly (and Slack's Tier 3 can
    # still carry its answers: the heavy load's 50 a minute outgrow the workspace's 42 edits a minute).
    "keys": Load(running=120, minutes=10, scale=10),
    # One person asks 150 times in a minute while two others ask 10 times each: fair shares of one key.
    "fair": Flood(flood=150, each=10, scale=10),
    # The heavy load again, now on three processes: the key is shared and the target is the same.
    "replicas": Load(running=200, minutes=20, scale=10),
    "intake": 2000,
    "memory": 10_000,
    # The scheduling alone (bench/model.py): orders of polls on the heavy load, then load on one key.
    "model": (50, 100, 120, 140, 160, 200),
}
QUICK = {
    "light": Load(running=8, minutes=8, scale=60),
    "heavy": Load(running=40, minutes=4, scale=60),
    # At ×60 three keys of 100 would be 260 requests a real second: keys of 30 a minute, a load to match.
    "keys": Load(running=40, minutes=8, scale=60, blocks_limit=30),
    "fair": Flood(flood=60, each=4, scale=30),
    "replicas": Load(running=20, minutes=3, scale=60),
    "intake": 1000,
    "memory": 2000,
    "model": (100, 200),
}
RESULTS = Path(__file__).parent / "RESULTS.md"
# The bot runs with shipped defaults; the floor is computed with the same budget.
DEFAULTS = Settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller loads, under 3 minutes")
    parser.add_argument("--only", nargs="*", choices=list(FULL), help="run only these scenarios")
    parser.add_argument("--record", action="store_true", help=f"also write {RESULTS.name}")
    parser.add_argument(
        "--postgres",
        default=os.environ.get("BLOCKS_SLACK_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"),
        help="database for the replicas scenario",
    )
    args = parser.parse_args(argv)
    # The bot's own warnings (a Slack retry, a rescheduled step) are expected under load; keep errors.
    logging.basicConfig(level=logging.ERROR)
    plan = QUICK if args.quick else FULL
    names = args.only or list(plan)
    lines = [_header(args.quick)]

    def emit(text: str) -> None:
        lines.append(text)
        print(text, flush=True)

    print(lines[0], flush=True)
    started = time.monotonic()
    runners: dict[str, Callable[[], None]] = {
        "light": lambda: _compare_section(emit, "light", plan["light"]),  # type: ignore[arg-type]
        "heavy": lambda: _compare_section(emit, "heavy", plan["heavy"]),  # type: ignore[arg-type]
        "keys": lambda: _keys_section(emit, plan["keys"]),  # type: ignore[arg-type]
        "fair": lambda: _fair_section(emit, plan["fair"]),  # type: ignore[arg-type]
        "replicas": lambda: _replicas_section(emit, plan["replicas"], args.postgres),  # type: ignore[arg-type]
        "intake": lambda: _intake_section(emit, int(plan["intake"])),  # type: ignore[call-overload]
        "memory": lambda: _memory_section(emit, int(plan["memory"])),  # type: ignore[call-overload]
        "model": lambda: _model_section(emit, FULL["heavy"], plan["model"]),  # type: ignore[arg-type]
    }
    for name in names:
        runners[name]()
    emit(f"\nTotal time: {time.monotonic() - started:.0f} s")
    if args.record:
        RESULTS.write_text("\n".join(lines) + "\n")
    return 0


def _header(quick: bool) -> str:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    return (
        f"# blocks-slack benchmark ({'quick' if quick else 'full'} run)\n\n"
        "Run with `python -m bench` (after the README's test install; PostgreSQL at 127.0.0.1:5432 for the "
        "replicas scenario). Each comparison runs the naive baseline and then blocks-slack (its own `serve` "
        "process, SQLite) against fresh simulators on the same seeded load. Time compression (×N in each "
        "heading) divides the simulators' durations and rate windows and the bot's policy durations alike; a "
        "claim and a request still take real milliseconds, which the compression multiplies, so latencies "
        "here are if anything pessimistic.\n\n"
        f"Machine: {os.cpu_count()} cores, {cpu}; Python {sys.version.split()[0]}; "
        f"{time.strftime('%Y-%m-%d')}.\n"
        "Blocks: 100 requests in any sliding 60 s window per key, 429 without Retry-After. Slack: Tier 3 at "
        "50 a minute per method, chat.postMessage 60 a minute per channel. Bot: shipped defaults (headroom "
        "10%, SQLite unless said otherwise). Latencies in simulated seconds."
    )


def _compare_section(emit: Callable[[str], None], name: str, load: Load) -> None:
    emit(
        f"\n## {name}: {load.running:g} turns running on average, arrivals for {load.minutes:g} min "
        f"(time ×{load.scale:g})\n"
    )
    sides = compare(load)
    emit(_table(sides))
    naive, bot = sides
    emit("")
    emit(
        f"- requests per delivered turn: blocks-slack {bot.requests_per_turn:.2f} vs naive "
        f"{naive.requests_per_turn:.2f} ({bot.requests_per_turn / naive.requests_per_turn:.0%} of it)"
    )
    if name == "heavy":
        _cycles(emit, bot, load)


def _cycles(emit: Callable[[str], None], side: SideResult, load: Load) -> None:
    """The heavy target is counted in round-robin cycles (running turns × 60 / poll requests a minute left
    after creates); beside it, the floor: what a bridge that knew when each answer was ready would add."""
    specs = workload(running=load.running, minutes=load.minutes, seed=load.seed)
    budget = BudgetPolicy.for_limit(DEFAULTS.blocks_rate_limit_per_minute, DEFAULTS.blocks_rate_headroom)
    creates, left = _polls_left(specs, budget)
    polled = float(side.extra.get("polled", 0.0))  # type: ignore[arg-type]
    made = float(side.extra.get("polls_per_minute", 0.0))  # type: ignore[arg-type]
    p95 = _p95_all(side)
    emit(
        f"- poll requests a minute left after creates: {60 * budget.refill_per_second:.0f} from the key less "
        f"{creates:.1f} creates = {left:.1f} (blocks-slack made {made:.1f} a minute while turns arrived)"
    )
    for label, running in (("turns running in Blocks", load.running), ("turns the bridge polls", polled)):
        cycle = running * 60 / left if left > 0 else float("inf")
        emit(
            f"- one round-robin cycle over the {label}: {running:.0f} × 60 / {left:.1f} = {cycle:.0f} s; "
            f"p95 added latency {p95:.0f} s = {p95 / cycle:.2f} cycles"
        )
    edits = edits_bucket(SlackTiers())
    floor = clairvoyant(specs, BucketSize(budget.capacity, budget.refill_per_second), edits)
    emit(
        f"- the floor (a bridge polling each answer the instant it is ready, same budgets): p50 / p95 / max "
        f"{_triple(floor.added)}; this load needs {floor.blocks_needed_per_minute:.0f} Blocks requests a "
        f"minute (a create and a poll per turn; the key gives {60 * budget.refill_per_second:.0f}) and "
        f"{floor.edits_needed_per_minute:.0f} answer edits (Tier 3 gives {60 * edits.refill_per_second:.0f})"
    )
    if floor.never_polled:
        emit(
            f"- whatever order a bridge polls in, at one point {floor.never_polled} turns were created and "
            "not yet polled once: every turn needs a poll, and the key leaves fewer polls than turns arrive"
        )


def _keys_section(emit: Callable[[str], None], load: Load) -> None:
    emit(
        f"\n## keys: one process with 1, 2 and 3 Blocks keys; {load.running:g} turns running on average, "
        f"arrivals for {load.minutes:g} min (time ×{load.scale:g})\n"
    )
    budget = BudgetPolicy.for_limit(load.blocks_limit, DEFAULTS.blocks_rate_headroom)
    per_key = 60 * budget.refill_per_second
    emit(
        "The same load each time, against fresh simulators: every key has its own limit "
        f"({load.blocks_limit} requests in any 60 s) and its own budget ({per_key:.0f} a minute). Requests "
        "a minute are counted in the second half of the arrivals (past the ramp from no turn running), from "
        "the simulator's log by key.\n"
    )
    sides = keys(load)
    emit(
        "| keys | delivered | Blocks 429s | sessions per key | requests a minute per key, mean / max "
        "| busiest 60 s of a key | requests a minute, all keys | polls a minute | added p50 / p95 / max "
        "| Slack 429s |"
    )
    emit("|---|---|---|---|---|---|---|---|---|---|")
    for side in sides:
        rates = [use.per_minute for use in side.keys]
        emit(
            f"| {len(side.keys)} | {side.delivered}/{side.turns} | {side.blocks_429s} | "
            f"{' / '.join(str(use.sessions) for use in side.keys)} | "
            f"{statistics.mean(rates):.1f} / {max(rates):.1f} | {max(use.busiest for use in side.keys)} | "
            f"{sum(rates):.1f} | {sum(use.polls_per_minute for use in side.keys):.1f} | "
            f"{_triple(side.added_short + side.added_long)} | {side.slack_ratelimited} |"
        )
    emit("")
    for line in _keys_verdict(sides, per_key, load.blocks_limit):
        emit(f"- {line}")


def _keys_verdict(sides: list[SideResult], per_key: float, limit: int) -> list[str]:
    """The throughput ratios (Blocks requests a minute, all keys, against one key), and whether capacity
    grew in proportion: within 10% of the number of keys, no 429, no key over its limit, every turn
    delivered."""
    one = sides[0]
    base = sum(use.per_minute for use in one.keys)
    ratios = [(len(side.keys), sum(use.per_minute for use in side.keys) / base) for side in sides[1:]]
    short = [f"{count} keys" for count, ratio in ratios if ratio < 0.9 * count]
    sound = all(
        side.blocks_429s == 0 and side.delivered == side.turns and max(u.busiest for u in side.keys) <= limit
        for side in sides
    )
    shown = ", ".join(f"{count} keys ÷ 1 key = {ratio:.2f}" for count, ratio in ratios)
    if short or not sound:
        reasons = [f"{', '.join(short)} short of their share"] if short else []
        reasons += [] if sound else ["a 429, a key over its limit or a turn not delivered"]
        verdict = f"capacity does **not** grow in proportion to the keys ({'; '.join(reasons)})"
    else:
        verdict = "capacity grows in proportion to the keys"
    p95 = [(len(side.keys), _p95_all(side)) for side in sides]
    return [
        f"throughput, Blocks requests a minute, all keys: {shown}; {verdict}. Each key's "
        f"budget is {per_key:.0f} a minute; one key used {base:.1f}",
        "p95 added latency: "
        + ", ".join(f"{count} key{'' if count == 1 else 's'} {value:.0f} s" for count, value in p95),
    ]


def _fair_section(emit: Callable[[str], None], load: Flood) -> None:
    emit(
        f"\n## fair: one person asks {load.flood} times in a minute, two others {load.each} times each over "
        f"the next eight minutes; one key (time ×{load.scale:g})\n"
    )
    emit(
        "The others' turns run twice on fresh simulators, alone and then beside the flood (same arrival "
        "times and durations). With the flood the key is short for half an hour: the flood alone needs a "
        "create and several polls for each of its turns.\n"
    )
    result = fair(load)
    emit("| run | who | delivered | added p50 / p95 / max | Blocks 429s |")
    emit("|---|---|---|---|---|")
    for side, groups in ((result.alone, ("UBOB", "UCAROL")), (result.flooded, ("UBOB", "UCAROL", "UFLOOD"))):
        for user in groups:
            emit(
                f"| {side.name} | {user} | {_delivered(result, side, user)} | "
                f"{_triple(_added_of(result, side, user))} | {side.blocks_429s} |"
            )
    emit("")
    for line in _fair_verdict(result):
        emit(f"- {line}")


def _added_of(result: FairResult, side: SideResult, user: str) -> list[float]:
    added: dict[int, float] = side.extra["added_by_turn"]  # type: ignore[assignment]
    return [added[spec.index] for spec in result.specs if spec.user == user and spec.index in added]


def _delivered(result: FairResult, side: SideResult, user: str) -> str:
    asked = sum(1 for spec in result.specs if spec.user == user)
    return f"{len(_added_of(result, side, user))}/{asked}"


def _fair_verdict(result: FairResult) -> list[str]:
    others = ("UBOB", "UCAROL")
    alone = [v for user in others for v in _added_of(result, result.alone, user)]
    flooded = [v for user in others for v in _added_of(result, result.flooded, user)]
    flood = _added_of(result, result.flooded, "UFLOOD")
    ratio = percentile(flooded, 0.95) / max(percentile(alone, 0.95), 1e-9)
    return [
        f"the others' p95 added latency: {percentile(alone, 0.95):.1f} s alone, "
        f"{percentile(flooded, 0.95):.1f} s beside the flood ({ratio:.2f}×); the flood's own p95: "
        f"{percentile(flood, 0.95):.1f} s",
    ]


def _replicas_section(emit: Callable[[str], None], load: Load, database_url: str) -> None:
    emit(
        f"\n## replicas: 3 processes on PostgreSQL, one key, one killed midway; {load.running:g} running "
        f"on average, {load.minutes:g} min (time ×{load.scale:g})\n"
    )
    result = replicas(load, database_url)
    emit(_table([result]))
    emit("")
    emit("- " + ", ".join(f"{key}: {value}" for key, value in result.extra.items() if "duplicate" in key))
    _cycles(emit, result, load)


# /metrics scraped 10 times a second while deliveries go: 150 times more often than Prometheus' default.
SCRAPE_EVERY = 0.1


def _intake_section(emit: Callable[[str], None], total: int) -> None:
    emit(f"\n## intake: {total} signed deliveries, as fast as 8 concurrent senders go\n")
    emit(f"Twice each, alternating: `/metrics` not scraped, and scraped every {SCRAPE_EVERY} s.\n")
    emit("| /metrics | deliveries | messages | recorded | non-200 | ack p50 | ack p99 | ack max |")
    emit("|---|---|---|---|---|---|---|---|")
    p99: dict[bool, list[float]] = {False: [], True: []}
    for scraped in (False, True, False, True):
        result = intake(total, scrape_every=SCRAPE_EVERY if scraped else None)
        p99[scraped].append(result.p99_ms)
        emit(
            f"| {'scraped' if scraped else 'not scraped'} | {result.deliveries} | {result.messages} | "
            f"{result.recorded} | {result.non_200} | {result.p50_ms:.1f} ms | {result.p99_ms:.1f} ms | "
            f"{result.max_ms:.1f} ms |"
        )
    ratio = statistics.median(p99[True]) / statistics.median(p99[False])
    emit(f"\n- ack p99 with `/metrics` scraped ÷ without: {ratio:.2f}")


def _memory_section(emit: Callable[[str], None], turns: int) -> None:
    emit(f"\n## memory: one worker process with {turns} turns running and being polled\n")
    result = memory(turns, seconds=30)
    emit(f"| running turns | peak RSS | polls in 30 s | claim at 100 | claim at {turns} | ratio |")
    emit("|---|---|---|---|---|---|")
    emit(
        f"| {result.turns} | {result.peak_rss_mb:.0f} MB | {result.polls} | {result.claim_ms_small:.2f} ms | "
        f"{result.claim_ms_large:.2f} ms | {result.claim_ms_large / result.claim_ms_small:.2f} |"
    )
    claims = backlog_claims(turns)
    emit(
        f"\nClaims beside a backlog: {claims.due_large} polls due at once, of {claims.people} people, "
        "waiting for tokens (fair shares read every due step, grouped by person):\n"
    )
    small, large = claims.due_small, claims.due_large
    emit(f"| claim at {small} due | claim at {large} due | ratio | no token, at {large} due |")
    emit("|---|---|---|---|")
    emit(
        f"| {claims.claim_ms_small:.2f} ms | {claims.claim_ms_large:.2f} ms | "
        f"{claims.claim_ms_large / claims.claim_ms_small:.1f} | {claims.fruitless_ms_large:.2f} ms |"
    )


def _polls_left(specs: list[TurnSpec], budget: BudgetPolicy) -> tuple[float, float]:
    """Creates a minute while turns arrive, and the poll requests a minute the key leaves after them: the
    divisor of a round-robin cycle."""
    creates = len(specs) / (specs[-1].arrives_at / 60)
    return creates, 60 * budget.refill_per_second - creates


def _model_section(emit: Callable[[str], None], heavy: Load, sweep: tuple[float, ...]) -> None:
    emit("\n## model: the scheduling alone, replayed (bench/model.py; no processes, simulated seconds)\n")
    budget = BudgetPolicy.for_limit(DEFAULTS.blocks_rate_limit_per_minute, DEFAULTS.blocks_rate_headroom)
    edits = edits_bucket(SlackTiers())

    def run(specs: list[TurnSpec], order: str) -> tuple[list[float], float]:
        result = replay(
            specs,
            budget=budget,
            edits=edits,
            policy=PollPolicy(),
            deadline=DEFAULTS.turn_deadline_seconds,
            order=ORDERS[order],
        )
        return result.added, _polls_left(specs, budget)[1]

    specs = workload(running=heavy.running, minutes=heavy.minutes, seed=heavy.seed)
    emit(
        f"The heavy load ({heavy.running:g} running on average, {heavy.minutes:g} min), other poll orders:\n"
    )
    emit("| order of due polls | added p50 / p95 / max | p95 in cycles over the turns running in Blocks |")
    emit("|---|---|---|")
    for order in ORDERS:
        added, polls_left = run(specs, order)
        cycle = heavy.running * 60 / polls_left
        emit(f"| {order} | {_triple(added)} | {percentile(added, 0.95) / cycle:.2f} |")
    emit("\nLoad on one key with the shipped defaults, arrivals for 60 min:\n")
    emit(
        "| running on average | turns a minute | polls a minute after creates | added p50 / p95 / max | p95 |"
    )
    emit("|---|---|---|---|---|")
    for running in sweep:
        specs = workload(running=running, minutes=60, seed=heavy.seed)
        added, polls_left = run(specs, next(iter(ORDERS)))
        cycle = running * 60 / polls_left if polls_left > 0 else float("inf")
        emit(
            f"| {running:g} | {len(specs) / 60:.1f} | {polls_left:.0f} | {_triple(added)} | "
            f"{percentile(added, 0.95) / cycle:.2f} cycles |"
        )


def _table(sides: list[SideResult]) -> str:
    rows = [
        "| side | delivered | Blocks 429s | busiest 60 s | requests/turn | added <1 min p50 / p95 / max "
        "| added ≥1 min p50 / p95 / max | p95 as share of duration | Slack 429s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for side in sides:
        rows.append(
            f"| {side.name} | {side.delivered}/{side.turns} | {side.blocks_429s} | {side.busiest_minute} | "
            f"{side.requests_per_turn:.2f} | {_triple(side.added_short)} | {_triple(side.added_long)} | "
            f"{percentile(side.added_long_fraction, 0.95):.1%} | {side.slack_ratelimited} |"
        )
    return "\n".join(rows)


def _triple(values: list[float]) -> str:
    if not values:
        return "–"
    return f"{percentile(values, 0.5):.1f} / {percentile(values, 0.95):.1f} / {max(values):.1f} s"


def _p95_all(side: SideResult) -> float:
    return percentile(side.added_short + side.added_long, 0.95)


if __name__ == "__main__":
    sys.exit(main())
