"""MLflow tracking: one run per job, with params, curves, eval metrics, artifacts and status.

A job's run ends FINISHED on success, FAILED on an exception, KILLED on Ctrl-C or SIGTERM
(what Slurm and submitit send on cancellation); it is never left RUNNING. A job killed with no
chance to end its run (kill -9, a lost node) leaves it RUNNING with a stale heartbeat: the next job
on the store ends it KILLED (lenbench.runs).
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import mlflow
import pandas as pd
from transformers import TrainerCallback

from lenbench.config import TrackingConfig
from lenbench.errors import ConfigError, check_writable_dir
from lenbench.runs import end_dead_runs, heartbeat, liveness_tags
from lenbench.store_lock import sqlite_path, store_setup_lock

SERVER_PROBE_SECONDS = 5.0
"""How long `check_server` waits for a tracking server to accept a connection."""


def local_store_dir(uri: str) -> Path | None:
    """The directory a local store writes into: a sqlite file's, or a file store's (None: a server or
    a database elsewhere)."""
    database = sqlite_path(uri)
    if database is not None:
        return database.parent
    parts = urlsplit(uri)
    if parts.scheme == "file":
        return Path(parts.path).expanduser()
    return Path(uri).expanduser() if not parts.scheme else None


def check_store(cfg: TrackingConfig) -> None:
    """ConfigError naming tracking.uri unless MLflow has a store for its scheme and, for a local
    store, its directory is writable. Opens nothing (a new sqlite store is created only by the run)."""
    from mlflow.exceptions import MlflowException
    from mlflow.tracking._tracking_service.utils import _tracking_store_registry as registry

    try:
        registry.get_store_builder(cfg.uri)  # finds the store's builder by scheme; builds nothing
    except MlflowException:
        schemes = ", ".join(sorted(scheme for scheme in getattr(registry, "_registry", {}) if scheme))
        raise ConfigError(
            f"tracking.uri={cfg.uri!r}: MLflow has no store for scheme {urlsplit(cfg.uri).scheme!r}; "
            f"allowed: {schemes}, or a local path"
        ) from None
    directory = local_store_dir(cfg.uri)
    if directory is not None:
        check_writable_dir("tracking.uri", cfg.uri, directory)


def check_server(cfg: TrackingConfig, timeout: float = SERVER_PROBE_SECONDS) -> None:
    """ConfigError naming tracking.uri when an http(s) tracking server does not accept a connection
    within `timeout` seconds (MLflow itself retries for minutes); other stores pass."""
    parts = urlsplit(cfg.uri)
    if parts.scheme not in ("http", "https"):
        return
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as error:
        raise ConfigError(f"tracking.uri={cfg.uri!r}: {error}") from None
    host = parts.hostname or "localhost"
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError as error:
        reason = "timed out" if isinstance(error, TimeoutError) else (error.strerror or str(error))
        raise ConfigError(
            f"tracking.uri={cfg.uri!r}: no tracking server answers at {host}:{port} ({reason}, "
            f"{timeout:g} s probe); start it (mlflow server --host {host} --port {port}) or fix tracking.uri"
        ) from None


def check_experiment(cfg: TrackingConfig) -> None:
    """ConfigError when tracking.experiment names a deleted experiment of the (already set) store:
    MLflow refuses to log to it, and would only say so with a traceback."""
    experiment = mlflow.get_experiment_by_name(cfg.experiment)
    if experiment is not None and experiment.lifecycle_stage == "deleted":
        raise ConfigError(
            f"tracking.experiment={cfg.experiment!r} is a deleted experiment (id {experiment.experiment_id}) "
            f"in {cfg.uri}; restore it (mlflow experiments restore -x {experiment.experiment_id}) or choose "
            "another tracking.experiment"
        )

log = logging.getLogger(__name__)


class Terminated(KeyboardInterrupt):
    """Raised in the main thread when the process receives SIGTERM."""


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
def _sigterm_as_interrupt() -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        raise Terminated(f"received signal {signum}")

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def is_main_process() -> bool:
    """False in the other processes of a multi-GPU launch (`accelerate launch`: RANK > 0)."""
    return int(os.environ.get("RANK", "0")) == 0


@contextmanager
def tracked_run(
    cfg: TrackingConfig, run_name: str, params: dict[str, Any], tags: dict[str, str], resolved_yaml: str
) -> Iterator[mlflow.ActiveRun | None]:
    """Start an MLflow run, log params/config, and end it with the right status.

    Only the main process of a multi-GPU launch records a run; the others train in lockstep under
    None and must not call MLflow (lenbench's own calls check `mlflow.active_run()`)."""
    if not is_main_process():
        yield None
        return
    with store_setup_lock(cfg.uri):
        mlflow.set_tracking_uri(cfg.uri)
        check_experiment(cfg)
        mlflow.set_experiment(cfg.experiment)
        # the runs of jobs killed with no chance to end them (kill -9, a lost node)
        for dead in end_dead_runs(cfg.uri, stale_after=cfg.stale_after_seconds)[0]:
            log.warning("ended %s KILLED: %s", dead.describe(), dead.dead)
        run = mlflow.start_run(run_name=run_name, tags={**tags, **liveness_tags()})
    try:
        with _sigterm_as_interrupt(), heartbeat(cfg.uri, run.info.run_id, cfg.heartbeat_seconds):
            mlflow.log_params(flatten(params))
            mlflow.log_text(resolved_yaml, "config.yaml")
            yield run
    except KeyboardInterrupt:
        mlflow.end_run(status="KILLED")
        raise
    except BaseException:
        mlflow.end_run(status="FAILED")
        raise
    mlflow.end_run(status="FINISHED")


def log_table(frame: pd.DataFrame, artifact_path: str) -> None:
    """A DataFrame as a CSV artifact (name of the file = last part of artifact_path)."""
    folder, _, name = artifact_path.rpartition("/")
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / name
        frame.to_csv(path, index=False)
        mlflow.log_artifact(str(path), artifact_path=folder or None)


def log_eval(result) -> None:
    """Eval metrics (`eval/<name>`, per difficulty `eval/k<level>/<name>`) and the eval tables."""
    mlflow.log_metrics({f"eval/{key}": value for key, value in result.summary.items()})
    for row in result.by_difficulty.to_dict("records"):
        level = int(row.pop("difficulty"))
        mlflow.log_metrics({f"eval/k{level}/{key}": value for key, value in row.items()})
    log_table(result.samples, "eval/samples.csv")
    log_table(result.by_difficulty, "eval/by_difficulty.csv")


class MlflowStepLogger(TrainerCallback):
    """Logs the trainer's numeric logs (reward, length, loss, TRL's step_time...) to the active run."""

    def __init__(self, prefix: str = "train/", step_offset: int = 0):
        self.prefix = prefix
        self.step_offset = step_offset
        """Added to the trainer's step, so a second training stage continues the curves."""

    def on_log(self, args, state, control, logs=None, **kwargs):
        metrics = {
            f"{self.prefix}{key}".replace("(", "_").replace(")", "_"): float(value)
            for key, value in (logs or {}).items()
            if isinstance(value, (int, float)) and not isinstance(value, bool)
        }
        if metrics and state.is_world_process_zero:
            mlflow.log_metrics(metrics, step=self.step_offset + state.global_step)
