"""Comparison tables from a frame of runs (one row per run, MLflow's `search_runs` columns).

A configuration is every resolved setting of a run (its `params.*`) but the seed, the tracking
fields and the cache directory (`NOT_SETTINGS`), plus its eval set (`eval_hash` tag); a method that
does not train (`base`) is not told apart by trainer settings. Its seeds are aggregated as mean and
a 95% t confidence interval. Each configuration is compared with the `base` configuration of the
same model, dataset and eval settings (`BASE_SETTINGS`) on the same eval set: runs without such a
base are excluded, and the exclusion is reported with the settings that differ, never silently mixed.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from scipy import stats

from lenbench.errors import ConfigError
from lenbench.metrics import aes, token_reduction
from lenbench.registry import METHODS

ACCURACY, TOKENS = "metrics.eval/accuracy", "metrics.eval/tokens_mean"
REQUIRED = (ACCURACY, TOKENS, "tags.method", "tags.eval_hash", "tags.seed")
NOT_SETTINGS = ("params.seed", "params.tracking.", "params.model.cache_dir")
"""Params that do not make a configuration: the seed, where the run is recorded, where files are cached."""
BASE_SETTINGS = ("params.model.", "params.dataset.", "params.eval.")
"""What a configuration shares with its base: the model, the data and the evaluation (not trainer, method)."""
LABEL_ORDER = ("params.model.", "params.dataset.", "params.eval.", "params.trainer.", "params.")
"""Which settings a label names first when it takes more than the method knobs to tell configurations apart."""
BUDGET_AUC = "metrics.eval/budget_auc"
BY_OUTCOME = {"tokens_correct": "metrics.eval/tokens_correct", "tokens_wrong": "metrics.eval/tokens_wrong"}
"""Budget metrics (methods.md, "Budget metrics"): empty for runs recorded before them."""
THINKING = {"thinking_tokens": "metrics.eval/thinking_tokens", "answer_tokens": "metrics.eval/answer_tokens"}
"""Columns only when some run has them (models with a think-close marker)."""


def settings(runs: pd.DataFrame, method: str) -> list[str]:
    """The params columns that make a configuration of `method` (sorted)."""
    trains = METHODS[method].trains if method in METHODS else True
    return sorted(c for c in runs.columns if c.startswith("params.") and not c.startswith(NOT_SETTINGS)
                  and (trains or not c.startswith("params.trainer.")))


def _joined(runs: pd.DataFrame, columns: list[str]) -> pd.Series:
    return runs[columns].map(str).agg("\x1f".join, axis=1) if columns else pd.Series("", index=runs.index)


def config_keys(runs: pd.DataFrame) -> pd.Series:
    """One string per run, equal for the runs of one configuration (its seeds)."""
    keys = pd.Series("", index=runs.index, dtype=object)
    for method, rows in runs.groupby("tags.method"):
        keys[rows.index] = _joined(rows, ["tags.method", "tags.eval_hash", *settings(rows, method)])
    return keys


def base_keys(runs: pd.DataFrame) -> pd.Series:
    """One string per run, equal for the runs that share a base: eval set, model, dataset, eval settings."""
    columns = [c for c in runs.columns if c.startswith(BASE_SETTINGS) and not c.startswith(NOT_SETTINGS)]
    return _joined(runs, ["tags.eval_hash", *sorted(columns)])


def config_labels(runs: pd.DataFrame) -> pd.Series:
    """`method[knob=value,...]` naming the method settings that vary among that method's runs, then as
    few other settings (`model.hidden_size=32`) as it takes to give each configuration its own label."""
    keys = config_keys(runs)
    labels = pd.Series(runs["tags.method"], index=runs.index, dtype=object)
    for method, rows in runs.groupby("tags.method"):
        knobs = [c for c in rows.columns if c.startswith("params.method.") and c != "params.method.name"
                 and rows[c].nunique(dropna=True) > 1]
        shown = sorted(knobs)
        others = [c for c in settings(rows, method) if not c.startswith("params.method.")] + ["tags.eval_hash"]
        others.sort(key=lambda c: next(i for i, prefix in enumerate((*LABEL_ORDER, "")) if c.startswith(prefix)))
        for column in others:
            if (keys[rows.index].groupby(_joined(rows, shown)).nunique() <= 1).all():
                break  # every configuration of the method has its own label
            if (rows[column].map(str).groupby(_joined(rows, shown)).nunique() > 1).any():
                shown.append(column)
        for index, row in rows.iterrows():
            parts = [f"{_short(c)}={row[c]}" for c in shown]
            labels[index] = f"{method}[{','.join(parts)}]" if parts else method
    return labels


def _short(column: str) -> str:
    return column.removeprefix("params.method.").removeprefix("params.").removeprefix("tags.")


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
    runs["base_key"] = base_keys(runs)
    order = runs.sort_values("start_time").index if "start_time" in runs else runs.index
    repeated = runs.loc[order].duplicated(["tags.eval_hash", "config", "tags.seed"], keep="last")
    for index in repeated[repeated].index:
        excluded.append(f"run {runs.loc[index].get('run_id', '?')} ({runs.loc[index, 'config']}, seed "
                        f"{runs.loc[index, 'tags.seed']}): an earlier run of a configuration and seed run again; "
                        "the latest counts")
    runs = runs.drop(repeated[repeated].index)
    bases = runs[runs["tags.method"] == "base"]
    if bases.empty:
        raise ConfigError("no `base` run among the selected runs: token reduction and accuracy change are "
                          "measured against method=base on the same eval set; run it first")
    orphans = runs[~runs["base_key"].isin(set(bases["base_key"]))]
    for _, rows in orphans.groupby("base_key"):
        excluded.append(f"{len(rows)} runs of {', '.join(sorted(set(rows['config'])))} (eval set "
                        f"{rows['tags.eval_hash'].iloc[0]}): no base run with the same model, dataset and eval "
                        f"settings{_closest_base(rows.iloc[0], bases)}")
    runs = runs.drop(orphans.index)

    rows = []
    for config, group in runs.groupby("config", sort=False):
        accuracy, accuracy_ci = mean_ci(group[ACCURACY])
        tokens, tokens_ci = mean_ci(group[TOKENS])
        row = {"config": config, "method": group["tags.method"].iloc[0], "eval_hash": group["tags.eval_hash"].iloc[0],
               "base_key": group["base_key"].iloc[0], "seeds": len(group), "accuracy": accuracy,
               "accuracy_ci95": accuracy_ci, "tokens": tokens, "tokens_ci95": tokens_ci}
        if "metrics.eval/oracle_ratio" in group:
            row["oracle_ratio"] = group["metrics.eval/oracle_ratio"].mean()
        row["budget_auc"], row["budget_auc_ci95"] = mean_ci(group.get(BUDGET_AUC, pd.Series(dtype=float)))
        row.update({name: group.get(column, pd.Series(dtype=float)).mean() for name, column in BY_OUTCOME.items()})
        row.update({name: group[column].mean() for name, column in THINKING.items() if column in group})
        rows.append(row)
    table = pd.DataFrame(rows)
    for _, group in table.groupby("base_key", sort=False):
        base = group[group["method"] == "base"].iloc[0]
        table.loc[group.index, "base"] = base["config"]
        for index, row in group.iterrows():
            table.loc[index, "token_reduction"] = token_reduction(row["tokens"], base["tokens"])
            table.loc[index, "accuracy_change_pts"] = 100 * (row["accuracy"] - base["accuracy"])
            table.loc[index, "aes"] = aes(row["tokens"], row["accuracy"], base["tokens"], base["accuracy"],
                                          aes_a, aes_b, aes_g)
        table.loc[group.index, "pareto"] = pareto_optimal(group["accuracy"], group["tokens"])
    return Comparison(table.drop(columns="base_key"), _by_difficulty(runs), excluded, runs.drop(columns="base_key"))


def _closest_base(run: pd.Series, bases: pd.DataFrame, shown: int = 4) -> str:
    """` (closest base: config; it differs in a=1 (base 2), ...)` for a run that has no base."""
    columns = [c for c in bases.columns if c.startswith(BASE_SETTINGS) and not c.startswith(NOT_SETTINGS)]
    columns.append("tags.eval_hash")
    differs = {index: [c for c in columns if str(base[c]) != str(run.get(c))] for index, base in bases.iterrows()}
    index = min(differs, key=lambda i: len(differs[i]))
    parts = [f"{_short(c)}={run.get(c)} (base {bases.at[index, c]})" for c in differs[index][:shown]]
    more = f" and {len(differs[index]) - shown} more" if len(differs[index]) > shown else ""
    return f" (closest base: {bases.at[index, 'config']}; it differs in {', '.join(parts)}{more})"


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
