"""Report figures: accuracy vs tokens with the Pareto front, and accuracy and tokens by difficulty."""

from __future__ import annotations

import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from lenbench.report.styles import config_colors, method_marker  # noqa: E402


def pareto_plot(table: pd.DataFrame, path: Path) -> Path:
    """Each configuration at (mean tokens, mean pass@1) with 95% CI bars, its method's marker (filled
    on the Pareto front, hollow off it); the Pareto front joined."""
    fig, ax = plt.subplots(figsize=(12, 5.5))
    colors = config_colors(table["config"])
    for _, row in table.iterrows():
        color = colors[row["config"]]
        ax.errorbar(row["tokens"], row["accuracy"], xerr=_bar(row["tokens_ci95"]), yerr=_bar(row["accuracy_ci95"]),
                    marker=method_marker(row["method"]), linestyle="none", color=color,
                    markerfacecolor=color if row["pareto"] else "none",
                    markersize=9, markeredgewidth=1.5, elinewidth=0.8, capsize=3, zorder=3,
                    label=f"{row['config']} (n={row['seeds']})")
    front = table[table["pareto"].astype(bool)].sort_values("tokens")
    ax.plot(front["tokens"], front["accuracy"], "k--", linewidth=1, label="Pareto front")
    ax.set_xlabel("mean completion tokens (eval)")
    ax.set_ylabel("pass@1 (avg@k)")
    ax.set_title("Accuracy vs tokens (mean over seeds, 95% CI; filled: Pareto-optimal)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0))  # outside: many configs
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def difficulty_plot(by_difficulty: pd.DataFrame, path: Path) -> Path:
    """Two panels, pass@1 and tokens by difficulty level, one line per configuration."""
    levels = sorted({int(m.group(1)) for c in by_difficulty.columns if (m := re.match(r"k(\d+)/", c))})
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.5))
    for config, row in by_difficulty.iterrows():
        left.plot(levels, [row[f"k{k}/accuracy"] for k in levels], marker="o", label=config)
        right.plot(levels, [row[f"k{k}/tokens_mean"] for k in levels], marker="o", label=config)
    left.set(xlabel="difficulty k", ylabel="pass@1", title="Accuracy by difficulty")
    right.set(xlabel="difficulty k", ylabel="mean tokens", title="Tokens by difficulty")
    for ax in (left, right):
        ax.grid(alpha=0.3)
    right.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def _bar(value) -> float | None:
    return None if pd.isna(value) else float(value)
