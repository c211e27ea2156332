"""Golden rendering: real-looking agent answers (headings, nested lists, a table, code fences with
languages, a diff, links with parentheses, `&`, `<`, `>`, emoji shortcodes, pings that must not ping, a
long code block) go through the real bot to the Slack stub, and what Slack receives (each message's
fallback text and blocks, in order) is compared with `answers/<name>.slack.json`.

Regenerate after an intended change with `BLOCKS_SLACK_UPDATE_GOLDEN=1 pytest tests/golden`, then read
the diff: it is exactly what users will see change. Every message also stays within Slack's documented
limits (12,000 characters of markdown blocks, 50 blocks, 3,000 characters of section text, 4,000 of text).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.db import migrate
from bot.db.engine import make_engine
from bot.sim.blocks import BlocksSimulator, SimConfig
from bot.sim.slack import SlackStub
from bot.sim.wsgi import serve_in_thread
from tests.conftest import rig_settings
from tests.driven import DrivenBot, driven_settings

ANSWERS = Path(__file__).parent / "answers"
NAMES = sorted(p.stem for p in ANSWERS.glob("*.md"))
UPDATE = os.environ.get("BLOCKS_SLACK_UPDATE_GOLDEN") == "1"
MARKDOWN_LIMIT, BLOCKS_LIMIT, SECTION_LIMIT, TEXT_LIMIT = 12_000, 50, 3_000, 4_000


@pytest.fixture(scope="module")
def bot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DrivenBot]:
    folder = tmp_path_factory.mktemp("golden")
    engine = make_engine(f"sqlite:///{folder / 'bot.db'}")
    migrate.upgrade(engine)
    slack = SlackStub()
    server = serve_in_thread(slack)
    blocks = BlocksSimulator(SimConfig(answer_delay=4, rate_limit=10**6))
    base = rig_settings("http://blocks.sim", server.url, f"sqlite:///{folder / 'bot.db'}")
    yield DrivenBot.build(engine, slack, server.url, blocks, driven_settings(base, private_sessions=False))
    server.stop()
    engine.dispose()


def received(bot: DrivenBot, name: str) -> list[dict[str, Any]]:
    """Every message of the answer as Slack received it: the placeholder's last edit, then the posts."""
    answer = (ANSWERS / f"{name}.md").read_text()
    bot.blocks.answer = lambda _agent, _text: answer
    channel = f"CGOLD{NAMES.index(name):03d}"
    question = bot.mention(channel, "UALICE", f"<@UBOT> {name}")
    bot.run()
    thread = [m for m in bot.slack.thread(channel, question.ts) if m.is_bot]
    shown = []
    for m in thread:
        files = [{"name": f["name"], "title": f.get("title"), "length": f["length"]} for f in m.files]
        shown.append(_stable({"text": m.text, "blocks": m.blocks, **({"files": files} if files else {})}))
    return shown


def _stable(message: dict[str, Any]) -> dict[str, Any]:
    """Ids that differ from run to run (sessions, turns) replaced by placeholders."""
    text = json.dumps(message, ensure_ascii=False)
    text = re.sub(r"sessions/[0-9a-f-]{36}", "sessions/<session>", text)
    text = re.sub(r'"(good|bad):\d+"', r'"\1:<turn>"', text)
    text = re.sub(r'"answer-\d+\.md"', '"answer-<turn>.md"', text)
    return dict(json.loads(text))


@pytest.mark.parametrize("name", NAMES)
def test_what_slack_receives_is_the_golden_copy(bot: DrivenBot, name: str) -> None:
    got = received(bot, name)
    golden = ANSWERS / f"{name}.slack.json"
    if UPDATE or not golden.exists():
        golden.write_text(json.dumps(got, indent=2, ensure_ascii=False) + "\n")
        if not UPDATE:
            pytest.fail(f"{golden.name} was missing: written; read it, then run again")
    assert got == json.loads(golden.read_text()), f"{name}: see the diff against {golden.name}"
    for message in got:
        blocks = message["blocks"]
        assert len(blocks) <= BLOCKS_LIMIT and len(message["text"]) <= TEXT_LIMIT
        assert sum(len(b.get("text", "")) for b in blocks if b.get("type") == "markdown") <= MARKDOWN_LIMIT
        assert all(len(b["text"]["text"]) <= SECTION_LIMIT for b in blocks if b.get("type") == "section")
