# %% [markdown]
# # Lengths by difficulty
#
# LAPO's claim is that a trained model allocates tokens by problem complexity. Per difficulty level,
# accuracy and tokens of each configuration, and tokens relative to the testbed's oracle length.

# %%
import os
from pathlib import Path

from lenbench.report.plots import difficulty_plot
from lenbench.report.runs import load_runs
from lenbench.report.tables import compare

uri = os.environ.get("LENBENCH_URI", "sqlite:///mlflow.db")
out = Path(os.environ.get("LENBENCH_ANALYSIS_OUT", "analysis_out"))
out.mkdir(parents=True, exist_ok=True)
result = compare(load_runs(uri))

# %%
tokens = result.by_difficulty[[c for c in result.by_difficulty.columns if c.endswith("/tokens_mean")]]
accuracy = result.by_difficulty[[c for c in result.by_difficulty.columns if c.endswith("/accuracy")]]
print(tokens.round(1).to_string())
print(accuracy.round(3).to_string())

# %% [markdown]
# Tokens per level as a multiple of the base model's: below 1 where a method compresses.

# %%
base = tokens.loc["base"]
print((tokens / base).round(2).to_string())
difficulty_plot(result.by_difficulty, out / "by_difficulty.png")
