"""L1 / LCPO (arXiv 2503.04697): the prompt asks for N tokens; the reward holds the model to it.

N is drawn uniformly from [n_lo, n_hi] at each visit of a prompt (all rollouts of one visit share
it). `exact`: r = c - alpha * |N - L|; `max`: r = c * clip(alpha * (N - L) + delta, 0, 1). A rollout
without an answer is graded wrong (c = 0) by the grader. Controllability at evaluation: per
requested N, accuracy and the mean deviation |N - L|. Pure functions; no TRL, no I/O.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from statistics import mean

from lenbench.errors import ConfigError, check_choice, check_range
from lenbench.methods.baselines import MethodConfig

MODES = ("exact", "max")


@dataclass
class L1MethodConfig(MethodConfig):
    """`method=l1`: length-controlled prompts ("Think for N tokens.") and a reward for meeting N.

    Defaults are the testbed's (completions of 10-160 tokens); the reference's values are given per
    field.
    """

    name: str = "l1"
    mode: str = "exact"
    """`exact` (L1-Exact: hit N) or `max` (L1-Max: stay under N)."""
    n_lo: int = 10
    """Smallest N drawn for a training prompt, tokens (reference 100; testbed 10, the oracle of k=1)."""
    n_hi: int = 120
    """Largest N drawn, tokens (reference 4000; testbed 120, below the 160-token cap)."""
    alpha: float = 0.0075
    """Reward per token of deviation (reference 0.0003; testbed 0.0075, the reference scaled by
    the ratio of the N ranges, 4000 / 160 = 25)."""
    delta: float = 0.5
    """`max` mode: the reward of a correct rollout with L = N, in [0, 1] (reference 0.5)."""
    exact_instruction: str = "Think for {n} tokens."
    """Sentence appended to the prompt in `exact` mode; {n} is replaced by N."""
    max_instruction: str = "Think for maximum {n} tokens."
    """Sentence appended to the prompt in `max` mode; {n} is replaced by N."""
    eval_budgets: list[int] = field(default_factory=lambda: [20, 40, 80, 120])
    """Budgets N evaluated for controllability (reference 512, 1024, 2048, 3600; testbed 20, 40, 80, 120)."""

    def validate(self) -> None:
        check_choice("method.mode", self.mode, MODES)
        check_range("method.n_lo", self.n_lo, low=1)
        check_range("method.n_hi", self.n_hi, low=self.n_lo)
        check_range("method.alpha", self.alpha, low=0.0)
        check_range("method.delta", self.delta, low=0.0, high=1.0)
        for name in ("exact_instruction", "max_instruction"):
            text = getattr(self, name)
            if "{n}" not in text:
                raise ConfigError(f"method.{name}={text!r} must contain {{n}}, where N goes")
            try:
                text.format(n=1)
            except (KeyError, IndexError, ValueError, AttributeError) as error:
                raise ConfigError(f"method.{name}={text!r} cannot be filled in ({type(error).__name__}: {error}); "
                                  "allowed: text with {n} where N goes, and literal braces doubled ({{ }})") from None
        if not self.eval_budgets:
            raise ConfigError("method.eval_budgets must list at least one budget")
        for i, budget in enumerate(self.eval_budgets):
            check_range(f"method.eval_budgets[{i}]", budget, low=1)

    def instruction(self, n: int) -> str:
        """The sentence of this mode for budget N."""
        return (self.exact_instruction if self.mode == "exact" else self.max_instruction).format(n=n)


def sample_budget(rng: random.Random, n_lo: int, n_hi: int) -> int:
    """N uniform over the integers n_lo..n_hi (both included)."""
    if not 1 <= n_lo <= n_hi:
        raise ValueError(f"budget range must satisfy 1 <= n_lo <= n_hi, got [{n_lo}, {n_hi}]")
    return rng.randint(n_lo, n_hi)


def visit_budget(seed: int, prompt_id: str, visit: int, n_lo: int, n_hi: int) -> int:
    """N of one visit of a prompt, the same in every process: an rng seeded by (seed, prompt, visit).

    A string seed goes through SHA-512 in `random.Random`, so it does not depend on PYTHONHASHSEED.
    """
    return sample_budget(random.Random(f"l1:{seed}:{prompt_id}:{visit}"), n_lo, n_hi)


def budget_prompt(prompt: str, instruction: str, before: str | None = None) -> str:
    """The prompt with the instruction appended (after a space), or inserted before `before`
    (e.g. the think marker that ends a raw-text prompt) when the prompt ends with it."""
    if before and prompt.endswith(before):
        head = prompt[: len(prompt) - len(before)].rstrip()
        return f"{head} {instruction} {before}"
    return f"{prompt.rstrip()} {instruction}"


def exact_reward(length: int, budget: int, correct: bool, alpha: float) -> float:
    """r = c - alpha * |N - L|."""
    return float(correct) - alpha * abs(budget - length)


def max_reward(length: int, budget: int, correct: bool, alpha: float, delta: float) -> float:
    """r = c * clip(alpha * (N - L) + delta, 0, 1)."""
    return float(correct) * min(max(alpha * (budget - length) + delta, 0.0), 1.0)


def rewards(
    lengths: Sequence[int],
    budgets: Sequence[int],
    correct: Sequence[bool],
    *,
    mode: str,
    alpha: float,
    delta: float = 0.5,
) -> list[float]:
    """The L1 reward of each rollout against the N its prompt asked for."""
    if mode not in MODES:
        raise ValueError(f"unknown L1 mode {mode!r}; allowed: {', '.join(MODES)}")
    rows = zip(lengths, budgets, correct, strict=True)
    if mode == "exact":
        return [exact_reward(n, b, c, alpha) for n, b, c in rows]
    return [max_reward(n, b, c, alpha, delta) for n, b, c in rows]


def controllability(
    budgets: Sequence[int], lengths: Sequence[int], correct: Sequence[bool]
) -> dict[int, dict[str, float]]:
    """Per requested budget N (ascending): accuracy, mean |N - L| (`deviation`, lower = more
    controllable) and the fraction of samples longer than N (`over_budget`, what `max` mode bounds).

    Accuracy is the mean correctness of the samples asked for N (pass@1 when each problem has the
    same number of samples at that budget).
    """
    by_budget: dict[int, list[tuple[int, bool]]] = defaultdict(list)
    for budget, length, c in zip(budgets, lengths, correct, strict=True):
        by_budget[budget].append((length, bool(c)))
    return {
        budget: {
            "accuracy": mean(float(c) for _, c in samples),
            "deviation": float(mean(abs(budget - n) for n, _ in samples)),
            "over_budget": mean(float(n > budget) for n, _ in samples),
        }
        for budget, samples in sorted(by_budget.items())
    }
