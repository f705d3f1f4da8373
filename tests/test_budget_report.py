"""Budget metrics in the report: method markers, a real MLflow store with runs recorded before and after
the budget metrics, and micro runs read back into a report."""

import mlflow
import pandas as pd
import pytest
from matplotlib.markers import MarkerStyle

from lenbench.report.styles import METHOD_MARKERS, method_marker


def test_every_method_has_its_own_filled_marker_and_others_a_stable_one():
    known = list(METHOD_MARKERS.values())
    assert len(set(known)) == len(known) == 13
    for method in (*METHOD_MARKERS, "my_method"):
        assert MarkerStyle(method_marker(method)).is_filled(), method  # hollow = off the Pareto front
    assert method_marker("my_method") == method_marker("my_method") not in known  # crc32, not the salted hash()


def _log(method, seed, metrics):
    with mlflow.start_run(tags={"method": method, "seed": str(seed), "eval_hash": "e", "dataset": "arith"}):
        mlflow.log_metrics(metrics)


def _headline(accuracy, tokens):
    return {"eval/accuracy": accuracy, "eval/tokens_mean": tokens, "eval/k1/accuracy": accuracy,
            "eval/k1/tokens_mean": tokens}


def test_report_of_runs_with_and_without_budget_metrics(tmp_path, monkeypatch):
    from lenbench.report.__main__ import main

    monkeypatch.chdir(tmp_path)  # MLflow puts a sqlite store's artifacts under ./mlruns
    uri = f"sqlite:///{tmp_path / 'runs.db'}"
    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment("lenbench")
    for seed in (0, 1):  # recorded before the budget metrics: none of them
        _log("base", seed, _headline(0.5, 40.0))
    old = tmp_path / "old"
    assert main(["--uri", uri, "--out", str(old), "--no-log"]) == 0
    table = pd.read_csv(old / "comparison.csv").set_index("config")
    assert {"budget_auc", "budget_auc_ci95", "tokens_correct", "tokens_wrong"} <= set(table.columns)
    assert table.loc["base", ["budget_auc", "tokens_correct", "tokens_wrong"]].isna().all()
    assert not (old / "budget_curves.png").exists() and "budget_curves" not in (old / "report.md").read_text()
    assert "thinking_tokens" not in table.columns  # no run has a think-close marker

    for seed, (low, high, correct) in enumerate([(0.2, 0.6, 20.0), (0.4, 0.6, 24.0)]):
        _log("lead", seed, {**_headline(0.6, 30.0), "eval/budget/acc_at_20": low, "eval/budget/acc_at_40": high,
                            "eval/budget_auc": (low + high) / 2, "eval/tokens_correct": correct,
                            "eval/tokens_wrong": 35.0})
    new = tmp_path / "new"
    assert main(["--uri", uri, "--out", str(new), "--no-log"]) == 0
    table = pd.read_csv(new / "comparison.csv").set_index("config")
    # lead AUCs 0.4 and 0.5: mean 0.45, t(0.975, 1) = 12.706 * sd 0.0707 / sqrt(2) = 12.706 * 0.05
    assert table.loc["lead", "budget_auc"] == pytest.approx(0.45)
    assert table.loc["lead", "budget_auc_ci95"] == pytest.approx(12.7062 * 0.05, rel=1e-4)
    assert table.loc["lead", "tokens_correct"] == pytest.approx(22.0) and table.loc["lead", "tokens_wrong"] == 35.0
    assert table.loc["base", ["budget_auc", "tokens_correct"]].isna().all()  # the old runs still report, empty
    curves = pd.read_csv(new / "budget_curves.csv").set_index("config")
    assert list(curves.index) == ["lead"] and list(curves.columns) == ["20", "40"]
    assert curves.loc["lead"].tolist() == pytest.approx([0.3, 0.6])
    assert (new / "budget_curves.png").stat().st_size > 0 and (new / "pareto.png").stat().st_size > 0
    markdown = (new / "report.md").read_text()
    assert "![budget_curves](budget_curves.png)" in markdown and "Accuracy under token budgets" in markdown
    assert (new / "report.html").read_text().count("data:image/png") >= 2


@pytest.mark.e2e
def test_micro_runs_log_budget_metrics_and_the_report_plots_them(compose, tmp_path, monkeypatch):
    import lenbench.run as entry
    from lenbench.report.__main__ import main

    monkeypatch.chdir(tmp_path)
    uri = f"sqlite:///{tmp_path / 'micro.db'}"
    for method in ("base", "grpo"):
        entry.run_job(compose("+experiment=micro", f"method={method}", f"tracking.uri={uri}"))
    mlflow.set_tracking_uri(uri)
    runs = mlflow.search_runs(experiment_names=["lenbench"])
    grid = [6, 12, 18, 24, 30, 36, 42, 48]  # eval.budget_points = 8 up to the micro max_new_tokens 48
    names = sorted(f"eval/budget/acc_at_{b}" for b in grid)
    client = mlflow.MlflowClient()
    for run_id in runs.run_id:
        metrics = client.get_run(run_id).data.metrics
        curve = [metrics[f"eval/budget/acc_at_{b}"] for b in grid]
        assert sorted(k for k in metrics if k.startswith("eval/budget/")) == names
        assert curve == sorted(curve) and curve[-1] == pytest.approx(metrics["eval/accuracy"])  # all within 48
        assert metrics["eval/budget_auc"] == pytest.approx(sum(curve) / len(grid))
        outcome = {"eval/tokens_correct", "eval/tokens_wrong", "eval/k1/budget_auc", "eval/k3/tokens_wrong"}
        assert outcome <= set(metrics)
        assert not any("thinking" in k or "answer_tokens" in k for k in metrics)  # the testbed has no marker
        samples = pd.read_csv(client.download_artifacts(run_id, "eval/samples.csv", str(tmp_path / run_id)))
        sampled = samples[samples.decoding == "sample"]
        wrong = sampled[~sampled.correct].tokens
        assert metrics["eval/tokens_wrong"] == pytest.approx(wrong.mean())
    out = tmp_path / "report"
    assert main(["--uri", uri, "--out", str(out), "--no-log"]) == 0
    assert (out / "budget_curves.png").stat().st_size > 0
    table = pd.read_csv(out / "comparison.csv").set_index("config")
    by_method = runs.set_index("tags.method")
    for method in ("base", "grpo"):
        assert table.loc[method, "budget_auc"] == pytest.approx(by_method.loc[method, "metrics.eval/budget_auc"])
        assert table.loc[method, "tokens_wrong"] == pytest.approx(by_method.loc[method, "metrics.eval/tokens_wrong"])