"""DAPO soft overlong punishment (arXiv 2503.14476, Eq. 13), computed by TRL's own implementation.

r_len = 0 for L <= L_max - L_c, ((L_max - L_c) - L) / L_c for L_max - L_c < L <= L_max, -1 beyond;
right and wrong answers alike. The formula is not rewritten here: `overlong_penalties` is a thin
adapter from our lengths to `trl.rewards.get_soft_overlong_punishment`, the one TRL import in
methods/ (a pure function; importing it loads neither torch nor transformers).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from trl.rewards import get_soft_overlong_punishment

from lenbench.errors import check_range
from lenbench.methods.baselines import MethodConfig


@dataclass
class DAPOOverlongMethodConfig(MethodConfig):
    """`method=dapo_overlong`: R = c + weight * r_len; L_max is trainer.max_completion_length.

    Defaults are the testbed's (completions of 10-160 tokens); the reference's values are given per
    field.
    """

    name: str = "dapo_overlong"
    cache: int = 40
    """L_c, the soft punishment interval below L_max, tokens (reference 4096 of L_max 20480;
    testbed a quarter of trainer.max_completion_length: 40 of 160). Must not exceed L_max."""
    weight: float = 1.0
    """Weight on r_len (DAPO adds it unweighted: 1.0)."""

    def validate(self) -> None:
        check_range("method.cache", self.cache, low=0)
        check_range("method.weight", self.weight, low=0.0)


def overlong_penalties(lengths: Sequence[int], max_length: int, cache: int) -> list[float]:
    """r_len per rollout from TRL's soft overlong punishment, given completion lengths in tokens.

    TRL's reward reads only len() of each completion's ids, so each length is passed as a range
    of that length (nothing is allocated). cache = 0: no soft interval (0 up to L_max, -1 beyond).
    """
    if not 0 <= cache <= max_length:
        raise ValueError(f"the overlong cache must be in [0, max_length={max_length}], got {cache}")
    return get_soft_overlong_punishment(max_length, cache)([range(n) for n in lengths])


def rewards(
    lengths: Sequence[int], correct: Sequence[bool], *, max_length: int, cache: int, weight: float = 1.0
) -> list[float]:
    """R = c + weight * r_len per rollout (r_len does not look at correctness)."""
    penalties = overlong_penalties(lengths, max_length, cache)
    return [float(c) + weight * p for c, p in zip(correct, penalties, strict=True)]
