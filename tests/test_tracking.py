"""MLflow runs end FINISHED, FAILED or KILLED, never RUNNING; params are flattened; experiments are
model-training experiments. Real MLflow, sqlite stores."""

import os
import signal
from dataclasses import replace

import mlflow
import pytest

from lenbench.config import TrackingConfig
from lenbench.tracking import KIND_TAG, TRAINING_KIND, Terminated, flatten, tracked_run


@pytest.fixture
def store(tmp_path):
    return TrackingConfig(uri=f"sqlite:///{tmp_path / 'mlflow.db'}", experiment="status-test")


def _status(store, run_id):
    mlflow.set_tracking_uri(store.uri)
    return mlflow.get_run(run_id).info.status


def _open(store, name):
    return tracked_run(store, name, {"a": {"b": 1}}, {"method": "grpo"}, "a:\n  b: 1\n")


def test_flatten():
    assert flatten({"a": {"b": 1, "c": {"d": None}}, "e": [1, 2]}) == {"a.b": 1, "a.c.d": "None", "e": "[1, 2]"}


def test_success_is_finished_with_params_and_config(store):
    with _open(store, "ok") as run:
        run_id = run.info.run_id
    assert _status(store, run_id) == "FINISHED"
    data = mlflow.get_run(run_id).data
    assert data.params["a.b"] == "1" and data.tags["method"] == "grpo"
    assert mlflow.artifacts.load_text(f"runs:/{run_id}/config.yaml").startswith("a:")


def test_exception_is_failed(store):
    with pytest.raises(RuntimeError):
        with _open(store, "crash") as run:
            run_id = run.info.run_id
            raise RuntimeError("boom")
    assert _status(store, run_id) == "FAILED"
    assert mlflow.active_run() is None


def test_ctrl_c_is_killed(store):
    with pytest.raises(KeyboardInterrupt):
        with _open(store, "interrupted") as run:
            run_id = run.info.run_id
            raise KeyboardInterrupt
    assert _status(store, run_id) == "KILLED"


def test_sigterm_is_killed(store):
    with pytest.raises(Terminated):
        with _open(store, "terminated") as run:
            run_id = run.info.run_id
            os.kill(os.getpid(), signal.SIGTERM)
    assert _status(store, run_id) == "KILLED"
    assert signal.getsignal(signal.SIGTERM) is not None  # previous handler restored


def test_experiments_are_model_training_experiments(store):
    client = mlflow.MlflowClient(tracking_uri=store.uri)
    client.create_experiment("old")  # made before lenbench set a kind
    client.create_experiment("genai", tags={KIND_TAG: "genai_development"})
    for name in (store.experiment, "old", "genai"):  # the first one new, created by the run
        with tracked_run(replace(store, experiment=name), "kind", {}, {}, ""):
            pass
    kinds = {e.name: e.tags.get(KIND_TAG) for e in client.search_experiments()}
    assert kinds[store.experiment] == kinds["old"] == TRAINING_KIND == "custom_model_development"
    assert kinds["genai"] == "genai_development"  # a kind chosen by someone else stays
