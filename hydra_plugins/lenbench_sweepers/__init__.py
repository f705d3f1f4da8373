"""lenbench's Hydra sweepers (found by Hydra's plugin discovery in the `hydra_plugins` package).

- `hydra/sweeper=grid` (the default in conf/config.yaml): Hydra's basic grid sweeper, plus every
  job's config checked before any job is launched and an error for an empty `+sweep=` grid.
- `hydra/sweeper=optuna`: a multi-objective Optuna study (current Optuna) whose trials run through
  the configured launcher, in a persistent, resumable storage.
"""
