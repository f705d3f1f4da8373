"""The GRPO engine: TRL's GRPOTrainer, configured from lenbench's TrainerConfig.

`LenbenchGRPOTrainer` is where methods plug in. It only wraps `super()` calls:
`_calculate_rewards` (a method may rewrite the batch's per-function rewards or reassign
`self.reward_weights` from that same batch) and `_generate_and_score_completions` (a method may
replace the advantages, e.g. with token-level ones). With no hooks it is GRPOTrainer unchanged.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any, Protocol

import torch
from trl import GRPOConfig, GRPOTrainer

from lenbench.config import TrainerConfig


class MethodHooks(Protocol):
    """Optional per-method hooks into the trainer; implement either or both."""

    def after_rewards(self, trainer: GRPOTrainer, rewards_per_func: torch.Tensor, inputs: list[dict],
                      completion_ids: list[list[int]]) -> torch.Tensor: ...

    def after_scoring(self, trainer: GRPOTrainer, batch: dict[str, Any], inputs: list[dict]) -> dict[str, Any]: ...


class LenbenchGRPOTrainer(GRPOTrainer):
    """GRPOTrainer with method hooks around reward calculation and advantage computation."""

    def __init__(self, *args, hooks: MethodHooks | None = None, **kwargs):
        self.hooks = hooks
        super().__init__(*args, **kwargs)

    def _calculate_rewards(self, inputs, prompts, completions, completion_ids_list):
        rewards = super()._calculate_rewards(inputs, prompts, completions, completion_ids_list)
        if self.hooks is not None and hasattr(self.hooks, "after_rewards"):
            rewards = self.hooks.after_rewards(self, rewards, inputs, completion_ids_list)
        return rewards

    def _generate_and_score_completions(self, inputs):
        batch = super()._generate_and_score_completions(inputs)
        if self.hooks is not None and hasattr(self.hooks, "after_scoring"):
            batch = self.hooks.after_scoring(self, batch, inputs)
        return batch


def grpo_args(cfg: TrainerConfig, output_dir: Path, seed: int) -> GRPOConfig:
    """TRL GRPOConfig from lenbench's trainer settings."""
    return GRPOConfig(
        output_dir=str(output_dir),
        max_steps=cfg.max_steps,
        learning_rate=cfg.learning_rate,
        lr_scheduler_type=cfg.lr_scheduler_type,
        warmup_steps=cfg.warmup_steps,
        per_device_train_batch_size=cfg.prompts_per_step * cfg.num_generations,
        num_generations=cfg.num_generations,
        max_completion_length=cfg.max_completion_length,
        temperature=cfg.temperature,
        top_p=cfg.top_p,
        beta=cfg.beta,
        loss_type=cfg.loss_type,
        epsilon=cfg.epsilon,
        epsilon_high=cfg.epsilon_high,
        scale_rewards=cfg.scale_rewards,
        num_iterations=cfg.num_iterations,
        max_grad_norm=cfg.max_grad_norm,
        weight_decay=cfg.weight_decay,
        bf16=cfg.bf16,
        gradient_checkpointing=cfg.gradient_checkpointing,
        logging_steps=cfg.logging_steps,
        save_strategy="steps" if cfg.save_steps else "no",
        save_steps=cfg.save_steps or 500,
        report_to="none",
        seed=seed,
        data_seed=seed,
        use_cpu=not torch.cuda.is_available(),
        log_completions=False,
    )


def build_trainer(
    run,
    model,
    tokenizer,
    train_dataset,
    reward_funcs,
    output_dir: Path,
    *,
    max_steps: int | None = None,
    callbacks=(),
    hooks: MethodHooks | None = None,
):
    """A GRPO trainer for one training stage of a run (max_steps defaults to trainer.max_steps)."""
    trainer_cfg = run.trainer if max_steps is None else replace(run.trainer, max_steps=max_steps)
    return LenbenchGRPOTrainer(
        model=model,
        reward_funcs=list(reward_funcs),
        args=grpo_args(trainer_cfg, output_dir, run.seed),
        train_dataset=train_dataset,
        processing_class=tokenizer,
        callbacks=list(callbacks),
        hooks=hooks,
    )
