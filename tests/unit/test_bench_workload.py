"""The benchmark's load and arithmetic (the benchmark itself runs with `python -m bench`)."""

from __future__ import annotations

import statistics

from bench.measure import percentile
from bench.workload import MAX_DURATION, MIN_DURATION, mean_duration, workload


def test_the_load_is_seeded_and_keeps_the_asked_number_of_turns_running() -> None:
    first = workload(running=50, minutes=600, seed=3)
    assert first == workload(running=50, minutes=600, seed=3)
    assert first != workload(running=50, minutes=600, seed=4)
    assert all(MIN_DURATION <= t.duration <= MAX_DURATION for t in first)
    # Little's law: arrivals per second × mean duration ≈ running turns.
    rate = len(first) / (600 * 60)
    assert abs(rate * statistics.mean(t.duration for t in first) - 50) < 5
    assert abs(statistics.mean(t.duration for t in first) - mean_duration()) < 25


def test_percentile() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 0.5) == 51
    assert percentile(values, 0.95) == 95
    assert percentile([], 0.5) != percentile([], 0.5)  # NaN when there is nothing to measure
