"""Baseline methods: `base` (no training, the reference point) and `grpo` (correctness only).

Pure functions and config dataclasses; no TRL, no I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass
class MethodConfig:
    """Fields every method has."""

    name: str = "grpo"
    """Which method: a name registered in lenbench.registry.METHODS."""

    def validate(self) -> None:
        """Raise ConfigError on values out of range (subclasses add their own checks)."""

    def validate_with(self, model) -> None:
        """Raise ConfigError when this method cannot run on `model` (a ModelConfig)."""


@dataclass
class BaseMethodConfig(MethodConfig):
    """`method=base`: evaluate the base model as it is; the reference for token reductions."""

    name: str = "base"


@dataclass
class GRPOMethodConfig(MethodConfig):
    """`method=grpo`: GRPO with the correctness reward only."""

    name: str = "grpo"
    correct_reward: float = 1.0
    """Reward for a correct final answer (an incorrect one gets 0)."""


def correctness_rewards(correct: Sequence[bool], correct_reward: float = 1.0) -> list[float]:
    """R = correct_reward * c for each rollout, c in {0, 1}."""
    return [correct_reward if c else 0.0 for c in correct]
