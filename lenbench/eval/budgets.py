"""Budget metrics of an evaluation (shared/docs/methods.md, "Budget metrics"), from its graded samples.

No new generation: the budget curve (accuracy when a completion longer than B counts as wrong) and
its normalized area, the mean tokens of correct and of wrong completions, and, for a model with a
think-close marker, thinking and answer tokens per completion. Sampled completions only, like
pass@1; lenbench.budget_metrics does the maths.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from lenbench.budget_metrics import budget_area, budget_curve, think_split, tokens_by_outcome
from lenbench.errors import ConfigError
from lenbench.eval.backend import Completion

CURVE_PREFIX = "budget/acc_at_"
"""Summary key of the accuracy at budget B: `budget/acc_at_<B>` (MLflow `eval/budget/acc_at_<B>`)."""


def marker_ids(tokenizer, marker: str) -> list[int]:
    """The tokenizer's ids of the think-close marker, as think_split matches them."""
    ids = list(tokenizer(marker, add_special_tokens=False)["input_ids"])
    if not ids:
        raise ConfigError(f"model.think_close={marker!r} encodes to no tokens of the policy's tokenizer; "
                          "allowed: the model's think-close marker, or null")
    return ids


def think_counts(completion: Completion, marker: Sequence[int]) -> dict[str, int | bool]:
    """thinking_tokens, answer_tokens (split after the last marker, marker counted as thinking) and
    think_closed of one completion; an unclosed one is all thinking."""
    if completion.tokens and not completion.ids:
        raise ValueError("the backend returned no token ids: the thinking/answer split needs them")
    split = think_split(completion.ids, marker)
    thinking, answer = split or (len(completion.ids), 0)
    return {"thinking_tokens": thinking, "answer_tokens": answer, "think_closed": split is not None}


def budget_summary(samples: pd.DataFrame, budgets: Sequence[int], curve: bool = True) -> dict[str, float]:
    """budget_auc (and with `curve` each budget's accuracy), tokens_correct, tokens_wrong (NaN when
    there are none of a kind) and, when the samples have them, thinking_tokens, answer_tokens and
    think_closed_rate, over the sampled completions of `samples` (lenbench.eval.grade rows)."""
    sampled = samples[samples.decoding == "sample"]
    groups = [group for _, group in sampled.groupby("problem_id", sort=False)]
    points = budget_curve([g.correct.tolist() for g in groups], [g.tokens.tolist() for g in groups], budgets)
    summary = {f"{CURVE_PREFIX}{budget}": accuracy for budget, accuracy in points} if curve else {}
    summary["budget_auc"] = budget_area(points)
    summary.update(tokens_by_outcome(sampled.tokens.tolist(), sampled.correct.tolist()))
    if "thinking_tokens" in sampled:
        summary["thinking_tokens"] = float(sampled.thinking_tokens.mean())
        summary["answer_tokens"] = float(sampled.answer_tokens.mean())
        summary["think_closed_rate"] = float(sampled.think_closed.astype(float).mean())
    return summary
