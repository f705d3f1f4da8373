"""Budget metrics, for every method (shared/docs/methods.md, "Budget metrics").

Accuracy at a token budget B (a sample longer than B counts as wrong), the budget curve over a grid
of B and its normalized area, length by outcome, and thinking vs answer tokens split at the
think-close marker. Pure functions over plain sequences, like lenbench.metrics.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from statistics import mean

from lenbench.metrics import pass_at_1


def accuracy_at_budget(
    correct_by_problem: Sequence[Sequence[bool]], lengths_by_problem: Sequence[Sequence[int]], budget: int
) -> float:
    """pass@1 (avg@k) when a sample with L > budget counts as wrong."""
    within = [
        [bool(c) and n <= budget for c, n in zip(correct, lengths, strict=True)]
        for correct, lengths in zip(correct_by_problem, lengths_by_problem, strict=True)
    ]
    return pass_at_1(within)


def budget_grid(max_length: int, points: int) -> list[int]:
    """`points` budgets evenly spread up to max_length: ceil(j * max_length / points), j = 1..points,
    duplicates dropped (when points > max_length); the last is max_length."""
    if max_length < 1 or points < 1:
        raise ValueError(f"budget_grid needs max_length >= 1 and points >= 1, got {max_length}, {points}")
    return sorted({math.ceil(j * max_length / points) for j in range(1, points + 1)})


def budget_curve(
    correct_by_problem: Sequence[Sequence[bool]],
    lengths_by_problem: Sequence[Sequence[int]],
    budgets: Sequence[int],
) -> list[tuple[int, float]]:
    """(B, accuracy at B) for each budget of the grid, in the grid's order."""
    return [(b, accuracy_at_budget(correct_by_problem, lengths_by_problem, b)) for b in budgets]


def budget_area(curve: Sequence[tuple[int, float]]) -> float:
    """Normalized area under the budget curve: the mean accuracy over the grid (in [0, 1])."""
    if not curve:
        raise ValueError("budget_area needs at least one budget")
    return mean(accuracy for _, accuracy in curve)


def tokens_by_outcome(lengths: Sequence[int], correct: Sequence[bool]) -> dict[str, float]:
    """Mean L of correct samples and of wrong samples (NaN when there are none of a kind)."""
    pairs = list(zip(lengths, correct, strict=True))
    right = [n for n, c in pairs if c]
    wrong = [n for n, c in pairs if not c]
    return {
        "tokens_correct": float(mean(right)) if right else float("nan"),
        "tokens_wrong": float(mean(wrong)) if wrong else float("nan"),
    }


def think_split(token_ids: Sequence[int], marker: Sequence[int]) -> tuple[int, int] | None:
    """(thinking, answer) token counts of one completion, split after the *last* think-close marker
    (the text grading reads is after it); the marker's own tokens count as thinking.

    None when the marker does not occur (thinking never closed: all tokens are thinking).
    """
    width = len(marker)
    if not width:
        raise ValueError("the think-close marker has no tokens")
    ids, marker = list(token_ids), list(marker)
    for start in range(len(ids) - width, -1, -1):
        if ids[start : start + width] == marker:
            return start + width, len(ids) - start - width
    return None


def thinking_stats(completions: Sequence[Sequence[int]], marker: Sequence[int]) -> dict[str, float]:
    """Mean thinking and answer tokens per completion and the fraction that closed their thinking.

    An unclosed completion counts all its tokens as thinking and 0 as answer.
    """
    if not completions:
        raise ValueError("thinking_stats needs at least one completion")
    splits = [think_split(ids, marker) for ids in completions]
    counts = [split or (len(ids), 0) for split, ids in zip(splits, completions, strict=True)]
    return {
        "thinking_tokens_mean": float(mean(t for t, _ in counts)),
        "answer_tokens_mean": float(mean(a for _, a in counts)),
        "think_closed_rate": float(mean(float(s is not None) for s in splits)),
    }
