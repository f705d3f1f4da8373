"""Accuracy under token budgets in the report: each configuration's budget curve (the runs'
`eval/budget/acc_at_<B>`, mean over seeds) as a table and as a plot beside the Pareto plot.

Runs recorded before the budget metrics existed have none: their configurations get no curve.
"""

from __future__ import annotations

import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from lenbench.report.styles import config_colors, method_marker  # noqa: E402

CURVE = re.compile(r"^metrics\.eval/budget/acc_at_(\d+)$")
"""The runs' column of the accuracy at budget B."""


def budget_curves(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per configuration with budget metrics (column `config` of the runs), one column per
    budget B (ascending): the mean accuracy over seeds at B; NaN at a budget not on its grid."""
    columns = {int(match.group(1)): column for column in runs.columns if (match := CURVE.match(column))}
    if not columns:
        return pd.DataFrame()
    budgets = sorted(columns)
    curves = runs.groupby("config", sort=False)[[columns[b] for b in budgets]].mean()
    curves.columns = pd.Index(budgets, name="budget")
    return curves.dropna(how="all")


def budget_plot(curves: pd.DataFrame, table: pd.DataFrame, path: Path) -> Path | None:
    """Accuracy vs token budget, one line per configuration (its method's marker, the comparison
    table's colors, base dashed), the budget AUC in the legend; None when no run has a curve."""
    if curves.empty:
        return None
    rows = table.set_index("config")
    colors = config_colors(rows.index)
    fig, ax = plt.subplots(figsize=(12, 5.5))
    for config, curve in curves.iterrows():
        points = curve.dropna()
        method = rows.at[config, "method"]
        auc = rows.at[config, "budget_auc"] if "budget_auc" in rows else float("nan")
        ax.plot(points.index, points.to_numpy(), marker=method_marker(method), color=colors[config],
                linestyle="--" if method == "base" else "-", label=f"{config} (AUC {auc:.3f})")
    ax.set_xlabel("token budget B (a completion longer than B counts as wrong)")
    ax.set_ylabel("pass@1 within budget")
    ax.set_title("Accuracy under token budgets (mean over seeds)")
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0))
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
