# %% [markdown]
# # Training dynamics
#
# Per-step curves averaged over seeds: completion length, train accuracy, LEAD's correctness weight
# and LAPO's plan error; then how often completions verify (`check`) or correct (`fix`) themselves.

# %%
import os
from pathlib import Path

from lenbench.report.dynamics import curves, dynamics_plot
from lenbench.report.reflection import load_samples, reflection_table
from lenbench.report.runs import load_runs
from lenbench.report.tables import compare

uri = os.environ.get("LENBENCH_URI", "sqlite:///mlflow.db")
out = Path(os.environ.get("LENBENCH_ANALYSIS_OUT", "analysis_out"))
out.mkdir(parents=True, exist_ok=True)
result = compare(load_runs(uri))
configs = result.runs["config"]

# %%
table = curves(result.runs, configs)
print(table.groupby(["config", "metric"])["value"].agg(["first", "last"]).round(3).to_string())
dynamics_plot(table, out / "dynamics.png")

# %%
samples, missing = load_samples(result.runs, configs)
print(reflection_table(samples).round(2).to_string())
