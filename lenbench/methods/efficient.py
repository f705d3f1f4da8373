"""Training Language Models to Reason Efficiently (Arora & Zanette, arXiv 2502.04463).

Over the correct *finished* rollouts of a group: mu, sigma (population). A correct finished rollout
gets r = 1 - alpha * sigmoid((L - mu) / (sigma + eps)); every other rollout 0. With one such rollout,
or all of equal length, the z-score is 0 and r = 1 - alpha / 2. Pure functions; no TRL, no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import mean, pstdev

from lenbench.errors import check_range
from lenbench.methods.baselines import MethodConfig


@dataclass
class EfficientMethodConfig(MethodConfig):
    """`method=efficient`: a sigmoid-normalized length penalty on the correct finished rollouts.

    Defaults are the testbed's (completions of 10-160 tokens); the reference's values are given per
    field.
    """

    name: str = "efficient"
    alpha: float = 0.1
    """Penalty strength in [0, 1] (paper 0.1, grid 0.05-0.4; testbed the same, lengths are normalized).
    Above 1 a long correct rollout would score below a wrong one."""
    eps: float = 1e-7
    """Added to sigma in the z-score (paper 1e-7)."""

    def validate(self) -> None:
        check_range("method.alpha", self.alpha, low=0.0, high=1.0)
        check_range("method.eps", self.eps, low=0.0, low_inclusive=False)


def sigmoid(x: float) -> float:
    """1 / (1 + e^-x), without overflow for large |x|."""
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    z = math.exp(x)
    return z / (1.0 + z)


def rewards(
    lengths: Sequence[int],
    correct: Sequence[bool],
    finished: Sequence[bool],
    *,
    alpha: float,
    eps: float = 1e-7,
) -> list[float]:
    """r per rollout of one group; 0 for wrong or unfinished rollouts (all 0 when none is both)."""
    rewarded = [bool(c and f) for c, f in zip(correct, finished, strict=True)]
    pool = [n for n, r in zip(lengths, rewarded, strict=True) if r]
    if not pool:
        return [0.0] * len(rewarded)
    mu, sigma = mean(pool), pstdev(pool)
    return [
        1.0 - alpha * sigmoid((n - mu) / (sigma + eps)) if r else 0.0
        for n, r in zip(lengths, rewarded, strict=True)
    ]
