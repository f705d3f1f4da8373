"""Training dynamics: per-step curves (mean over a configuration's seeds) and their plot."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

CURVES = {
    "train/completions/mean_length": "completion length",
    "train/rewards/correctness/mean": "train accuracy (correctness reward)",
    "train/lead/w_c": "LEAD w_c (correctness weight used)",
    "train/lapo/plan_error": "LAPO |declared n - n(q)|",
}


def curves(runs: pd.DataFrame, configs: pd.Series, keys=tuple(CURVES)) -> pd.DataFrame:
    """Long table (config, metric, step, value): each metric's history averaged over the config's seeds."""
    from lenbench.tracking import metric_history

    rows = []
    for index, row in runs.iterrows():
        for key in keys:
            for step, value in metric_history(row["tags.store"], row["run_id"], key):
                rows.append({"config": configs[index], "metric": key, "step": step, "value": value})
    if not rows:
        return pd.DataFrame(columns=["config", "metric", "step", "value"])
    return pd.DataFrame(rows).groupby(["config", "metric", "step"], as_index=False)["value"].mean()


def dynamics_plot(table: pd.DataFrame, path: Path, window: int = 5) -> Path | None:
    """One panel per metric that any config logged, one line per config (rolling mean over `window` steps)."""
    metrics = [key for key in CURVES if key in set(table["metric"])]
    if not metrics:
        return None
    colors = {config: f"C{i % 10}" for i, config in enumerate(sorted(set(table["config"])))}
    fig, axes = plt.subplots(1, len(metrics), figsize=(4.5 * len(metrics), 4.8), squeeze=False)
    for ax, metric in zip(axes[0], metrics, strict=True):
        for config, group in table[table["metric"] == metric].groupby("config"):
            group = group.sort_values("step")
            ax.plot(group["step"], group["value"].rolling(window, min_periods=1).mean(), color=colors[config])
        ax.set(title=CURVES[metric], xlabel="step")
        ax.grid(alpha=0.3)
    handles = [plt.Line2D([], [], color=color) for color in colors.values()]
    fig.legend(handles, list(colors), loc="lower center", ncol=min(4, len(colors)), fontsize=7)
    fig.tight_layout(rect=(0, 0.06 * (1 + (len(colors) - 1) // 4), 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
