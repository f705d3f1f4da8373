"""GFPO (arXiv 2508.09726): sample G rollouts per prompt, train on the best k of them.

Each rollout is scored by length (shorter is better) or by reward per token (higher is better); the
k best of the group are kept and get A = (R - mean_kept) / (std_kept + eps), the others A = 0 (or
are removed from the loss, the engine's choice: `filtered`). Optionally k depends on the group's
difficulty (its mean reward). Pure functions; no TRL, no I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from statistics import mean, stdev

from lenbench.errors import ConfigError, check_choice, check_range
from lenbench.methods.baselines import MethodConfig
from lenbench.methods.groups import per_group

METRICS = ("length", "reward_per_token")
FILTERED = ("zero", "mask")


@dataclass
class GFPOMethodConfig(MethodConfig):
    """`method=gfpo`: group filtering before the GRPO advantage; the reward stays correctness.

    Defaults are the testbed's (completions of 10-160 tokens); the reference's values are given per
    field.
    """

    name: str = "gfpo"
    keep: int = 4
    """k, rollouts kept per group, at most trainer.num_generations (the paper keeps 4-8 of 16-24
    sampled; testbed 4 of 8). k equal to the group size is plain GRPO."""
    metric: str = "length"
    """What ranks the rollouts: `length` (shortest kept) or `reward_per_token` (highest R / L kept)."""
    filtered: str = "zero"
    """Rollouts not kept: advantage `zero` (still in the loss normalization) or `mask` (out of the loss)."""
    adaptive: bool = False
    """Choose k per group from its mean reward (adaptive difficulty GFPO) instead of `keep`."""
    adaptive_thresholds: list[float] = field(default_factory=lambda: [0.75, 0.5, 0.25])
    """Descending mean-reward cut points: a group at or above the i-th gets adaptive_keep[i]; below
    all of them, the last entry (fixed cut points, where the paper buckets by running quartiles)."""
    adaptive_keep: list[int] = field(default_factory=lambda: [2, 3, 4, 4])
    """k per difficulty bucket, easiest first: one more entry than adaptive_thresholds (paper-like
    for 16 sampled: 4, 6, 8, 8; testbed for 8 sampled: 2, 3, 4, 4)."""
    eps: float = 1e-4
    """Added to the kept rollouts' std (TRL's 1e-4)."""

    def validate(self) -> None:
        check_range("method.keep", self.keep, low=1)
        check_choice("method.metric", self.metric, METRICS)
        check_choice("method.filtered", self.filtered, FILTERED)
        check_range("method.eps", self.eps, low=0.0, low_inclusive=False)
        thresholds, keeps = list(self.adaptive_thresholds), list(self.adaptive_keep)
        if len(keeps) != len(thresholds) + 1:
            raise ConfigError(
                f"method.adaptive_keep has {len(keeps)} entries; it needs one more than "
                f"method.adaptive_thresholds ({len(thresholds)})"
            )
        if any(later >= earlier for earlier, later in zip(thresholds, thresholds[1:], strict=False)):
            raise ConfigError(f"method.adaptive_thresholds={thresholds} must be strictly descending")
        for i, k in enumerate(keeps):
            check_range(f"method.adaptive_keep[{i}]", k, low=1)


def scores(rewards: Sequence[float], lengths: Sequence[int], metric: str) -> list[float]:
    """Score per rollout, higher is better: -L (`length`) or R / L (`reward_per_token`)."""
    if metric == "length":
        return [-float(n) for n in lengths]
    if metric == "reward_per_token":
        return [r / n for r, n in zip(rewards, lengths, strict=True)]
    raise ValueError(f"unknown GFPO metric {metric!r}; allowed: {', '.join(METRICS)}")


def keep_mask(rewards: Sequence[float], lengths: Sequence[int], keep: int, metric: str) -> list[bool]:
    """True for the `keep` best-scored rollouts of one group; ties go to the earlier row.

    keep >= the group size keeps all of them.
    """
    if keep < 1:
        raise ValueError(f"keep must be >= 1, got {keep}")
    score = scores(rewards, lengths, metric)
    ranked = sorted(range(len(score)), key=lambda i: -score[i])  # sorted() is stable: ties keep row order
    kept = set(ranked[:keep])
    return [i in kept for i in range(len(score))]


def adaptive_keep(mean_reward: float, thresholds: Sequence[float], keeps: Sequence[int]) -> int:
    """k for a group of this mean reward: keeps[i] for the first threshold it reaches, else keeps[-1]."""
    if len(keeps) != len(thresholds) + 1:
        raise ValueError(f"{len(keeps)} k values for {len(thresholds)} thresholds; need one more")
    for threshold, k in zip(thresholds, keeps, strict=False):
        if mean_reward >= threshold:
            return k
    return keeps[-1]


def group_advantages(
    rewards: Sequence[float], lengths: Sequence[int], *, keep: int, metric: str, eps: float = 1e-4
) -> tuple[list[float], list[bool]]:
    """(advantages, kept) of one group: (R - mean_kept) / (std_kept + eps) on kept rows, 0 elsewhere.

    std_kept is the unbiased std of the kept rewards, as TRL's group std; one kept rollout has std 0
    and advantage 0.
    """
    kept = keep_mask(rewards, lengths, keep, metric)
    values = [r for r, k in zip(rewards, kept, strict=True) if k]
    if not values:
        return [], []
    centre = mean(values)
    spread = stdev(values) if len(values) > 1 else 0.0
    return [(r - centre) / (spread + eps) if k else 0.0 for r, k in zip(rewards, kept, strict=True)], kept


def advantages(
    rewards: Sequence[float],
    lengths: Sequence[int],
    group_size: int,
    *,
    keep: int,
    metric: str,
    adaptive_thresholds: Sequence[float] | None = None,
    adaptive_keeps: Sequence[int] | None = None,
    eps: float = 1e-4,
) -> tuple[list[float], list[bool]]:
    """`group_advantages` over a batch of consecutive-row groups; with `adaptive_thresholds` (and
    `adaptive_keeps`) each group's k comes from its mean reward instead of `keep`."""

    def one_group(group_rewards: list[float], group_lengths: list[int]) -> list[tuple[float, bool]]:
        k = keep
        if adaptive_thresholds is not None:
            k = adaptive_keep(mean(group_rewards), adaptive_thresholds, adaptive_keeps or ())
        values, kept = group_advantages(group_rewards, group_lengths, keep=k, metric=metric, eps=eps)
        return list(zip(values, kept, strict=True))

    rows = per_group(group_size, one_group, rewards, lengths)
    return [a for a, _ in rows], [k for _, k in rows]
