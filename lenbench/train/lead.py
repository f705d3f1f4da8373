"""LEAD recipe: correctness + efficiency rewards, PSI weights from the same batch, optional token whitening.

TRL does the decoupled normalization itself (`multi_objective_aggregation="normalize_then_sum"`:
each reward normalized per group, summed with `reward_weights`, whitened per sequence). LEAD
plugs in through the engine's hooks: `after_rewards` computes the PSI weights from the batch's
raw rewards and assigns them to `trainer.reward_weights` before TRL combines that very batch;
`after_scoring` re-whitens token-weighted when `whiten=token`. The maths is in lenbench.methods.lead.
"""

from __future__ import annotations

import statistics

import torch

from lenbench.grading import Grader, grade_all
from lenbench.methods.groups import group_indices
from lenbench.methods.lead import (
    LEADMethodConfig,
    PSITargets,
    PSIWeights,
    efficiency_reward,
    psi_targets,
    target_length,
    token_whiten,
)
from lenbench.train.recipes import GRPORecipe
from lenbench.train.rewards import correctness_reward_func


class EfficiencyReward:
    """TRL reward function: r_eff of each rollout against its prompt's L* from this batch."""

    def __init__(self, method: LEADMethodConfig, grader: str | Grader):
        self.__name__ = "lead_efficiency"
        self.method, self.grader = method, grader

    def __call__(self, prompts, completions, completion_ids, answer, problem_id, log_metric=None, unit=None,
                 alternatives=None, **_):
        m = self.method
        correct = grade_all(completions, answer, self.grader, unit, alternatives)
        lengths = [len(ids) for ids in completion_ids]
        rewards = [0.0] * len(completions)
        targets, unsolved, groups = [], 0, group_indices(problem_id)
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
            targets = self.batch_targets(rewards_per_func, [row["problem_id"] for row in inputs])
            self.weights.update(targets, m.ema_lambda)
            w_c, w_e = self.weights.used(m.w_min)
            for name, value in vars(targets).items():
                trainer.log_hook_metric(f"lead/{name}", value)
            trainer.log_hook_metric("lead/ema_c", self.weights.ema_c)
        trainer.log_hook_metric("lead/w_c", w_c)
        trainer.log_hook_metric("lead/w_e", w_e)
        trainer.reward_weights = torch.tensor([w_c, w_e], dtype=torch.float32)
        return rewards_per_func

    def batch_targets(self, rewards_per_func: torch.Tensor, prompt_ids) -> PSITargets:
        """PSI targets from the raw (correctness, efficiency) rewards; efficiency of correct rollouts only."""
        correctness, efficiency = rewards_per_func[:, 0].tolist(), rewards_per_func[:, 1].tolist()
        groups = group_indices(prompt_ids)
        return psi_targets(
            [[correctness[i] for i in rows] for rows in groups],
            [[efficiency[i] for i in rows if correctness[i] > 0] for rows in groups],
            self.method.sharpness, self.method.eps,
        )

    def after_scoring(self, trainer, batch, inputs):
        if self.method.whiten == "token":
            lengths = batch["completion_mask"].sum(dim=1)
            batch["advantages"] = token_whiten(batch["advantages"], lengths)
        return batch

    def state_dict(self) -> dict:
        return {"ema_c": self.weights.ema_c, "ema_e": self.weights.ema_e}

    def load_state_dict(self, state: dict) -> None:
        self.weights = PSIWeights(float(state["ema_c"]), float(state["ema_e"]))


class LEADRecipe(GRPORecipe):
    """LEAD: one GRPO run with two rewards normalized apart and combined by PSI weights."""

    aggregation = "normalize_then_sum"

    def reward_funcs(self) -> list:
        return [correctness_reward_func(self.data.grader), EfficiencyReward(self.run.method, self.data.grader)]

    def hooks(self, tokenizer):
        return PSIHooks(self.run.method)
