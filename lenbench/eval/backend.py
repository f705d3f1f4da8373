"""The generation backend protocol: what every evaluation backend takes and returns.

A backend turns prompts into `num_samples` completions each, in prompt order, under one
`Sampling`. Completion tokens include the EOS token; a completion that never emits EOS is
truncated and counts as `max_new_tokens` long, whatever the backend.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class Sampling:
    """How completions are decoded."""

    num_samples: int
    """Completions per prompt."""
    do_sample: bool
    """Sample (True) or decode greedily (False: temperature and top_p unused)."""
    temperature: float
    top_p: float
    max_new_tokens: int
    """Longest completion, EOS included."""


@dataclass
class Completion:
    text: str
    tokens: int
    """Generated tokens, EOS included (`max_new_tokens` when truncated)."""
    truncated: bool
    """True when the completion hit `max_new_tokens` without emitting EOS."""
    ids: tuple[int, ...] = field(default=(), compare=False, repr=False)
    """The generated token ids, EOS included (the thinking/answer split counts them)."""


class Backend(Protocol):
    def generate(self, prompts: list[str], sampling: Sampling, desc: str) -> list[list[Completion]]:
        """`sampling.num_samples` completions for each prompt, in prompt order; `desc` labels progress."""
        ...
