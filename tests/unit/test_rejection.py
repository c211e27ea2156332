from __future__ import annotations

import logging

import pytest

from bot.blocks.errors import BlocksRejected
from bot.slack import messages
from bot.turns.finish import rejection_notice


def test_a_refused_key_is_an_error_in_the_log_once_per_key_not_only_a_notice_in_the_thread(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    refused = BlocksRejected("Unauthorized", status=403)
    for _ in range(5):
        assert rejection_notice(refused, None, key="abc123def456") == messages.bad_key(403)
    rejection_notice(refused, None, key="0987654321ff")
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert [r.getMessage() for r in errors] == [
        "Blocks refused the API key abc123def456 (403): check BLOCKS_API_KEY",
        "Blocks refused the API key 0987654321ff (403): check BLOCKS_API_KEY",
    ]


def test_other_rejections_are_told_in_the_thread_only(caplog: pytest.LogCaptureFixture) -> None:
    notice = rejection_notice(BlocksRejected("agent unknown", status=422), None, key="k")
    assert notice == messages.rejected("agent unknown", 422)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
