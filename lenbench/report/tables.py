"""Comparison tables from a frame of runs (one row per run, MLflow's `search_runs` columns).

A configuration is a method with its `method.*` settings (and dataset and eval set); its seeds are
aggregated as mean and a 95% t confidence interval. Each configuration is compared with the `base`
configuration evaluated on the same eval set (same `eval_hash` tag): runs on an eval set without a
base run are excluded, and the exclusion is reported, never silently mixed.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from scipy import stats

from lenbench.errors import ConfigError
from lenbench.metrics import aes, token_reduction

ACCURACY, TOKENS = "metrics.eval/accuracy", "metrics.eval/tokens_mean"
REQUIRED = (ACCURACY, TOKENS, "tags.method", "tags.eval_hash", "tags.seed")


def config_labels(runs: pd.DataFrame) -> pd.Series:
    """`method[knob=value,...]` naming the method settings that vary among that method's runs."""
    labels = pd.Series(runs["tags.method"], index=runs.index, dtype=object)
    for method, rows in runs.groupby("tags.method"):
        knobs = [c for c in rows.columns if c.startswith("params.method.") and c != "params.method.name"
                 and rows[c].nunique(dropna=True) > 1]
        for index, row in rows.iterrows():
            parts = [f"{c.removeprefix('params.method.')}={row[c]}" for c in sorted(knobs)]
            labels[index] = f"{method}[{','.join(parts)}]" if parts else method
    return labels


def mean_ci(values: pd.Series) -> tuple[float, float]:
    """(mean, half-width of the 95% t interval); half-width NaN for a single value."""
    values = values.dropna()
    if len(values) < 2:
        return float(values.mean()), float("nan")
    half = stats.t.ppf(0.975, len(values) - 1) * values.std(ddof=1) / len(values) ** 0.5
    return float(values.mean()), float(half)


def pareto_optimal(accuracy: pd.Series, tokens: pd.Series) -> pd.Series:
    """True where no other point has accuracy >= and tokens <= with one of them strict."""
    flags = []
    for i in accuracy.index:
        dominated = ((accuracy >= accuracy[i]) & (tokens <= tokens[i])
                     & ((accuracy > accuracy[i]) | (tokens < tokens[i]))).any()
        flags.append(not dominated)
    return pd.Series(flags, index=accuracy.index)


@dataclass
class Comparison:
    table: pd.DataFrame
    """One row per configuration: means, CIs, seeds, change vs base, AES, Pareto flag."""
    by_difficulty: pd.DataFrame
    """Accuracy and tokens per difficulty level, mean over seeds, one row per configuration."""
    excluded: list[str]
    """Why runs were left out (no base on their eval set, missing metrics)."""
    runs: pd.DataFrame
    """The runs compared, with their `config` label."""


def compare(runs: pd.DataFrame, aes_a: float = 1.0, aes_b: float = 3.0, aes_g: float = 5.0) -> Comparison:
    missing = [c for c in REQUIRED if c not in runs.columns]
    if missing:
        raise ConfigError(f"the runs have no {', '.join(missing)}: are they lenbench runs with an eval?")
    excluded = []
    incomplete = runs[runs[ACCURACY].isna() | runs[TOKENS].isna()]
    for _, row in incomplete.iterrows():
        excluded.append(f"run {row.get('run_id', '?')} ({row['tags.method']}): no eval/accuracy or eval/tokens_mean")
    runs = runs.drop(incomplete.index).copy()
    runs["config"] = config_labels(runs)
    order = runs.sort_values("start_time").index if "start_time" in runs else runs.index
    repeated = runs.loc[order].duplicated(["tags.eval_hash", "config", "tags.seed"], keep="last")
    for index in repeated[repeated].index:
        excluded.append(f"run {runs.loc[index].get('run_id', '?')} ({runs.loc[index, 'config']}, seed "
                        f"{runs.loc[index, 'tags.seed']}): an earlier run of a configuration and seed run again; "
                        "the latest counts")
    runs = runs.drop(repeated[repeated].index)
    with_base = set(runs.loc[runs["tags.method"] == "base", "tags.eval_hash"])
    if not with_base:
        raise ConfigError("no `base` run among the selected runs: token reduction and accuracy change are "
                          "measured against method=base on the same eval set; run it first")
    for eval_hash, rows in runs[~runs["tags.eval_hash"].isin(with_base)].groupby("tags.eval_hash"):
        excluded.append(f"{len(rows)} runs on eval set {eval_hash} ({', '.join(sorted(set(rows['config'])))}): "
                        "no base run on that eval set")
    runs = runs[runs["tags.eval_hash"].isin(with_base)]

    rows = []
    for (eval_hash, config), group in runs.groupby(["tags.eval_hash", "config"], sort=False):
        accuracy, accuracy_ci = mean_ci(group[ACCURACY])
        tokens, tokens_ci = mean_ci(group[TOKENS])
        row = {"config": config, "method": group["tags.method"].iloc[0], "eval_hash": eval_hash,
               "seeds": len(group), "accuracy": accuracy, "accuracy_ci95": accuracy_ci,
               "tokens": tokens, "tokens_ci95": tokens_ci}
        if "metrics.eval/oracle_ratio" in group:
            row["oracle_ratio"] = group["metrics.eval/oracle_ratio"].mean()
        rows.append(row)
    table = pd.DataFrame(rows)
    for _, group in table.groupby("eval_hash"):
        base = group[group["method"] == "base"].iloc[0]
        for index, row in group.iterrows():
            table.loc[index, "token_reduction"] = token_reduction(row["tokens"], base["tokens"])
            table.loc[index, "accuracy_change_pts"] = 100 * (row["accuracy"] - base["accuracy"])
            table.loc[index, "aes"] = aes(row["tokens"], row["accuracy"], base["tokens"], base["accuracy"],
                                          aes_a, aes_b, aes_g)
        table.loc[group.index, "pareto"] = pareto_optimal(group["accuracy"], group["tokens"])
    return Comparison(table, _by_difficulty(runs), excluded, runs)


def reason_counts(samples: pd.DataFrame) -> pd.DataFrame:
    """Completions per grading reason (lenbench.grading.REASONS: correct, no_answer, parse_error,
    timeout, mismatch), one row per config and decoding, from the runs' eval/samples.csv (columns
    config, decoding, reason). Runs recorded before verdicts had reasons have none: left out."""
    from lenbench.grading import REASONS

    if "reason" not in samples or samples["reason"].isna().all():
        return pd.DataFrame()
    known = samples.dropna(subset=["reason"])
    counts = known.groupby(["config", "decoding"])["reason"].value_counts().unstack("reason", fill_value=0)
    counts = counts.reindex(columns=[r for r in REASONS if r in counts.columns] or list(REASONS), fill_value=0)
    counts["completions"] = counts.sum(axis=1)
    return counts


def _by_difficulty(runs: pd.DataFrame) -> pd.DataFrame:
    columns = sorted(c for c in runs.columns if c.startswith("metrics.eval/k")
                     and c.endswith(("/accuracy", "/tokens_mean")))
    if not columns:
        return pd.DataFrame()
    table = runs.groupby("config", sort=False)[columns].mean()
    table.columns = [c.removeprefix("metrics.eval/") for c in columns]
    return table
