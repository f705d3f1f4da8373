"""DAPO soft overlong punishment as a TRL reward: R = c + weight * r_len, r_len computed by TRL.

`trl.rewards.get_soft_overlong_punishment(L_max, L_c)` is called on the rollouts' token ids (it reads
their lengths, EOS included), with L_max = trainer.max_completion_length and L_c = method.cache;
lenbench.methods.dapo_overlong adds the correctness term. The recipe refuses L_c > L_max before any
compute.
"""

from __future__ import annotations

from trl.rewards import get_soft_overlong_punishment

from lenbench.grading import Grader, grade_all
from lenbench.methods import dapo_overlong
from lenbench.train.recipes import GRPORecipe


class OverlongReward:
    """TRL reward function of `method=dapo_overlong`."""

    __name__ = "dapo_overlong"

    def __init__(self, method, grader: str | Grader, max_length: int):
        method.check_max_length(max_length)
        self.method, self.grader = method, grader
        self.penalty = get_soft_overlong_punishment(max_length, method.cache)

    def __call__(self, prompts, completions, completion_ids, answer, unit=None, alternatives=None, **_):
        correct = grade_all(completions, answer, self.grader, unit, alternatives)
        return dapo_overlong.rewards(correct, self.penalty(completion_ids), weight=self.method.weight)


def overlong_rewards(run, grader) -> list:
    """`method=dapo_overlong`: the one combined reward."""
    return [OverlongReward(run.method, grader, run.trainer.max_completion_length)]


class DAPOOverlongRecipe(GRPORecipe):
    """GRPO with the overlong reward; method.cache checked against trainer.max_completion_length."""

    def check_inputs(self) -> None:
        self.run.method.check_max_length(self.run.trainer.max_completion_length)
