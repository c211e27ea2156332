"""A leading `/word` reads as a misspelt agent only when it is close to one (bot/turns/usage.py)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from bot.config import CORE_AGENTS
from bot.turns.usage import misspelt_agent, typos


def test_one_letter_off_reads_as_the_agent() -> None:
    for agent in CORE_AGENTS:
        dropped = "/" + agent[:2] + agent[3:]
        swapped = "/" + agent[0] + agent[2] + agent[1] + agent[3:]
        assert misspelt_agent(dropped) == agent, dropped
        assert misspelt_agent(swapped) == agent, swapped


def test_skills_and_agents_themselves_are_not_misspellings() -> None:
    for word in ("/review", "/plan", "/test", "/deploy", "/fix", "/explain", "/pr", "/docs", "nocodex"):
        assert misspelt_agent(word) is None, word
    for agent in CORE_AGENTS:
        assert misspelt_agent("/" + agent) is None and misspelt_agent("/" + agent.upper()) is None


@given(st.text(min_size=0, max_size=20))
def test_only_a_word_that_starts_with_a_slash_can_be_one(word: str) -> None:
    found = misspelt_agent(word)
    if found is not None:
        assert word.startswith("/") and found in CORE_AGENTS and word[1:].lower() not in CORE_AGENTS


@given(st.text(alphabet="abcdefgh", max_size=8), st.text(alphabet="abcdefgh", max_size=8))
def test_typos_is_a_distance(a: str, b: str) -> None:
    assert (typos(a, b) == 0) == (a == b)
    assert typos(a, b) == typos(b, a)
    assert typos(a, b) <= max(len(a), len(b))
    assert typos(a + "x", a) == 1 and typos(a, a + "x") == 1
