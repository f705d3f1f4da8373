"""Kimi k1.5 length penalty as a TRL reward: R = c + weight * r_len per group, after a warm-up.

The maths is lenbench.methods.kimi; lengths are tokens and lo/hi are each group's own. During the
warm-up (global step < method.warmup_steps) the reward is correctness alone.
"""

from __future__ import annotations

from lenbench.methods import kimi
from lenbench.train.rollouts import RolloutReward, eos_token_ids


class KimiReward(RolloutReward):
    """TRL reward function of `method=kimi`."""

    __name__ = "kimi"

    def score(self, rollouts, columns, log_metric):
        m = self.method
        log_metric("kimi/length_active", float(kimi.length_active(rollouts.step, m.warmup_steps)))
        return self.per_group(
            lambda lengths, correct: kimi.rewards(lengths, correct, weight=m.weight, step=rollouts.step,
                                                  warmup_steps=m.warmup_steps),
            rollouts.lengths, rollouts.correct,
        )


def kimi_rewards(run, grader) -> list:
    """`method=kimi`: the one combined reward."""
    return [KimiReward(run.method, grader, run.trainer.num_generations, eos_token_ids(run))]
