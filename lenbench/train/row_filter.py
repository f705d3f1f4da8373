"""What the advantage-replacing baselines (gfpo, dler) share: the batch's combined rewards, rows out of the loss.

`combined_rewards` is TRL's sum_then_normalize combination (each reward function times its weight,
NaN-summed) of the gathered rewards `_calculate_rewards` returns, every process's rows in process
order. `drop_from_loss` zeroes rows of the completion mask (as TRL's mask_truncated_completions
does) and recounts `num_items_in_batch`, the loss-token count TRL's dapo loss divides by, over
every process.
"""

from __future__ import annotations

import torch


def combined_rewards(trainer, rewards_per_func: torch.Tensor) -> torch.Tensor:
    """(rows,) rewards of a gathered (rows, reward functions) batch, weighted as TRL sums them."""
    weights = trainer.reward_weights.to(rewards_per_func.device, rewards_per_func.dtype)
    return (rewards_per_func * weights.unsqueeze(0)).nansum(dim=1)


def drop_from_loss(trainer, batch: dict, keep: torch.Tensor) -> dict:
    """The batch with the rows where `keep` (local rows, bool) is False masked out of the loss."""
    mask = batch["completion_mask"] * keep.to(batch["completion_mask"].device).unsqueeze(1).to(
        batch["completion_mask"].dtype)
    batch["completion_mask"] = mask
    loss_mask = mask if batch.get("tool_mask") is None else mask * batch["tool_mask"]
    batch["num_items_in_batch"] = trainer.accelerator.gather(loss_mask.sum()).sum()
    return batch
