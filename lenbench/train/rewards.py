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


def grpo_rewards(run, grader: str | Grader) -> list[Callable[..., list[float]]]:
    """`method=grpo`: the correctness reward, worth method.correct_reward."""
    return [correctness_reward_func(grader, run.method.correct_reward)]


def correctness_only(run, grader: str | Grader) -> list[Callable[..., list[float]]]:
    """The correctness reward alone, worth 1 (methods that shape advantages, not rewards: IAPO)."""
    return [correctness_reward_func(grader)]
