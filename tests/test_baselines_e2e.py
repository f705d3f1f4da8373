"""The length-control baselines on the real engine (micro testbed): what their hooks do to TRL's run."""

import mlflow
import pytest

pytestmark = pytest.mark.e2e


def metric_history(store: str, key: str) -> list[tuple[int, float]]:
    client = mlflow.MlflowClient(store)
    (run,) = client.search_runs([e.experiment_id for e in client.search_experiments()])
    return [(m.step, m.value) for m in sorted(client.get_metric_history(run.info.run_id, key), key=lambda m: m.step)]


def test_thinkprune_stage_limits_cap_generation(cli, tmp_path):
    store = f"sqlite:///{tmp_path}/mlflow.db"
    done = cli("+experiment=micro", "method=thinkprune", "method.limits=[40,8]", "method.stage_steps=[1,1]",
               f"tracking.uri={store}")
    assert done.returncode == 0, done.stderr[-2000:]
    # the micro model runs to the cap: 40 tokens at step 1, 8 at step 2 (trainer.max_completion_length 48)
    assert metric_history(store, "train/completions/max_length") == [(1, 40.0), (2, 8.0)]
    assert metric_history(store, "train/thinkprune/limit") == [(1, 40.0), (2, 8.0)]


def test_l1_logs_its_eval_at_each_budget(cli, tmp_path):
    store = f"sqlite:///{tmp_path}/mlflow.db"
    done = cli("+experiment=micro", "method=l1", "method.eval_budgets=[8,30]", f"tracking.uri={store}")
    assert done.returncode == 0, done.stderr[-2000:]
    for n in (8, 30):
        for name in ("accuracy", "tokens_mean", "deviation", "over_budget"):
            assert len(metric_history(store, f"eval/l1/budget_{n}/{name}")) == 1
    assert metric_history(store, "train/l1/deviation")
