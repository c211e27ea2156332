"""Three replicas on one PostgreSQL database share one Blocks key; two of them are killed (SIGKILL) at
random moments during 120 turns. Every message is answered exactly once, nothing is doubled, and the
simulator never sees more requests in a window than the key allows. Then the same with two workspaces
installed from Slack (OAuth mode), half the turns in each, each workspace with its own Blocks key: also,
no Slack call or Blocks request of one workspace goes out with the other's token or key.

Time is compressed by FACTOR: the simulator's rate-limit window is 60/FACTOR seconds (still 100 requests
a window), and the bot runs with TIME_SCALE=FACTOR (its minute, and every policy duration, divided by it).
"""

from __future__ import annotations

import random
import re
import signal
import time

import httpx
import pytest

from bot.sim.events import EventSender
from bot.sim.process import BotProcess
from bot.sim.slack import BOT_USER_ID, TEAM_ID, StubMessage
from bot.slack import messages
from tests.conftest import SIGNING_SECRET
from tests.e2e.processes import CrashRig, assert_workspaces_kept_apart, deliver, team_channel

pytestmark = pytest.mark.slow
FACTOR = 20
TURNS = 120
FOLLOW_UPS = 24


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_three_replicas_two_killed_answer_every_message_once(crash_rig: CrashRig) -> None:
    _three_replicas_two_killed(crash_rig)


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_three_replicas_two_killed_answer_every_message_of_two_workspaces_once_with_their_own_tokens_and_keys(
    two_workspace_rig: CrashRig,
) -> None:
    _three_replicas_two_killed(two_workspace_rig)
    asked = [m for m in two_workspace_rig.slack.messages.values() if not m.is_bot]
    assert {m.team for m in asked} == set(two_workspace_rig.teams)
    assert_workspaces_kept_apart(two_workspace_rig, asked)


