"""`/metrics` and `/readyz` of the real bot over HTTP: the values after a scripted conversation, how they add
up across replicas, and readiness in each state that must fail it."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text

from bot.db import migrate
from bot.db.engine import make_engine
from bot.metrics import Metrics
from bot.sim.slack import BOT_USER_ID
from bot.slack import messages
from bot.web import WebApp
from tests.conftest import Rig
from tests.e2e.processes import CrashRig

MENTION = f"<@{BOT_USER_ID}>"
HEAD = sorted(
    p.name.split("_")[0] for p in (Path(__file__).parents[2] / "migrations" / "versions").glob("0*.py")
)[-1]
# Nothing listens on the discard port.
UNREACHABLE = "postgresql://nobody@127.0.0.1:9/none"
BLOCKS_REQUESTS = "blocks_slack_blocks_requests_total"
SLACK_CALLS = "blocks_slack_slack_calls_total"
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(base_url: str) -> Samples:
    response = httpx.get(f"{base_url}/metrics", timeout=10)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    samples: Samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def total(samples: Samples, name: str, **labels: str) -> float:
    """The sum over every sample of `name` whose labels include `labels`."""
    wanted = set(labels.items())
    return sum(v for (n, found), v in samples.items() if n == name and wanted <= set(found))


def delta(before: Samples, after: Samples, name: str, **labels: str) -> float:
    return total(after, name, **labels) - total(before, name, **labels)


def test_metrics_count_a_scripted_conversation(rig: Rig) -> None:
    url = f"http://127.0.0.1:{rig.service.port}"
    database = _web_app(rig).metrics.database
    assert database is not None and database.cache_seconds > 0
    database.cache_seconds = 0  # read the database at every scrape, to see it change within the test
    before = scrape(url)
    top = rig.say("UALICE", f"{MENTION} first question")
    rig.wait_reaction(top)
    follow_up = rig.say("UBOB", "and a follow-up", thread=top)
    rig.wait_reaction(follow_up)
    rig.settle()
    after = scrape(url)

    assert delta(before, after, BLOCKS_REQUESTS, endpoint="create_session", status="200") == 1
    assert delta(before, after, BLOCKS_REQUESTS, endpoint="send_message", status="200") == 1
    assert delta(before, after, BLOCKS_REQUESTS, endpoint="thread_messages") >= 2
    assert delta(before, after, SLACK_CALLS, method="chat.postMessage", error="ok") >= 2
    assert delta(before, after, SLACK_CALLS, method="reactions.add", error="ok") >= 2
    # The mention arrives twice (app_mention and message), the follow-up once: three acks.
    assert delta(before, after, "blocks_slack_ack_seconds_count") == 3
    assert delta(before, after, "blocks_slack_added_latency_seconds_count") == 2
    assert delta(before, after, "blocks_slack_poll_lag_seconds_count") >= 2
    assert delta(before, after, "blocks_slack_turns_ended_total", outcome="answered") == 2
    # Read from the database: the deployment's state.
    in_flight = [v for (name, _), v in before.items() if name == "blocks_slack_turns_in_flight"]
    assert in_flight == [], "nothing in flight before"
    assert total(after, "blocks_slack_turns_in_flight") == 0, "nothing in flight after"
    assert value(after, "blocks_slack_database_up") == 1
    keys = [dict(labels)["key"] for (name, labels) in after if name == "blocks_slack_blocks_budget_tokens"]
    assert len(keys) == 1 and "test-blocks-key" not in keys[0], "one key, shown by its hash only"
    assert value(after, "blocks_slack_blocks_budget_waiting", key=keys[0]) == 0


def test_slack_errors_and_blocks_rate_limits_are_counted(rig: Rig) -> None:
    url = f"http://127.0.0.1:{rig.service.port}"
    before = scrape(url)
    rig.slack.inject("reactions.add", "ratelimited", count=1)
    rig.blocks.inject(method="POST", path=r"^/rest/v1/sessions$", status=429, count=1, retry_after=0.2)
    top = rig.say("UALICE", f"{MENTION} hello")
    rig.wait_reaction(top)
    after = scrape(url)
    assert delta(before, after, "blocks_slack_slack_rate_limited_total", method="reactions.add") == 1
    assert delta(before, after, SLACK_CALLS, method="reactions.add", error="ratelimited") == 1
    assert delta(before, after, BLOCKS_REQUESTS, endpoint="create_session", status="429") == 1
    assert delta(before, after, "blocks_slack_blocks_rate_limited_total") == 1


# Several replicas share a database in production on PostgreSQL.
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
@pytest.mark.slow
def test_with_two_replicas_counters_add_up_and_database_gauges_agree(crash_rig: CrashRig) -> None:
    rig = crash_rig
    replicas = [rig.start(), rig.start()]
    tops = [rig.say(replicas[i % 2], "UALICE", f"{MENTION} task {i}") for i in range(6)]
    rig.wait(lambda: all(messages.DONE in top.reactions for top in tops), what="every answer")
    scraped = [scrape(bot.url) for bot in replicas]
    creates = [total(s, BLOCKS_REQUESTS, endpoint="create_session", status="200") for s in scraped]
    assert sum(creates) == 6, "per-process counters: the deployment's count is their sum"
    ended = [total(s, "blocks_slack_turns_ended_total", outcome="answered") for s in scraped]
    assert sum(ended) == 6
    tokens = [
        {dict(labels)["key"] for (n, labels) in s if n == "blocks_slack_blocks_budget_tokens"}
        for s in scraped
    ]
    assert tokens[0] == tokens[1] and len(tokens[0]) == 1, (
        "database gauges: one key, seen alike by every replica"
    )


def _web_app(rig: Rig) -> WebApp:
    assert rig.service.server is not None and isinstance(rig.service.server.app, WebApp)
    return rig.service.server.app


def test_readyz_is_ready_when_the_database_is_migrated_and_the_worker_runs(rig: Rig) -> None:
    response = httpx.get(f"http://127.0.0.1:{rig.service.port}/readyz", timeout=10)
    assert response.status_code == 200 and response.json() == {"ready": True}


def _not_ready(rig: Rig) -> list[str]:
    response = httpx.get(f"http://127.0.0.1:{rig.service.port}/readyz", timeout=10)
    assert response.status_code == 503
    body = response.json()
    assert body["ready"] is False
    return list(body["reasons"])


def test_readyz_fails_while_a_worker_thread_is_dead(rig: Rig) -> None:
    worker = rig.service.worker
    assert worker is not None
    died = threading.Thread(target=lambda: None, name="worker-died")
    died.start()
    died.join()
    worker._pool.append(died)  # one of its threads ended (an uncaught error), the worker did not stop
    assert not worker.stopping
    assert _not_ready(rig) == ["worker threads are not running"]
    health = httpx.get(f"http://127.0.0.1:{rig.service.port}/healthz", timeout=10)
    assert health.status_code == 200, "liveness is another question: the process still answers"


def test_readyz_fails_while_the_worker_is_stopped(rig: Rig) -> None:
    assert rig.service.worker is not None
    rig.service.worker.stop(timeout=5)
    assert _not_ready(rig) == ["worker threads are not running"]


def test_readyz_stays_ready_when_a_newer_release_has_migrated_the_schema(rig: Rig) -> None:
    with rig.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    response = httpx.get(f"http://127.0.0.1:{rig.service.port}/readyz", timeout=10)
    assert response.status_code == 200, "a rolling deploy: this replica still runs"
    with rig.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = :head"), {"head": HEAD})


def test_readyz_fails_while_the_schema_is_behind(rig: Rig) -> None:
    migrate.downgrade(rig.engine, "-1")
    try:
        reasons = _not_ready(rig)
        assert len(reasons) == 1 and "blocks-slack migrate" in reasons[0], reasons
    finally:
        migrate.upgrade(rig.engine)
    assert httpx.get(f"http://127.0.0.1:{rig.service.port}/readyz", timeout=10).status_code == 200


def test_readyz_fails_while_the_database_is_unreachable(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig()
    app = _web_app(rig)
    real = app.engine
    app.engine = make_engine(UNREACHABLE, wait_seconds=1.0)
    try:
        reasons = _not_ready(rig)
        assert reasons == ["database unreachable: OperationalError"], reasons
    finally:
        app.engine.dispose()
        app.engine = real


def test_metrics_still_answer_while_the_database_is_away(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig()
    app = _web_app(rig)
    metrics = app.metrics
    away = make_engine(UNREACHABLE, wait_seconds=1.0)
    app.metrics = Metrics(away)
    try:
        samples = scrape(f"http://127.0.0.1:{rig.service.port}")
        assert value(samples, "blocks_slack_database_up") == 0
        assert total(samples, "blocks_slack_slack_calls_total") > 0, "the process's own metrics are served"
    finally:
        app.metrics = metrics
        away.dispose()
