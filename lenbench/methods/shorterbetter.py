"""ShorterBetter (arXiv 2504.21370): reward the distance to the group's sample optimal length (SOL).

SOL = the shortest correct length of the group, or the group's mean length when none is correct;
r_i = alpha * c_i - beta * |L_i - SOL|. Pure functions; no TRL, no I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from statistics import mean

from lenbench.errors import check_range
from lenbench.methods.baselines import MethodConfig


@dataclass
class ShorterBetterMethodConfig(MethodConfig):
    """`method=shorterbetter`: R = alpha * c - beta * |L - SOL| (replaces the correctness reward).

    Defaults are the testbed's (completions of 10-160 tokens); the reference's values are given per
    field.
    """

    name: str = "shorterbetter"
    alpha: float = 2.0
    """Weight of correctness (paper 2.0; testbed the same)."""
    beta: float = 0.02
    """Penalty per token of distance to SOL (paper 0.001 at thousands of tokens; testbed scaled to
    its 10-160-token completions: 0.02)."""

    def validate(self) -> None:
        check_range("method.alpha", self.alpha, low=0.0, low_inclusive=False)
        check_range("method.beta", self.beta, low=0.0)


def sample_optimal_length(lengths: Sequence[int], correct: Sequence[bool]) -> float | None:
    """SOL of one group: min correct length, else mean length; None for an empty group."""
    if not lengths:
        return None
    correct_lengths = [n for n, c in zip(lengths, correct, strict=True) if c]
    return float(min(correct_lengths)) if correct_lengths else float(mean(lengths))


def rewards(lengths: Sequence[int], correct: Sequence[bool], *, alpha: float, beta: float) -> list[float]:
    """r_i = alpha * c_i - beta * |L_i - SOL| for each rollout of one group."""
    sol = sample_optimal_length(lengths, correct)
    if sol is None:
        return []
    return [alpha * float(c) - beta * abs(n - sol) for n, c in zip(lengths, correct, strict=True)]
