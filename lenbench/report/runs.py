"""Read finished lenbench runs from an MLflow store into one pandas frame; say what was left out."""

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
    from lenbench.tracking import has_experiment, run_table

    if not has_experiment(uri, experiment):
        raise ConfigError(f"no MLflow experiment {experiment!r} in the store {uri}")
    runs = run_table(uri, experiment)
    if runs.empty:
        others = unfinished_runs(uri, experiment)
        raise ConfigError(f"no finished runs in experiment {experiment!r} of the store {uri}"
                          + (f"; {others}" if others else ""))
    runs["tags.store"] = uri
    return runs


def unfinished_runs(uri: str, experiment: str = "lenbench") -> str | None:
    """What the report leaves out of a store for not being FINISHED, with the why of each RUNNING run
    (in progress, or its process is gone: `python -m lenbench.runs cleanup` ends it); None if nothing."""
    from lenbench.tracking import run_table, running_runs

    others = run_table(uri, experiment, finished=False)
    if others.empty:
        return None
    counts = others["status"].value_counts()
    parts = [f"{counts[status]} {status}" for status in sorted(counts.index) if status != "RUNNING"]
    running = running_runs(uri, experiment)
    dead = [run for run in running if run.dead]
    if dead:
        parts.append(f"{len(dead)} RUNNING whose process is gone ({'; '.join(f'{r.run_id}: {r.dead}' for r in dead)}; "
                     f"`python -m lenbench.runs cleanup --uri {uri}` ends them KILLED)")
    if len(running) > len(dead):
        parts.append(f"{len(running) - len(dead)} RUNNING, in progress or of unknown state "
                     f"({', '.join(r.run_id for r in running if not r.dead)})")
    return f"{len(others)} runs of experiment {experiment!r} in {uri} are not FINISHED, left out: {', '.join(parts)}"
