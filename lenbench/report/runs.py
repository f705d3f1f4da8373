"""Read finished lenbench runs from an MLflow store into one pandas frame."""

from __future__ import annotations

import pandas as pd

from lenbench.errors import ConfigError


def load_runs(uris: str | list[str], experiment: str = "lenbench", methods: list[str] | None = None,
              dataset: str | None = None, sweep: str | None = None) -> pd.DataFrame:
    """FINISHED runs of `experiment` in one or more stores, optionally only some methods, one dataset,
    one sweep (tag `sweep`; `base` runs are kept whatever their sweep, they are the reference).

    A clear error when a store has no such experiment or nothing matches.
    """
    uris = [uris] if isinstance(uris, str) else list(uris)
    runs = pd.concat([_finished_runs(uri, experiment) for uri in uris], ignore_index=True)
    if methods:
        runs = runs[runs["tags.method"].isin(methods)]
    if dataset:
        runs = runs[runs["tags.dataset"] == dataset]
    if sweep:
        tagged = runs["tags.sweep"] if "tags.sweep" in runs else pd.Series(None, index=runs.index)
        runs = runs[(tagged == sweep) | (runs["tags.method"] == "base")]
        if not (tagged == sweep).any():
            raise ConfigError(f"no finished runs tagged sweep={sweep!r} in experiment {experiment!r} of "
                              f"{', '.join(uris)}")
    if runs.empty:
        raise ConfigError(
            f"no finished runs match methods={methods or 'any'} dataset={dataset or 'any'} in experiment "
            f"{experiment!r} of {', '.join(uris)}"
        )
    return runs.reset_index(drop=True)


def _finished_runs(uri: str, experiment: str) -> pd.DataFrame:
    import mlflow

    mlflow.set_tracking_uri(uri)
    if mlflow.get_experiment_by_name(experiment) is None:
        raise ConfigError(f"no MLflow experiment {experiment!r} in the store {uri}")
    runs = mlflow.search_runs(experiment_names=[experiment], filter_string="attributes.status = 'FINISHED'")
    if runs.empty:
        raise ConfigError(f"no finished runs in experiment {experiment!r} of the store {uri}")
    runs["tags.store"] = uri
    return runs