def _three_replicas_two_killed(rig: CrashRig) -> None:
    """The scenario, in the rig's workspaces (single-token mode: its one); turn i goes to the i-th
    workspace in turn, in its own channels."""
    rng = random.Random(20261128)
    rig.blocks.config.rate_limit = 100
    rig.blocks.config.rate_window = 60 / FACTOR
    rig.env.update(
        {
            # The bot's minute is compressed like the simulator's window: the same 100 per "minute".
            "TIME_SCALE": str(FACTOR),
            "BLOCKS_RATE_LIMIT_PER_MINUTE": "100",
            "BLOCKS_RATE_HEADROOM": "0.1",
            # The default polling policy (compressed with the rest), not the crash rig's eager one.
            "POLL_FIRST_SECONDS": "3",
            "POLL_MAX_SECONDS": "120",
            "LEASE_SECONDS": "2",
            "WORKER_THREADS": "3",
        }
    )
    replicas = rig.start_many(3)
    if rig.keys:
        rig.install(replicas[2])  # the survivor's pages; the install is in the database for all three
    teams = rig.teams or [TEAM_ID]
    doomed = replicas[:2]
    kill_at = sorted(rng.uniform(2, 12) for _ in doomed)
    started = time.monotonic()

    tops: list[StubMessage] = []
    for i in range(TURNS):
        _kill_due(doomed, kill_at, started)
        delay = round(rng.uniform(0.2, 2.5), 2)
        text = f"<@{BOT_USER_ID}> task {i} #delay={delay}"
        team = teams[i % len(teams)]
        channel = team_channel(team, i % 7) if rig.keys else f"C{i % 7}"
        tops.append(_say(rig, replicas, rng, channel, text, team=team))
        time.sleep(0.03)
    follow_ups: list[StubMessage] = []
    for top in rng.sample(tops, FOLLOW_UPS):
        _kill_due(doomed, kill_at, started)
        text = f"follow-up to {top.ts} #delay=0.3"
        follow_ups.append(_say(rig, replicas, rng, top.channel, text, top, team=top.team))
    while any(b.process.poll() is None for b in doomed):
        _kill_due(doomed, kill_at, started)
        time.sleep(0.1)

    everyone = tops + follow_ups
    rig.wait(lambda: all(_finished(m) for m in everyone), timeout=180, what="every message to be answered")

    unconfirmed = 0
    for top in tops:
        replies = [m for m in rig.slack.thread(top.channel, top.ts) if m.is_bot]
        asked = [top, *[f for f in follow_ups if f.thread_ts == top.ts]]
        answers = [r for r in replies if "You asked" in r.markdown]
        notices = [r for r in replies if "did not confirm" in r.markdown]
        queued = [r for r in replies if r.markdown in (messages.QUEUED, messages.QUEUED_SENT)]
        unconfirmed += len(notices)
        assert len(replies) == len(answers) + len(notices) + len(queued), [r.markdown for r in replies]
        for message in asked:
            quoted = message.text.split("> ", 1)[-1].split(" #delay")[0]
            matching = [a for a in answers if f"> {quoted} #delay" in a.markdown]
            assert len(matching) <= 1, f"{quoted!r} answered twice"
            if not matching:
                assert message.reactions.get(messages.FAILED), f"{quoted!r} got no answer"
    # A kill in the instant a create is in flight is reported, never repeated (README, guarantees).
    assert unconfirmed <= len(doomed)

    state = rig.blocks.snapshot()
    sessions_by_text: dict[str, int] = {}
    for sent in state["user_messages"]:
        match = re.search(r"task (\d+) #", sent["message"])
        if match and "Earlier messages" not in sent["message"]:
            sessions_by_text[match.group(1)] = sessions_by_text.get(match.group(1), 0) + 1
    assert all(count == 1 for count in sessions_by_text.values()), "no duplicate session or first message"
    assert len(sessions_by_text) >= TURNS - unconfirmed
    assert len(state["sessions"]) <= TURNS + unconfirmed, "a reply after a notice may start one more"
    rejected = sum(1 for entry in rig.blocks.log if entry["status"] == 429)
    # Each key has a window of its own, at the simulator as at Blocks (one key: the busiest of all).
    keys = {entry["key"] for entry in rig.blocks.log}
    assert keys == (set(rig.keys.values()) or {rig.env["BLOCKS_API_KEY"]}), keys
    busiest = max(_busiest_window(rig, key, 60 / FACTOR) for key in keys)
    assert rejected == 0 and busiest <= 100, f"{rejected} × 429, busiest window {busiest} of 100"
    payloads = [m.metadata["event_payload"] for m in rig.slack.messages.values() if m.is_bot and m.metadata]
    markers = [(p["turn_id"], p["post"]) for p in payloads]
    assert len(markers) == len(set(markers)), "no placeholder or answer part posted twice"


def _busiest_window(rig: CrashRig, key: str, window: float) -> int:
    """The most requests made with `key` in any `window`-second span (a sliding window over the log)."""
    stamps = sorted(entry["at"] for entry in rig.blocks.log if entry["key"] == key)
    best, start = 0, 0
    for end, stamp in enumerate(stamps):
        while stamps[start] <= stamp - window:
            start += 1
        best = max(best, end - start + 1)
    return best


def _finished(message: StubMessage) -> bool:
    return bool(message.reactions.get(messages.DONE) or message.reactions.get(messages.FAILED))


def _kill_due(doomed: list[BotProcess], kill_at: list[float], started: float) -> None:
    for bot, at in zip(doomed, kill_at, strict=True):
        if bot.process.poll() is None and time.monotonic() - started >= at:
            bot.process.send_signal(signal.SIGKILL)
            bot.process.wait(timeout=10)


def _say(
    rig: CrashRig,
    replicas: list[BotProcess],
    rng: random.Random,
    channel: str,
    text: str,
    thread: StubMessage | None = None,
    *,
    team: str,
) -> StubMessage:
    """A person of `team` writes; Slack delivers to any live replica, and redelivers if that one fails."""
    message = rig.slack.human_message(channel, "UALICE", text, thread.ts if thread else None, team=team)
    for _attempt in range(20):
        alive = [b for b in replicas if b.process.poll() is None]
        bot = rng.choice(alive)
        sender = EventSender(bot.url, SIGNING_SECRET)
        try:
            deliveries = deliver(sender, message, mention=thread is None)
            if all(d.status == 200 for d in deliveries):
                return message
        except httpx.HTTPError:
            pass
        finally:
            sender.close()
    raise AssertionError("no replica took the event")
