"""ShorterBetter as a TRL reward: r = alpha * c - beta * |L - SOL|, SOL from each group's own rollouts.

The maths is lenbench.methods.shorterbetter (SOL: the shortest correct length, or the group's mean
length when none is correct). The reward replaces the correctness reward.
"""

from __future__ import annotations

from lenbench.methods import shorterbetter
from lenbench.train.rollouts import RolloutReward, eos_token_ids


class ShorterBetterReward(RolloutReward):
    """TRL reward function of `method=shorterbetter`."""

    __name__ = "shorterbetter"

    def score(self, rollouts, columns, log_metric):
        m = self.method
        return self.per_group(
            lambda lengths, correct: shorterbetter.rewards(lengths, correct, alpha=m.alpha, beta=m.beta),
            rollouts.lengths, rollouts.correct,
        )


def shorterbetter_rewards(run, grader) -> list:
    """`method=shorterbetter`: the one combined reward."""
    return [ShorterBetterReward(run.method, grader, run.trainer.num_generations, eos_token_ids(run))]
