"""Metric definitions of shared/docs/methods.md on hand-computed cases."""

import math

import pandas as pd
import pytest

from lenbench.eval.summary import summarize
from lenbench.eval.transformers_backend import completion_length
from lenbench.metrics import aes, oracle_ratio, pass_at_1, token_reduction, token_stats


def test_pass_at_1_is_mean_of_per_problem_means():
    # problem A: 3 of 4 right (0.75); problem B: 0 of 4; problem C: 1 of 2 (0.5) -> (0.75 + 0 + 0.5) / 3
    assert pass_at_1([[1, 0, 1, 1], [0, 0, 0, 0], [1, 0]]) == pytest.approx(1.25 / 3)


def test_token_stats_by_hand():
    stats = token_stats([10, 20, 30, 40], [False, False, True, False])
    assert stats["tokens_mean"] == 25 and stats["tokens_median"] == 25
    # p90: position 0.9 * 3 = 2.7 -> 30 + 0.7 * (40 - 30) = 37
    assert stats["tokens_p90"] == pytest.approx(37.0)
    assert stats["truncation_rate"] == 0.25


def test_oracle_ratio_and_reduction():
    assert oracle_ratio([20, 30], [10, 10]) == 2.5
    assert token_reduction(60, 100) == pytest.approx(0.4)


def test_aes_both_branches():
    # dL = (100 - 60) / 100 = 0.4; dA = (0.55 - 0.5) / 0.5 = +0.1 -> 0.4 + 3 * 0.1 = 0.7
    assert aes(60, 0.55, 100, 0.5) == pytest.approx(0.7)
    # dA = -0.1 -> 0.4 - 5 * 0.1 = -0.1
    assert aes(60, 0.45, 100, 0.5) == pytest.approx(-0.1)
    # custom constants: a=2, g=1 -> 0.8 - 0.1
    assert aes(60, 0.45, 100, 0.5, a=2, g=1) == pytest.approx(0.7)
    # a base that never answers correctly gives no relative accuracy change: undefined, not a crash
    assert math.isnan(aes(60, 0.1, 100, 0.0))


@pytest.mark.parametrize(
    "ids, expected",
    [
        ([5, 6, 3, 0, 0], (3, False)),  # EOS (3) at position 2 -> 3 tokens incl. EOS; padding ignored
        ([3], (1, False)),
        ([5, 6, 7, 8], (4, True)),  # no EOS: truncated, counts as max_new_tokens
    ],
)
def test_completion_length(ids, expected):
    assert completion_length(ids, {3}, max_new_tokens=4) == expected


def test_summarize_hand_made_table():
    rows = [
        # problem p1 (oracle 10): samples 12 tokens right, 20 tokens wrong; greedy 12 right
        ("p1", "sample", 12, True, False, 10),
        ("p1", "sample", 20, False, True, 10),
        ("p1", "greedy", 12, True, False, 10),
        # problem p2 (oracle 20): both samples right, 20 and 40 tokens; greedy wrong, 30 tokens
        ("p2", "sample", 20, True, False, 20),
        ("p2", "sample", 40, True, False, 20),
        ("p2", "greedy", 30, False, False, 20),
    ]
    frame = pd.DataFrame(rows, columns=["problem_id", "decoding", "tokens", "correct", "truncated", "oracle_length"])
    summary = summarize(frame)
    assert summary["accuracy"] == pytest.approx((0.5 + 1.0) / 2)
    assert summary["tokens_mean"] == pytest.approx(23.0)  # (12 + 20 + 20 + 40) / 4, greedy excluded
    assert summary["truncation_rate"] == pytest.approx(0.25)
    assert summary["oracle_ratio"] == pytest.approx((1.2 + 2.0 + 1.0 + 2.0) / 4)
    assert summary["greedy_accuracy"] == 0.5 and summary["greedy_tokens_mean"] == 21.0
    assert summary["problems"] == 2
