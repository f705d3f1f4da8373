"""Kimi k1.5 length penalty (arXiv 2501.12599): a per-group length reward, with an optional warm-up.

Pure functions; no TRL, no I/O. Lengths are completion *tokens* (EOS included) and lo/hi are taken
per group (open-r1's `len_reward` counts characters over the whole local batch: not copied).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from lenbench.errors import check_range
from lenbench.methods.baselines import MethodConfig


@dataclass
class KimiMethodConfig(MethodConfig):
    """`method=kimi`: R = c + weight * r_len, r_len from the group's shortest and longest rollout.

    Defaults are the testbed's (completions of 10-160 tokens); the reference's values are given per
    field.
    """

    name: str = "kimi"
    weight: float = 1.0
    """w on the length reward (Kimi adds it unweighted: 1.0; testbed the same)."""
    warmup_steps: int = 10
    """Steps (0-based global step < warmup_steps) trained on correctness only before the length
    reward starts (Kimi warms the penalty up but gives no count: 0; testbed 10 of its 60 steps)."""

    def validate(self) -> None:
        check_range("method.weight", self.weight, low=0.0)
        check_range("method.warmup_steps", self.warmup_steps, low=0)


def length_rewards(lengths: Sequence[int], correct: Sequence[bool]) -> list[float]:
    """r_len of one group: lambda_i = 0.5 - (L_i - lo) / (hi - lo); lambda_i if correct, min(0, lambda_i) if not.

    All zero when every length is equal (hi == lo); an empty group gives an empty list.
    """
    if not lengths:
        return []
    lo, hi = min(lengths), max(lengths)
    if hi == lo:
        return [0.0] * len(lengths)
    lambdas = [0.5 - (length - lo) / (hi - lo) for length in lengths]
    return [lam if c else min(0.0, lam) for lam, c in zip(lambdas, correct, strict=True)]


def length_active(step: int, warmup_steps: int) -> bool:
    """Whether the length reward applies at 0-based global `step`: from step `warmup_steps` on."""
    return step >= warmup_steps


def rewards(
    lengths: Sequence[int], correct: Sequence[bool], *, weight: float, step: int = 0, warmup_steps: int = 0
) -> list[float]:
    """R = c + weight * r_len for one group; correctness only during the warm-up."""
    if not length_active(step, warmup_steps):
        return [float(c) for c in correct]
    return [float(c) + weight * r for c, r in zip(correct, length_rewards(lengths, correct), strict=True)]
