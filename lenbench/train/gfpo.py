"""GFPO recipe: sample G rollouts per prompt, train on the k best; the reward stays correctness.

The engine's `after_rewards` hook keeps this process's combined rewards; `after_scoring` replaces
TRL's advantages with lenbench.methods.gfpo's: (R - mean_kept) / (std_kept + eps) on the k kept
rollouts of each group (shortest, or best reward per token; k fixed or by the group's mean reward),
0 on the others, which `filtered: mask` also removes from the loss. A process's rows are whole
groups, so nothing is gathered. k must not exceed trainer.num_generations (checked before compute).
"""

from __future__ import annotations

import torch

from lenbench.errors import ConfigError
from lenbench.methods import gfpo
from lenbench.train.distributed import local_slice
from lenbench.train.recipes import GRPORecipe
from lenbench.train.row_filter import combined_rewards, drop_from_loss


class GFPOHooks:
    """Engine hooks of `method=gfpo`."""

    def __init__(self, method):
        self.method = method
        self.rewards: torch.Tensor | None = None

    def after_rewards(self, trainer, rewards_per_func, inputs, completion_ids):
        self.rewards = combined_rewards(trainer, rewards_per_func)[local_slice(trainer, len(inputs))]
        return rewards_per_func

    def after_scoring(self, trainer, batch, inputs):
        m, mask = self.method, batch["completion_mask"]
        lengths = mask.sum(dim=1).tolist()
        if self.rewards is None or self.rewards.shape[0] != len(lengths):
            raise RuntimeError(f"GFPO: {len(lengths)} rollouts scored but rewards kept for "
                               f"{None if self.rewards is None else self.rewards.shape[0]}")
        values, kept = gfpo.advantages(
            self.rewards.tolist(), lengths, trainer.num_generations, keep=m.keep, metric=m.metric,
            adaptive_thresholds=m.adaptive_thresholds if m.adaptive else None,
            adaptive_keeps=m.adaptive_keep if m.adaptive else None, eps=m.eps,
        )
        advantages = batch["advantages"]
        batch["advantages"] = torch.tensor(values, dtype=advantages.dtype, device=advantages.device)
        keep = torch.tensor(kept, dtype=torch.bool)
        if m.filtered == "mask":
            batch = drop_from_loss(trainer, batch, keep)
        trainer.log_hook_metric("gfpo/kept_frac", keep.float().mean().item())
        kept_lengths = [n for n, k in zip(lengths, kept, strict=True) if k]
        trainer.log_hook_metric("gfpo/kept_length_mean", sum(kept_lengths) / max(len(kept_lengths), 1))
        return batch


class GFPORecipe(GRPORecipe):
    """GRPO with the correctness reward (its registry entry) and GFPO's filtered advantages."""

    def check_inputs(self) -> None:
        m, group = self.run.method, self.run.trainer.num_generations
        for field, ks in (("method.keep", [m.keep]), ("method.adaptive_keep", m.adaptive_keep if m.adaptive else [])):
            if any(k > group for k in ks):
                raise ConfigError(f"{field}={ks if len(ks) > 1 else ks[0]} keeps more rollouts than a group has "
                                  f"(trainer.num_generations={group}); allowed: 1..{group}")

    def hooks(self, tokenizer):
        return GFPOHooks(self.run.method)
