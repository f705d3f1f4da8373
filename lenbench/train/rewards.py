"""Adapters from lenbench's pure reward maths to TRL reward functions.

TRL calls a reward function with the batch's prompts, completions, completion token ids and
every dataset column (here `answer`, `difficulty`, `oracle_length`, ...) as keyword lists.
"""

from __future__ import annotations

from collections.abc import Callable

from lenbench.grading import Grader, grade_all
from lenbench.methods.baselines import correctness_rewards


def correctness_reward_func(grader: str | Grader, correct_reward: float = 1.0) -> Callable[..., list[float]]:
    """TRL reward function: correct_reward for a correct final answer, else 0."""

    def correctness(prompts, completions, answer, unit=None, alternatives=None, **_) -> list[float]:
        correct = grade_all(completions, answer, grader, unit, alternatives)
        return correctness_rewards(correct, correct_reward)

    return correctness


def reward_funcs_for(method, grader: str | Grader) -> list[Callable[..., list[float]]]:
    """The TRL reward functions of a training method."""
    if method.name == "grpo":
        return [correctness_reward_func(grader, method.correct_reward)]
    raise ValueError(f"method {method.name!r} has no reward functions (it does not train)")
