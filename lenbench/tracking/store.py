"""An MLflow store before any run: can it be written, does its server answer, which experiment to use.

lenbench's experiments are model-training experiments: they carry MLflow 3's experiment-kind tag
with the custom-model-development value, set when lenbench creates the experiment and added to an
existing one that has no kind yet (a kind chosen by someone else is left as it is).
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import mlflow
from mlflow.exceptions import MlflowException

from lenbench.config import TrackingConfig
from lenbench.errors import ConfigError, check_writable_dir
from lenbench.store_lock import sqlite_path

SERVER_PROBE_SECONDS = 5.0
"""How long `check_server` waits for a tracking server to accept a connection."""
KIND_TAG, TRAINING_KIND = "mlflow.experimentKind", "custom_model_development"
"""MLflow 3's experiment-kind tag and its value for model training (the other: genai_development)."""


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


def use_server_limits(cfg: TrackingConfig) -> None:
    """Bound how long this process's MLflow requests to an http(s) tracking server wait and retry
    (tracking.server_retries, tracking.server_timeout_seconds; MLflow reads them per request)."""
    if urlsplit(cfg.uri).scheme in ("http", "https"):
        os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] = str(cfg.server_retries)
        os.environ["MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR"] = "1"
        os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] = str(cfg.server_timeout_seconds)


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


def use_experiment(name: str) -> str:
    """Make `name` the active experiment of the (already set) store, as a model-training experiment:
    created with the kind tag, or given it when it has no kind. Returns its id."""
    experiment = mlflow.get_experiment_by_name(name)
    if experiment is None:
        try:
            created = mlflow.create_experiment(name, tags={KIND_TAG: TRAINING_KIND})
        except MlflowException:  # created meanwhile by another job of the store
            experiment = mlflow.get_experiment_by_name(name)
            if experiment is None:
                raise
        else:
            return mlflow.set_experiment(experiment_id=created).experiment_id
    if KIND_TAG not in experiment.tags:
        mlflow.MlflowClient().set_experiment_tag(experiment.experiment_id, KIND_TAG, TRAINING_KIND)
    return mlflow.set_experiment(experiment_id=experiment.experiment_id).experiment_id


@contextmanager
def store_errors(uri: str) -> Iterator[None]:
    """MLflow's error reading the store `uri`, as a one-line ConfigError."""
    try:
        yield
    except MlflowException as error:
        raise ConfigError(f"cannot read the store {uri}: {error.message.splitlines()[0]}") from None
