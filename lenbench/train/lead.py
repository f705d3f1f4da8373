"""LEAD recipe: correctness + efficiency rewards, PSI weights from the same batch, optional token whitening.

TRL does the decoupled normalization itself (`multi_objective_aggregation="normalize_then_sum"`:
each reward normalized per group, summed with `reward_weights`, whitened per sequence). LEAD
plugs in through the engine's hooks: `after_rewards` computes the PSI weights from the batch's
raw rewards and assigns them to `trainer.reward_weights` before TRL combines that very batch;
`after_scoring` re-whitens token-weighted when `whiten=token`. The maths is in lenbench.methods.lead.

Several processes: TRL gathers the rewards, so the PSI weights come from the whole batch, grouped as
TRL groups it (num_generations consecutive rows); token whitening gathers the advantages and lengths
of every process and keeps this process's slice. L* needs no gathering: a process's rows are whole
groups (each process generates prompts_per_step * num_generations rollouts).

Group normalization and whitening use TRL's eps of 1e-4 (TRL hard-codes it in
`_generate_and_score_completions`); the reference uses 1e-6. It matters only for groups whose rewards
differ by less than about 1e-3. Not a setting: changing it would mean copying TRL's aggregation.
"""

from __future__ import annotations

import statistics

import torch

from lenbench.grading import Grader, grade_all
from lenbench.methods.groups import prompt_groups, rollout_groups
from lenbench.methods.lead import (
    LEADMethodConfig,
    PSITargets,
    PSIWeights,
    efficiency_reward,
    psi_targets,
    target_length,
    token_whiten,
)
from lenbench.train.distributed import local_slice
from lenbench.train.recipes import GRPORecipe
from lenbench.train.rewards import correctness_reward_func


class EfficiencyReward:
    """TRL reward function: r_eff of each rollout against its group's L* from this batch."""

    def __init__(self, method: LEADMethodConfig, grader: str | Grader, group_size: int):
        self.__name__ = "lead_efficiency"
        self.method, self.grader, self.group_size = method, grader, group_size

    def __call__(self, prompts, completions, completion_ids, answer, problem_id, log_metric=None, unit=None,
                 alternatives=None, **_):
        m = self.method
        correct = grade_all(completions, answer, self.grader, unit, alternatives)
        lengths = [len(ids) for ids in completion_ids]
        rewards = [0.0] * len(completions)
        targets, unsolved, groups = [], 0, prompt_groups(problem_id, self.group_size)
        for rows in groups:
            group_correct = [correct[i] for i in rows]
            target = target_length([lengths[i] for i in rows], group_correct, m.aggregator, m.length_min,
                                   m.length_max, m.unsolved)
            unsolved += not any(group_correct)
            if target is not None:
                targets.append(target)
            for i in rows:
                rewards[i] = efficiency_reward(lengths[i], target, correct[i], m.efficiency_mode)
        if log_metric is not None:
            log_metric("lead/unsolved_frac", unsolved / len(groups))
            if targets:
                log_metric("lead/mean_target_length", statistics.mean(targets))
        return rewards


class PSIHooks:
    """Engine hooks: PSI weights for each batch, token whitening; the EMA travels with checkpoints."""

    def __init__(self, method: LEADMethodConfig):
        self.method = method
        self.weights = PSIWeights()

    def after_rewards(self, trainer, rewards_per_func, inputs, completion_ids):
        m = self.method
        if m.weights == "static":
            w_c, w_e = m.static_w_c, 1.0 - m.static_w_c
        else:
            targets = self.batch_targets(rewards_per_func, trainer.num_generations)
            self.weights.update(targets, m.ema_lambda)
            w_c, w_e = self.weights.used(m.w_min)
            for name, value in vars(targets).items():
                trainer.log_hook_metric(f"lead/{name}", value)
            trainer.log_hook_metric("lead/ema_c", self.weights.ema_c)
        trainer.log_hook_metric("lead/w_c", w_c)
        trainer.log_hook_metric("lead/w_e", w_e)
        trainer.reward_weights = torch.tensor([w_c, w_e], dtype=torch.float32)
        return rewards_per_func

    def batch_targets(self, rewards_per_func: torch.Tensor, group_size: int) -> PSITargets:
        """PSI targets from the raw (correctness, efficiency) rewards of the whole (gathered) batch, in
        groups of `group_size` consecutive rows; efficiency of correct rollouts only."""
        correctness, efficiency = rewards_per_func[:, 0].tolist(), rewards_per_func[:, 1].tolist()
        groups = rollout_groups(len(correctness), group_size)
        return psi_targets(
            [[correctness[i] for i in rows] for rows in groups],
            [[efficiency[i] for i in rows if correctness[i] > 0] for rows in groups],
            self.method.sharpness, self.method.eps,
        )

    def after_scoring(self, trainer, batch, inputs):
        if self.method.whiten == "token":  # over the tokens of every process's rollouts, as TRL whitens
            local = batch["advantages"]
            advantages = trainer.accelerator.gather(local)
            lengths = trainer.accelerator.gather(batch["completion_mask"].sum(dim=1))
            batch["advantages"] = token_whiten(advantages, lengths)[local_slice(trainer, local.shape[0])]
        return batch

    def state_dict(self) -> dict:
        return {"ema_c": self.weights.ema_c, "ema_e": self.weights.ema_e}

    def load_state_dict(self, state: dict) -> None:
        self.weights = PSIWeights(float(state["ema_c"]), float(state["ema_e"]))


def lead_rewards(run, grader: str | Grader) -> list:
    """LEAD's two rewards, in the order PSIHooks weights them: correctness, then efficiency."""
    return [correctness_reward_func(grader), EfficiencyReward(run.method, grader, run.trainer.num_generations)]


class LEADRecipe(GRPORecipe):
    """LEAD: one GRPO run with two rewards normalized apart and combined by PSI weights."""

    aggregation = "normalize_then_sum"

    def hooks(self, tokenizer):
        return PSIHooks(self.run.method)
