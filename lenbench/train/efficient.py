"""Arora & Zanette's efficient-reasoning reward as a TRL reward, per group.

A correct rollout that finished (ended with EOS) gets 1 - alpha * sigmoid((L - mu) / (sigma + eps)),
mu and sigma over the group's correct finished rollouts; every other rollout 0. The maths is
lenbench.methods.efficient.
"""

from __future__ import annotations

from lenbench.methods import efficient
from lenbench.train.rollouts import RolloutReward, eos_token_ids


class EfficientReward(RolloutReward):
    """TRL reward function of `method=efficient`."""

    __name__ = "efficient"

    def score(self, rollouts, columns, log_metric):
        m = self.method
        return self.per_group(
            lambda lengths, correct, done: efficient.rewards(lengths, correct, done, alpha=m.alpha, eps=m.eps),
            rollouts.lengths, rollouts.correct, rollouts.finished,
        )


def efficient_rewards(run, grader) -> list:
    """`method=efficient`: the one reward."""
    return [EfficientReward(run.method, grader, run.trainer.num_generations, eos_token_ids(run))]
