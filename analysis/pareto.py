# %% [markdown]
# # Accuracy vs tokens: the Pareto front
#
# Every configuration (method + knobs) in the store, seeds averaged, compared with `base` on the same
# eval set. Set `LENBENCH_URI` to read another store (default: `sqlite:///mlflow.db` here).
# Open as a notebook with `jupytext --to notebook analysis/pareto.py`, or run as a script.

# %%
import os
from pathlib import Path

from lenbench.report.plots import pareto_plot
from lenbench.report.runs import load_runs
from lenbench.report.tables import compare

uri = os.environ.get("LENBENCH_URI", "sqlite:///mlflow.db")
out = Path(os.environ.get("LENBENCH_ANALYSIS_OUT", "analysis_out"))
out.mkdir(parents=True, exist_ok=True)
result = compare(load_runs(uri))

# %% [markdown]
# Token reduction and accuracy change are against `base`; AES uses the O1-Pruner form (a=1, b=3, g=5).

# %%
table = result.table.drop(columns=["method", "eval_hash"]).set_index("config")
print(table.round(3).to_string())
print("Pareto-optimal:", ", ".join(table.index[table["pareto"].astype(bool)]))

# %%
pareto_plot(result.table, out / "pareto.png")
for reason in result.excluded:
    print("excluded:", reason)
