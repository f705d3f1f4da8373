"""DLER (NVIDIA): a hard length cap, a truncation-aware reward and batch-wide token whitening.

Reward r = c * (1 if finished else coef); advantage = r - group mean (no per-group std), then
whitened over all response tokens of the batch (each rollout weighs its token count). Groups whose
rewards are all equal carry no signal (dynamic sampling drops them). The cap is
trainer.max_completion_length and clip-higher is trainer.epsilon / epsilon_high. Pure functions;
no TRL, no I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from lenbench.errors import check_range
from lenbench.methods.baselines import MethodConfig
from lenbench.methods.groups import rollout_groups
from lenbench.methods.lead import token_whiten


@dataclass
class DLERMethodConfig(MethodConfig):
    """`method=dler`: truncated rollouts earn coef * c; group-mean baseline, token-level whitening.

    Defaults are the testbed's (completions of 10-160 tokens); the reference's values are given per
    field. The length cap is trainer.max_completion_length; DLER's clip-higher is
    trainer.epsilon=0.2 trainer.epsilon_high=0.28.
    """

    name: str = "dler"
    coef: float = 0.1
    """Reward factor of a correct rollout cut at the cap, in [0, 1] (0.1; the project page says 0;
    testbed 0.1)."""
    dynamic_sampling: bool = True
    """Leave out groups whose rewards are all equal (DAPO's dynamic sampling), where the engine can."""
    eps: float = 1e-8
    """Added to the token-weighted std in the whitening."""

    def validate(self) -> None:
        check_range("method.coef", self.coef, low=0.0, high=1.0)
        check_range("method.eps", self.eps, low=0.0, low_inclusive=False)


def rewards(correct: Sequence[bool], finished: Sequence[bool], *, coef: float) -> list[float]:
    """r = c * (1 if finished else coef) per rollout."""
    return [float(c) * (1.0 if f else coef) for c, f in zip(correct, finished, strict=True)]


def advantages(
    rewards: Sequence[float], lengths: Sequence[int], group_size: int, *, eps: float = 1e-8
) -> torch.Tensor:
    """(r - group mean), whitened over all tokens of the batch: one advantage per rollout.

    mean = sum(T_i A_i) / sum(T_i), var = sum(T_i (A_i - mean)^2) / (sum(T_i) - 1), T_i = the
    rollout's token count; A / (std + eps) after centring. All-equal rewards give all zeros.
    """
    if len(rewards) != len(lengths):
        raise ValueError(f"{len(rewards)} rewards for {len(lengths)} token counts")
    values = torch.tensor(list(rewards), dtype=torch.float64)
    if values.numel() == 0:
        return values
    groups = rollout_groups(values.numel(), group_size)
    centred = values.view(len(groups), group_size)
    centred = (centred - centred.mean(dim=1, keepdim=True)).view(-1)
    return token_whiten(centred, torch.tensor(list(lengths)), eps)


def informative_groups(rewards: Sequence[float], group_size: int) -> list[bool]:
    """Per group of consecutive rows: True unless all its rewards are equal (what dynamic sampling keeps)."""
    return [len({rewards[i] for i in rows}) > 1 for rows in rollout_groups(len(rewards), group_size)]
