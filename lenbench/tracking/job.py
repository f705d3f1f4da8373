"""One MLflow run per job, with params, config, dataset inputs, eval metrics, artifacts and status.

A job's run ends FINISHED on success, FAILED on an exception, KILLED on Ctrl-C or SIGTERM
(what Slurm and submitit send on cancellation; a second signal right after the first waits,
lenbench.tracking.stop_signals); it is never left RUNNING. A job killed with no
chance to end its run (kill -9, a lost node) leaves it RUNNING with a stale heartbeat: the next job
on the store ends it KILLED (lenbench.tracking.liveness).
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
from mlflow.exceptions import MlflowException

from lenbench.config import TrackingConfig
from lenbench.errors import StoreFailed
from lenbench.process_group import is_main_process
from lenbench.store_lock import store_setup_lock
from lenbench.tracking.datasets import DataInput, log_inputs
from lenbench.tracking.liveness import end_dead_runs, heartbeat, liveness_tags
from lenbench.tracking.stop_signals import stop_signals_raise
from lenbench.tracking.store import check_experiment, use_experiment, use_server_limits

log = logging.getLogger(__name__)


def flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """{'a': {'b': 1}} -> {'a.b': 1}; lists and None become strings."""
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value if isinstance(value, (int, float, str, bool)) else str(value)
    return flat


@contextmanager
def tracked_run(
    cfg: TrackingConfig, run_name: str, params: dict[str, Any], tags: dict[str, str], resolved_yaml: str,
    inputs: Sequence[DataInput] = (),
) -> Iterator[mlflow.ActiveRun | None]:
    """Start an MLflow run, log params, config and dataset `inputs`, and end it with the right status.

    Only the main process of a multi-GPU launch records a run; the others train in lockstep under
    None and must not call MLflow (lenbench's own calls check `mlflow.active_run()`)."""
    if not is_main_process():
        yield None
        return
    use_server_limits(cfg)
    with store_setup_lock(cfg.uri):
        mlflow.set_tracking_uri(cfg.uri)
        check_experiment(cfg)
        use_experiment(cfg.experiment)
        # the runs of jobs killed with no chance to end them (kill -9, a lost node)
        for dead in end_dead_runs(cfg.uri, stale_after=cfg.stale_after_seconds)[0]:
            log.warning("ended %s KILLED: %s", dead.describe(), dead.dead)
        run = mlflow.start_run(run_name=run_name, tags={**tags, **liveness_tags()})
    with stop_signals_raise():  # until the run is ended: a second stop signal must not cut that short
        try:
            with heartbeat(cfg.uri, run.info.run_id, cfg.heartbeat_seconds):
                mlflow.log_params(flatten(params))
                mlflow.log_text(resolved_yaml, "config.yaml")
                log_inputs(inputs)
                yield run
        except KeyboardInterrupt:
            end_run(run, "KILLED")
            raise
        except MlflowException as error:  # the store itself failed (e.g. a tracking server that went away)
            end_run(run, "FAILED")
            raise StoreFailed(f"the MLflow store {cfg.uri} failed: {' '.join(str(error).split())[:400]}") from error
        except BaseException:
            end_run(run, "FAILED")
            raise
        end_run(run, "FINISHED")


def end_run(run: mlflow.ActiveRun, status: str) -> None:
    """End the active run with `status`; when the store cannot be reached, say so in one line and leave
    the run to the liveness check (the next job on the store, or `python -m lenbench.runs cleanup`,
    ends it KILLED)."""
    try:
        mlflow.end_run(status=status)
    except Exception as error:  # the store went away (a dead tracking server, a full disk)
        log.error("could not end MLflow run %s %s (%s): the next job on this store, or `python -m lenbench.runs "
                  "cleanup`, ends it KILLED", run.info.run_id, status, " ".join(str(error).split())[:200])


def log_table(frame: pd.DataFrame, artifact_path: str) -> None:
    """A DataFrame as a CSV artifact (name of the file = last part of artifact_path)."""
    folder, _, name = artifact_path.rpartition("/")
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / name
        frame.to_csv(path, index=False)
        mlflow.log_artifact(str(path), artifact_path=folder or None)


def log_eval(result) -> None:
    """Eval metrics (`eval/<name>`, per difficulty `eval/k<level>/<name>`), the generation's speed
    (`eval_generation/seconds`, `eval_generation/tokens_per_second`) and the eval tables."""
    mlflow.log_metrics({f"eval/{key}": value for key, value in result.summary.items()})
    mlflow.log_metrics({f"eval_generation/{key}": value for key, value in result.generation.items()})
    for row in result.by_difficulty.to_dict("records"):
        level = int(row.pop("difficulty"))
        mlflow.log_metrics({f"eval/k{level}/{key}": value for key, value in row.items()})
    log_table(result.samples, "eval/samples.csv")
    log_table(result.by_difficulty, "eval/by_difficulty.csv")


def set_tag(key: str, value: str) -> None:
    """A tag on the active run."""
    mlflow.set_tag(key, value)


def log_metrics(metrics: dict[str, float], step: int | None = None) -> None:
    """Metrics on the active run (at `step`, for curves)."""
    mlflow.log_metrics(metrics, step=step)


def log_artifact(path: str | Path, folder: str | None = None) -> None:
    """A file as an artifact of the active run, under `folder`; nothing outside a run (the other
    processes of a multi-GPU launch)."""
    if mlflow.active_run():
        mlflow.log_artifact(str(path), artifact_path=folder)


def log_policy(path: Path, step: int, copy_max_mb: float, name: str = "policy") -> str:
    """Record the trained policy saved at `path` as the active run's model (an MLflow LoggedModel, the
    run's output: the UI's Models column): its files copied into the store when they take at most
    `copy_max_mb` MB, else recorded by reference (tag `lenbench.path`; a multi-GB policy stays where
    the job saved it). Returns the model id."""
    from mlflow.entities import LoggedModelOutput, LoggedModelStatus

    run_id = mlflow.active_run().info.run_id
    size = sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
    copied = size <= copy_max_mb * 2**20
    tags = {"lenbench.path": str(path.resolve()), "lenbench.bytes": str(size),
            "lenbench.stored": "copied" if copied else "by reference"}
    client = mlflow.MlflowClient()
    if copied:
        model = mlflow.initialize_logged_model(name=name, source_run_id=run_id, tags=tags, model_type="transformers")
        client.log_model_artifacts(model.model_id, str(path))
        client.finalize_logged_model(model.model_id, LoggedModelStatus.READY)
    else:
        model = mlflow.create_external_model(name=name, source_run_id=run_id, tags=tags, model_type="transformers")
    client.log_outputs(run_id, [LoggedModelOutput(model.model_id, step)])
    return model.model_id
