"""Reflection analysis: how often completions verify or correct themselves, by method and difficulty.

A segment counts when a keyword occurs as a whole word. Testbed markers: `check` opens a
verification, `fix` a self-correction. Real models: words such as "wait", "alternatively", "check"
(`--keywords`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import pandas as pd

TESTBED_KEYWORDS = ("check", "fix")


def keyword_counts(completions: pd.Series, keywords: Sequence[str]) -> pd.DataFrame:
    """Occurrences of each keyword (whole word, case-insensitive) in each completion."""
    return pd.DataFrame({
        keyword: completions.fillna("").str.count(rf"(?i)\b{re.escape(keyword)}\b") for keyword in keywords
    }, index=completions.index)


def reflection_table(samples: pd.DataFrame, keywords: Sequence[str] = TESTBED_KEYWORDS) -> pd.DataFrame:
    """Mean keyword count per sampled completion: one row per config, columns `<keyword>/k<difficulty>`.

    `samples` has columns config, difficulty, decoding, completion (eval/samples.csv plus the config).
    """
    sampled = samples[samples["decoding"] == "sample"]
    if sampled.empty:
        return pd.DataFrame()
    counts = keyword_counts(sampled["completion"], keywords)
    counts[["config", "difficulty"]] = sampled[["config", "difficulty"]]
    wide = counts.groupby(["config", "difficulty"])[list(keywords)].mean().unstack("difficulty")
    wide.columns = [f"{keyword}/k{level}" for keyword, level in wide.columns]
    return wide


def load_samples(runs: pd.DataFrame, configs: pd.Series) -> tuple[pd.DataFrame, list[str]]:
    """Every run's eval/samples.csv artifact with the run's config label; and the runs that had none."""
    import tempfile

    from lenbench.tracking import download_artifact

    frames, missing = [], []
    with tempfile.TemporaryDirectory() as scratch:
        for index, row in runs.iterrows():
            path = download_artifact(row["tags.store"], row["run_id"], "eval/samples.csv", f"{scratch}/{row['run_id']}")
            if path is None:
                missing.append(f"run {row['run_id']} ({configs[index]}): no eval/samples.csv, left out of the "
                               "reflection table")
                continue
            frame = pd.read_csv(path)
            frame["config"] = configs[index]
            frames.append(frame)
    columns = ["config", "difficulty", "decoding", "completion", "reason"]
    return (pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)), missing
