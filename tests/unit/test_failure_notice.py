"""Blocks' failure notices are told apart from answers (bot/blocks/failure_notice.py), narrowly."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from bot.blocks.failure_notice import MAX_NOTICE_CHARACTERS, is_failure_notice


def test_the_notices_blocks_sends_are_failures() -> None:
    for notice in (
        "Claude Code: Authentication failed. Please check that your API key or Subscription is valid.\n\n"
        "<details>authentication_failed</details>",
        "Claude Code: Rate limit or quota exceeded.",
        "Codex: quota exceeded",
        "  Gemini CLI : Authentication failed",
        "OpenCode: an unexpected error",
    ):
        assert is_failure_notice(notice), notice


def test_answers_that_talk_about_failures_are_answers() -> None:
    for answer in (
        "The build failed because of a missing env var.",
        "Authentication failed in the login test: here is the fix.",
        "**Claude Code** here: authentication failed for the staging user, so I rotated the token.",
        "Claude Code: I fixed the authentication flow; tests pass.",
        "Note: Claude Code: Authentication failed appears in the logs when the key is wrong.",
        "Claude Code: Authentication failed" + "." * MAX_NOTICE_CHARACTERS,
    ):
        assert not is_failure_notice(answer), answer


@given(st.text(max_size=300))
def test_only_text_that_starts_with_an_agent_and_a_colon_can_be_one(text: str) -> None:
    if is_failure_notice(text):
        head = text.lstrip().split(":", 1)[0].strip().lower()
        assert head in {
            "claude code",
            "claude",
            "codex",
            "gemini cli",
            "gemini",
            "opencode",
            "cursor",
            "kimi",
            "sisyphus",
        }
