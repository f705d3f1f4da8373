"""Budget metrics against hand-computed cases."""

import math

import pytest

from lenbench.budget_metrics import (
    accuracy_at_budget,
    budget_area,
    budget_curve,
    budget_grid,
    think_split,
    thinking_stats,
    tokens_by_outcome,
)

# problem 1: (right, 10 tokens), (right, 30); problem 2: (right, 20), (wrong, 5)
CORRECT = [[True, True], [True, False]]
LENGTHS = [[10, 30], [20, 5]]


def test_a_sample_longer_than_the_budget_counts_as_wrong():
    # B = 25: p1 (right, wrong) 0.5, p2 (right, wrong) 0.5 -> 0.5
    assert accuracy_at_budget(CORRECT, LENGTHS, 25) == 0.5
    # B = 30: L = B is within it; p1 1.0, p2 0.5 -> 0.75
    assert accuracy_at_budget(CORRECT, LENGTHS, 30) == 0.75
    # B = 5: only p2's wrong sample fits, so nothing counts -> 0
    assert accuracy_at_budget(CORRECT, LENGTHS, 5) == 0.0
    with pytest.raises(ValueError):
        accuracy_at_budget([], [], 10)


def test_budget_grid():
    assert budget_grid(160, 4) == [40, 80, 120, 160]
    assert budget_grid(10, 3) == [4, 7, 10]  # ceil(10/3), ceil(20/3), 10
    assert budget_grid(3, 5) == [1, 2, 3]  # ceil(0.6), ceil(1.2), ceil(1.8), ceil(2.4), 3: duplicates dropped
    with pytest.raises(ValueError):
        budget_grid(0, 4)


def test_budget_curve_and_its_normalized_area():
    # B = 10: p1 0.5, p2 0 (20 > 10) -> 0.25; B = 20: 0.5, 0.5 -> 0.5; B = 30: 1, 0.5 -> 0.75
    curve = budget_curve(CORRECT, LENGTHS, [10, 20, 30])
    assert curve == [(10, 0.25), (20, 0.5), (30, 0.75)]
    assert budget_area(curve) == 0.5  # (0.25 + 0.5 + 0.75) / 3
    assert budget_area([(160, 1.0)]) == 1.0
    with pytest.raises(ValueError):
        budget_area([])


def test_tokens_by_outcome():
    # right: 10, 30 -> 20; wrong: 20, 40 -> 30
    assert tokens_by_outcome([10, 20, 30, 40], [True, False, True, False]) == {
        "tokens_correct": 20.0, "tokens_wrong": 30.0
    }
    got = tokens_by_outcome([10, 20], [True, True])
    assert got["tokens_correct"] == 15.0 and math.isnan(got["tokens_wrong"])
    got = tokens_by_outcome([], [])
    assert math.isnan(got["tokens_correct"]) and math.isnan(got["tokens_wrong"])


def test_think_split_at_the_last_marker():
    marker = [7, 8]
    assert think_split([1, 2, 7, 8, 3, 9], marker) == (4, 2)  # the marker counts as thinking
    assert think_split([7, 8, 1, 7, 8, 2], marker) == (5, 1)  # the last occurrence splits
    assert think_split([1, 7, 8], marker) == (3, 0)  # closed, no answer
    assert think_split([1, 7], marker) is None  # a partial marker does not close
    assert think_split([], marker) is None
    assert think_split([5, 1], [5]) == (1, 1)
    with pytest.raises(ValueError):
        think_split([1], [])


def test_thinking_stats():
    # (3, 1) and unclosed (3, 0): thinking 3, answer 0.5, closed 1 of 2
    assert thinking_stats([[1, 7, 8, 3], [1, 2, 3]], [7, 8]) == {
        "thinking_tokens_mean": 3.0, "answer_tokens_mean": 0.5, "think_closed_rate": 0.5
    }
    with pytest.raises(ValueError):
        thinking_stats([], [7, 8])
