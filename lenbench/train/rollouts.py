"""What the length-control rewards read off a batch of TRL rollouts: correctness, length, finished.

TRL calls a reward function with this process's rows only; a process's rows are whole groups (each
process generates prompts_per_step * num_generations rollouts, num_generations consecutive rows per
prompt), so a per-group reward needs no gathering. TRL cuts a completion after its first EOS, so a
rollout finished iff its last token is an EOS token; L counts the EOS. The step a reward is computed
at is `trainer_state.global_step` (0-based: the optimizer steps already taken).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from lenbench.grading import Grader, grade_all
from lenbench.methods.groups import per_group


@dataclass(frozen=True)
class Rollouts:
    """Columns of the rows a reward function was given."""

    correct: list[bool]
    lengths: list[int]
    """Completion tokens, EOS included."""
    finished: list[bool]
    """Ended with an EOS token (False: cut at the generation limit)."""
    step: int
    """0-based global step the rollouts were generated at."""


def eos_token_ids(run) -> frozenset[int]:
    """The policy tokenizer's EOS id(s), read without loading the model."""
    from lenbench.models import policy_tokenizer

    eos = policy_tokenizer(run).eos_token_id
    if eos is None:
        return frozenset()
    return frozenset(eos if isinstance(eos, list) else [eos])


def finished(ids: Sequence[int], eos_ids: frozenset[int]) -> bool:
    """Whether one completion's token ids end with EOS."""
    return bool(ids) and ids[-1] in eos_ids


class RolloutReward:
    """Base of a TRL reward function over (correct, length, finished); subclasses implement `score`.

    `per_group(fn, *columns)` applies a function to each group of `group_size` consecutive rows.
    """

    __name__ = "rollout_reward"

    def __init__(self, method, grader: str | Grader, group_size: int, eos_ids: frozenset[int]):
        self.method, self.grader, self.group_size, self.eos_ids = method, grader, group_size, eos_ids

    def __call__(self, prompts, completions, completion_ids, answer, unit=None, alternatives=None,
                 trainer_state=None, log_metric=None, **columns) -> list[float]:
        rollouts = Rollouts(
            correct=grade_all(completions, answer, self.grader, unit, alternatives),
            lengths=[len(ids) for ids in completion_ids],
            finished=[finished(ids, self.eos_ids) for ids in completion_ids],
            step=trainer_state.global_step if trainer_state is not None else 0,
        )
        return list(self.score(rollouts, columns, log_metric or (lambda name, value: None)))

    def score(self, rollouts: Rollouts, columns: dict, log_metric: Callable[[str, float], None]) -> list[float]:
        raise NotImplementedError

    def per_group(self, fn: Callable[..., Sequence[float]], *columns: Sequence) -> list[float]:
        return per_group(self.group_size, fn, *columns)
