"""Evaluation metrics, one definition each (see shared/docs/methods.md, "Metrics").

Pure functions over plain sequences (percentiles: numpy's linear interpolation); pandas-free so
methods and tests can use them directly.
"""

from __future__ import annotations

from collections.abc import Sequence
from statistics import mean, median

import numpy as np


def pass_at_1(correct_by_problem: Sequence[Sequence[bool]]) -> float:
    """avg@k: mean over problems of the mean correctness of that problem's k samples."""
    if not correct_by_problem:
        raise ValueError("pass_at_1 needs at least one problem")
    return mean(mean(float(c) for c in samples) for samples in correct_by_problem)


def token_stats(lengths: Sequence[int], truncated: Sequence[bool]) -> dict[str, float]:
    """Mean, median and p90 completion tokens (EOS included), and the truncation rate."""
    if not lengths:
        raise ValueError("token_stats needs at least one completion")
    return {
        "tokens_mean": float(mean(lengths)),
        "tokens_median": float(median(lengths)),
        "tokens_p90": float(np.percentile(lengths, 90, method="linear")),
        "truncation_rate": float(mean(float(t) for t in truncated)),
    }


def oracle_ratio(lengths: Sequence[int], oracle_lengths: Sequence[int]) -> float:
    """Mean over samples of tokens / the minimal correct trace length of the same problem."""
    if len(lengths) != len(oracle_lengths) or not lengths:
        raise ValueError("oracle_ratio needs equally long, non-empty sequences")
    return float(mean(length / oracle for length, oracle in zip(lengths, oracle_lengths, strict=True)))


def token_reduction(tokens: float, tokens_base: float) -> float:
    """1 - tokens / tokens_base, on the same problems and settings."""
    return 1.0 - tokens / tokens_base


def aes(
    tokens: float,
    accuracy: float,
    tokens_base: float,
    accuracy_base: float,
    a: float = 1.0,
    b: float = 3.0,
    g: float = 5.0,
) -> float:
    """Accuracy-efficiency score (O1-Pruner form); NaN when the base accuracy or length is 0 (undefined)."""
    if accuracy_base == 0 or tokens_base == 0:
        return float("nan")
    d_len = (tokens_base - tokens) / tokens_base
    d_acc = (accuracy - accuracy_base) / accuracy_base
    return a * d_len + b * abs(d_acc) if d_acc >= 0 else a * d_len - g * abs(d_acc)
