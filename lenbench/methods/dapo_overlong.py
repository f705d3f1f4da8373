"""DAPO soft overlong punishment (arXiv 2503.14476, Eq. 13): config and the combined reward.

r_len = 0 for L <= L_max - L_c, ((L_max - L_c) - L) / L_c for L_max - L_c < L <= L_max, -1 beyond;
right and wrong answers alike. r_len itself is TRL's (`trl.rewards.get_soft_overlong_punishment`),
called by the reward adapter lenbench.train.dapo_overlong; here only R = c + weight * r_len.
Pure functions; no TRL, no I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from lenbench.errors import ConfigError, check_range
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

    def check_max_length(self, max_length: int) -> None:
        """ConfigError unless L_c fits under L_max (trainer.max_completion_length)."""
        if self.cache > max_length:
            raise ConfigError(f"method.cache={self.cache} exceeds trainer.max_completion_length={max_length}; "
                              f"allowed: 0..{max_length}")


def rewards(correct: Sequence[bool], penalties: Sequence[float], *, weight: float = 1.0) -> list[float]:
    """R = c + weight * r_len per rollout (r_len, from TRL, does not look at correctness)."""
    return [float(c) + weight * p for c, p in zip(correct, penalties, strict=True)]
