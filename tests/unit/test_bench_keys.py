"""The key-pool scenario's arithmetic: requests read off the simulator's log by key (the scenario itself
runs with `python -m bench --only keys`)."""

from __future__ import annotations

from typing import Any

import pytest

from bench.__main__ import _keys_verdict
from bench.measure import KeyUse, SideResult, busiest, key_use


def entry(at: float, key: str, method: str = "GET", status: int = 200, path: str = "/x") -> dict[str, Any]:
    return {"at": at, "method": method, "path": path, "status": status, "key": key}


def test_busiest_counts_the_most_stamps_in_any_window() -> None:
    assert busiest([], 60) == 0
    assert busiest([0, 10, 20, 60, 65], 60) == 4  # 10 .. 65 (0 is 60 s before 60: out)
    assert busiest([5, 1, 3], 1) == 1


def test_key_use_groups_the_log_by_key() -> None:
    log = [
        entry(0, "b", "POST", path="/rest/v1/sessions"),
        entry(1, "a", "POST", path="/rest/v1/sessions"),
        entry(2, "a", "POST", status=429, path="/rest/v1/sessions"),
        *(entry(10 + i, "a") for i in range(30)),
        *(entry(10 + i, "b") for i in range(0, 30, 3)),
        entry(50, "b", status=404),
    ]
    # Time ×10: the 60 simulated seconds from 10 to 16 on the simulator's clock are one minute.
    found = key_use(log, start=10, end=16, scale=10)
    assert [use.key for use in found] == ["a", "b"]
    a, b = found
    assert (a.sessions, a.rate_limited, b.sessions, b.rate_limited) == (1, 1, 1, 0)
    assert a.requests == 7  # at 10, 11, …, 16
    assert a.per_minute == pytest.approx(7) and a.polls_per_minute == pytest.approx(7)
    assert b.requests == 3 and b.per_minute == pytest.approx(3)  # at 10, 13, 16
    assert a.busiest == 6  # a simulated minute is 6 s of the log: 6 of a's requests at most
    assert b.busiest == 2


def side(keys: int, per_minute: float, *, rate_limited: int = 0) -> SideResult:
    uses = [KeyUse(f"k{i}", 10, 100, per_minute, per_minute - 20, 88, 0) for i in range(keys)]
    return SideResult(f"{keys} keys", 100, 100, 1000, rate_limited, 88, keys=uses)


def test_capacity_grows_in_proportion_when_every_key_runs_at_its_budget() -> None:
    throughput, latency = _keys_verdict([side(1, 87), side(2, 86), side(3, 85)], 87, 100)
    assert "2 keys ÷ 1 key = 1.98, 3 keys ÷ 1 key = 2.93" in throughput
    assert "capacity grows in proportion" in throughput
    assert latency.startswith("p95 added latency: 1 key")


def test_a_key_short_of_its_share_or_a_429_is_said() -> None:
    throughput, _ = _keys_verdict([side(1, 87), side(2, 86), side(3, 70)], 87, 100)
    assert "does **not** grow in proportion" in throughput and "3 keys short" in throughput
    throughput, _ = _keys_verdict([side(1, 87), side(2, 86, rate_limited=1)], 87, 100)
    assert "does **not** grow in proportion" in throughput and "a 429" in throughput
