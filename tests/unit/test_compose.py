from __future__ import annotations

import json

from bot.turns.compose import Authored, compose

NAMES = {"U1": "alice", "U2": "bob", "U3": "carol"}.get


def name(uid: str) -> str:
    return NAMES(uid) or uid


def test_one_message_says_who_wrote_it() -> None:
    assert compose([Authored("U1", "fix <@U2>'s bug")], name) == "Slack message from @alice:\nfix @bob's bug"


def test_a_batch_lists_each_author_oldest_first() -> None:
    text = compose([Authored("U1", "first"), Authored("U2", "second")], name)
    assert text == (
        "2 Slack messages, sent while you were busy, oldest first.\n\n"
        "From @alice:\nfirst\n\nFrom @bob:\nsecond"
    )


def test_thread_history_comes_first() -> None:
    text = compose([Authored("U1", "can you help?")], name, history=[Authored("U3", "it broke")])
    assert text == (
        "Earlier messages in this Slack thread, oldest first:\n@carol: it broke\n\n"
        "Slack message from @alice:\ncan you help?"
    )


def test_files_are_named_with_their_links() -> None:
    files = json.dumps([{"name": "a.png", "permalink": "https://s/a"}, {"name": "", "permalink": ""}])
    text = compose([Authored("U1", "look", files)], name)
    assert "- a.png: https://s/a" in text and "- file: (no link)" in text
    assert "not forwarded" in text


def test_malformed_file_lists_are_ignored() -> None:
    assert compose([Authored("U1", "x", "not json")], name) == "Slack message from @alice:\nx"
