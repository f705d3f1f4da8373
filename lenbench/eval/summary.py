"""Headline metrics of a table of graded completions (lenbench.metrics applied per group)."""

from __future__ import annotations

import pandas as pd

from lenbench.metrics import oracle_ratio, pass_at_1, token_stats


def summarize(samples: pd.DataFrame) -> dict[str, float]:
    """Headline metrics of one group of completions (all problems, or one difficulty)."""
    sampled = samples[samples.decoding == "sample"]
    summary = {
        "accuracy": pass_at_1([group.correct.tolist() for _, group in sampled.groupby("problem_id", sort=False)]),
        **token_stats(sampled.tokens.tolist(), sampled.truncated.tolist()),
        "problems": float(sampled.problem_id.nunique()),
    }
    if sampled.oracle_length.notna().all():
        summary["oracle_ratio"] = oracle_ratio(sampled.tokens.tolist(), sampled.oracle_length.tolist())
    greedy = samples[samples.decoding == "greedy"]
    if len(greedy):
        summary["greedy_accuracy"] = float(greedy.correct.mean())
        summary["greedy_tokens_mean"] = float(greedy.tokens.mean())
    return summary
