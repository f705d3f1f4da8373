"""LAPO end to end on the micro testbed: both stages, the length table, stage 2 alone from it."""

import json

import mlflow
import pytest

import lenbench.run as entry
from lenbench.errors import ConfigError

pytestmark = pytest.mark.e2e

MICRO_LAPO = (
    "+experiment=micro", "method=lapo", "model.plan_fraction=0.5",
    "method.discovery_steps=2", "method.internalization_steps=2",
)


def _runs(uri):
    mlflow.set_tracking_uri(uri)
    return mlflow.search_runs(experiment_names=["lenbench"])


def test_lapo_both_stages_then_internalization_from_its_table(compose, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    uri = f"sqlite:///{tmp_path / 'lapo.db'}"
    entry.run_job(compose(*MICRO_LAPO, f"tracking.uri={uri}"))
    run = _runs(uri).iloc[0]
    assert run["status"] == "FINISHED" and run["tags.method"] == "lapo"
    assert 0.0 <= run["metrics.eval/lapo/plan_rate"] <= 1.0  # self mode: eval forces the plan opening
    client = mlflow.MlflowClient()
    history = client.get_metric_history(run.run_id, "train/reward")
    assert sorted(m.step for m in history) == [1, 2, 3, 4]  # stage 2 continues stage 1's curve
    artifact = f"runs:/{run.run_id}/lapo/length_table.json"
    table_file = mlflow.artifacts.download_artifacts(artifact, dst_path=str(tmp_path))
    table = json.loads(open(table_file).read())
    assert set(table) == {"dataset", "train_hash", "lengths"} and table["dataset"] == "arith"

    entry.run_job(compose(*MICRO_LAPO, f"tracking.uri={uri}", "method.stage=internalization",
                          f"method.length_table={table_file}"))
    runs = _runs(uri)
    assert list(runs["status"]) == ["FINISHED", "FINISHED"]


def test_internalization_without_table_is_rejected_before_training(compose, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match="method.stage=internalization needs method.length_table"):
        entry.run_job(compose(*MICRO_LAPO, "method.stage=internalization"))
    assert not (tmp_path / "mlflow.db").exists()


def test_table_from_another_dataset_is_rejected_before_training(compose, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    foreign = tmp_path / "table.json"
    foreign.write_text(json.dumps({"dataset": "arith", "train_hash": "0123456789abcdef", "lengths": {"q": [10, 20]}}))
    with pytest.raises(ConfigError, match="was built on another dataset.*train set '0123456789abcdef'"):
        entry.run_job(compose(*MICRO_LAPO, "method.stage=internalization", f"method.length_table={foreign}"))
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(ConfigError, match="is not a readable LAPO length table"):
        entry.run_job(compose(*MICRO_LAPO, "method.stage=internalization", f"method.length_table={broken}"))
    assert not (tmp_path / "mlflow.db").exists()
