"""DLER recipe: truncation-aware reward, group-mean baseline, token-level whitening over the batch.

The reward r = c * (1 if finished else coef) is a TRL reward function; `after_rewards` keeps the
gathered combined rewards (every process's rows); `after_scoring` gathers every process's token
counts, computes lenbench.methods.dler's advantages (r - group mean, whitened over all tokens of the
batch) and keeps this process's slice. Dynamic sampling, as far as TRL allows: TRL cannot draw more
prompts to refill a batch, so groups whose rewards are all equal are left out of the whitening and
masked out of the loss (the batch shrinks instead of being refilled). The length cap is
trainer.max_completion_length; clip-higher is trainer.epsilon=0.2 trainer.epsilon_high=0.28.
"""

from __future__ import annotations

import torch

from lenbench.methods import dler
from lenbench.train.distributed import local_slice
from lenbench.train.recipes import GRPORecipe
from lenbench.train.rollouts import RolloutReward, eos_token_ids
from lenbench.train.row_filter import combined_rewards, drop_from_loss


class DLERReward(RolloutReward):
    """TRL reward function of `method=dler`."""

    __name__ = "dler"

    def score(self, rollouts, columns, log_metric):
        log_metric("dler/truncated_frac", 1.0 - sum(rollouts.finished) / max(len(rollouts.finished), 1))
        return dler.rewards(rollouts.correct, rollouts.finished, coef=self.method.coef)


def dler_rewards(run, grader) -> list:
    """`method=dler`: the one truncation-aware reward."""
    return [DLERReward(run.method, grader, run.trainer.num_generations, eos_token_ids(run))]


def batch_advantages(rewards: list[float], lengths: list[int], group_size: int, *, dynamic_sampling: bool,
                     eps: float) -> tuple[torch.Tensor, list[bool]]:
    """(advantage per row, kept per row) of the whole batch; with dynamic sampling the groups of equal
    rewards get 0 and are not kept, the others are whitened among themselves."""
    informative = dler.informative_groups(rewards, group_size) if dynamic_sampling else None
    kept = [True] * len(rewards) if informative is None else [g for g in informative for _ in range(group_size)]
    rows = [i for i, k in enumerate(kept) if k]
    values = torch.zeros(len(rewards), dtype=torch.float64)
    if rows:
        values[rows] = dler.advantages([rewards[i] for i in rows], [lengths[i] for i in rows], group_size, eps=eps)
    return values, kept


class DLERHooks:
    """Engine hooks of `method=dler`."""

    def __init__(self, method):
        self.method = method
        self.rewards: torch.Tensor | None = None

    def after_rewards(self, trainer, rewards_per_func, inputs, completion_ids):
        self.rewards = combined_rewards(trainer, rewards_per_func)
        return rewards_per_func

    def after_scoring(self, trainer, batch, inputs):
        local = batch["advantages"]
        lengths = trainer.accelerator.gather(batch["completion_mask"].sum(dim=1)).tolist()
        values, kept = batch_advantages(self.rewards.tolist(), lengths, trainer.num_generations,
                                        dynamic_sampling=self.method.dynamic_sampling, eps=self.method.eps)
        mine = local_slice(trainer, local.shape[0])
        batch["advantages"] = values[mine].to(local.dtype).to(local.device)
        if self.method.dynamic_sampling:
            batch = drop_from_loss(trainer, batch, torch.tensor(kept[mine]))
        trainer.log_hook_metric("dler/kept_frac", sum(kept) / max(len(kept), 1))
        return batch


class DLERRecipe(GRPORecipe):
    """GRPO with the DLER reward and DLER's advantages."""

    def hooks(self, tokenizer):
        return DLERHooks(self.run.method)
