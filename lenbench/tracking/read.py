"""Reading runs back from MLflow stores, and logging a report as a run of its own (lenbench.report)."""

from __future__ import annotations

from pathlib import Path

import mlflow
import pandas as pd
from mlflow.exceptions import MlflowException

from lenbench.errors import ConfigError
from lenbench.store_lock import sqlite_path
from lenbench.tracking.store import local_store_dir, use_experiment

FINISHED, NOT_FINISHED = "attributes.status = 'FINISHED'", "attributes.status != 'FINISHED'"


def check_existing_store(uri: str) -> None:
    """ConfigError unless a local store to be read exists: reading one that does not would create it
    empty (a sqlite file, a file store's folder) and then report that it holds nothing."""
    database = sqlite_path(uri)
    if database is not None and not database.is_file():
        raise ConfigError(f"no MLflow store at {uri} (file {database} does not exist)")
    folder = local_store_dir(uri) if database is None else None
    if folder is not None and not folder.is_dir():
        raise ConfigError(f"no MLflow store at {uri} (folder {folder} does not exist)")


def has_experiment(uri: str, experiment: str) -> bool:
    """Whether the existing store `uri` has an experiment of that name (makes `uri` the current store)."""
    check_existing_store(uri)
    mlflow.set_tracking_uri(uri)
    return mlflow.get_experiment_by_name(experiment) is not None


def run_table(uri: str, experiment: str, finished: bool = True) -> pd.DataFrame:
    """The FINISHED runs of `experiment` in `uri` (finished=False: all the others), one row each with
    `run_id`, `status`, `params.*`, `metrics.*` and `tags.*` columns (makes `uri` the current store)."""
    mlflow.set_tracking_uri(uri)
    return mlflow.search_runs(experiment_names=[experiment], filter_string=FINISHED if finished else NOT_FINISHED)


def metric_history(uri: str, run_id: str, key: str) -> list[tuple[int, float]]:
    """Every (step, value) a run logged for the metric `key`; empty if it logged none."""
    history = mlflow.MlflowClient(tracking_uri=uri).get_metric_history(run_id, key)
    return [(point.step, point.value) for point in history]


def download_artifact(uri: str, run_id: str, path: str, folder: str) -> str | None:
    """A run's artifact `path` downloaded into `folder`; its local path, or None if the run has none."""
    mlflow.set_tracking_uri(uri)
    try:
        return mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path=path, dst_path=folder)
    except (MlflowException, OSError):
        return None


def log_folder_run(uri: str, experiment: str, run_name: str, tags: dict[str, str], folder: Path) -> str:
    """A FINISHED run of `experiment` (a model-training experiment) with every file of `folder` as an
    artifact; returns its id."""
    mlflow.set_tracking_uri(uri)
    use_experiment(experiment)
    with mlflow.start_run(run_name=run_name, tags=tags) as run:
        mlflow.log_artifacts(str(folder))
    return run.info.run_id
