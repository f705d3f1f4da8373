"""Report tables on hand-made run frames (the columns MLflow's search_runs returns)."""

import math

import mlflow
import pandas as pd
import pytest

from lenbench.errors import ConfigError
from lenbench.report.tables import compare, config_labels, mean_ci, pareto_optimal


def _run(method, seed, accuracy, tokens, eval_hash="e1", **params):
    row = {"run_id": f"{method}{seed}{eval_hash}", "tags.method": method, "tags.seed": str(seed),
           "tags.eval_hash": eval_hash, "metrics.eval/accuracy": accuracy, "metrics.eval/tokens_mean": tokens,
           "params.method.name": method, "metrics.eval/k1/accuracy": accuracy, "metrics.eval/k1/tokens_mean": tokens}
    row.update({f"params.method.{k}": v for k, v in params.items()})
    return row


def test_config_labels_name_the_knobs_that_vary():
    runs = pd.DataFrame([_run("lapo", 0, 0.2, 30, target_stat="median", tau="10"),
                         _run("lapo", 0, 0.2, 30, target_stat="mean", tau="10"), _run("base", 0, 0.2, 40)])
    assert list(config_labels(runs)) == ["lapo[target_stat=median]", "lapo[target_stat=mean]", "base"]


def test_mean_ci_t_interval():
    mean, half = mean_ci(pd.Series([0.1, 0.2, 0.3]))
    # t(0.975, 2) = 4.3027; sd 0.1; half = 4.3027 * 0.1 / sqrt(3)
    assert mean == pytest.approx(0.2) and half == pytest.approx(4.302653 * 0.1 / math.sqrt(3), rel=1e-5)
    assert math.isnan(mean_ci(pd.Series([0.5]))[1])


def test_pareto_optimal():
    # (0.4, 12) is beaten by (0.5, 10) on both axes; (0.6, 20) and (0.5, 10) trade off
    flags = pareto_optimal(pd.Series([0.5, 0.4, 0.6]), pd.Series([10.0, 12.0, 20.0]))
    assert list(flags) == [True, False, True]


def test_compare_against_base_on_the_same_eval_set():
    runs = pd.DataFrame([
        _run("base", 0, 0.20, 40.0), _run("base", 1, 0.20, 40.0),
        _run("lead", 0, 0.22, 30.0), _run("lead", 1, 0.18, 30.0),
        _run("grpo", 0, 0.3, 50.0, eval_hash="other"),  # no base on that eval set
        _run("lapo", 0, float("nan"), 20.0),  # no accuracy
        {**_run("lead", 1, 0.9, 99.0), "run_id": "old", "start_time": pd.Timestamp(0)},  # rerun: older copy
    ])
    runs.loc[runs["run_id"] != "old", "start_time"] = pd.Timestamp(1)
    result = compare(runs)
    lead = result.table.set_index("config").loc["lead"]
    # tokens 30 vs 40: reduction 0.25; accuracy 0.20 = base: change 0, AES = 1 * 0.25 + 3 * 0
    assert lead["seeds"] == 2 and lead["token_reduction"] == pytest.approx(0.25)
    assert lead["accuracy_change_pts"] == pytest.approx(0.0) and lead["aes"] == pytest.approx(0.25)
    assert set(result.table["config"]) == {"base", "lead"}
    assert any("eval set other" in reason and "grpo" in reason for reason in result.excluded)
    assert any("lapo" in reason and "no eval/accuracy" in reason for reason in result.excluded)
    assert any(reason.startswith("run old (lead, seed 1)") for reason in result.excluded)
    assert result.table.set_index("config")["pareto"].to_dict() == {"base": False, "lead": True}


def test_compare_needs_a_base_run_and_lenbench_columns():
    with pytest.raises(ConfigError, match="no `base` run"):
        compare(pd.DataFrame([_run("lead", 0, 0.2, 30.0)]))
    with pytest.raises(ConfigError, match="the runs have no tags.eval_hash"):
        compare(pd.DataFrame([_run("lead", 0, 0.2, 30.0)]).drop(columns=["tags.eval_hash"]))


def test_report_cli_on_an_empty_store_says_so(tmp_path, capsys):
    from lenbench.report.__main__ import main

    missing = tmp_path / "missing.db"
    for uri in (f"sqlite:///{missing}", str(tmp_path / "no_mlruns")):  # a store that does not exist is not created
        assert main(["--uri", uri, "--out", str(tmp_path / "out")]) == 2
        assert "no MLflow store at" in capsys.readouterr().err
    assert not missing.exists() and not (tmp_path / "no_mlruns").exists()
    empty = f"sqlite:///{tmp_path / 'empty.db'}"
    mlflow.MlflowClient(tracking_uri=empty).search_experiments()  # creates the store, with no experiment of ours
    assert main(["--uri", empty, "--out", str(tmp_path / "out")]) == 2
    assert "no MLflow experiment 'lenbench'" in capsys.readouterr().err


def test_load_runs_reads_several_stores_and_keeps_finished_runs(tmp_path):
    import mlflow

    from lenbench.report.runs import load_runs

    uris = [f"sqlite:///{tmp_path / name}.db" for name in ("a", "b")]
    for uri, method in zip(uris, ("base", "lead"), strict=True):
        mlflow.set_tracking_uri(uri)
        mlflow.set_experiment("lenbench")
        with mlflow.start_run(tags={"method": method, "dataset": "arith", "sweep": "s" if method != "base" else ""}):
            mlflow.log_metric("eval/accuracy", 0.5)
        failed = mlflow.start_run(tags={"method": method, "dataset": "arith"})
        mlflow.end_run(status="FAILED")
        assert failed.info.run_id
    runs = load_runs(uris)
    assert sorted(runs["tags.method"]) == ["base", "lead"] and set(runs["tags.store"]) == set(uris)
    assert list(load_runs(uris, methods=["lead"])["tags.method"]) == ["lead"]
    assert sorted(load_runs(uris, sweep="s")["tags.method"]) == ["base", "lead"]  # base kept as the reference
    with pytest.raises(ConfigError, match="no finished runs match methods=any dataset=gsm8k"):
        load_runs(uris, dataset="gsm8k")
    with pytest.raises(ConfigError, match="no finished runs tagged sweep='lead_floor'"):
        load_runs(uris, sweep="lead_floor")


def test_report_cli_writes_table_plots_and_documents(tmp_path, capsys, monkeypatch):
    import mlflow

    monkeypatch.chdir(tmp_path)  # MLflow puts a sqlite store's artifacts under ./mlruns
    from lenbench.report.__main__ import main

    uri = f"sqlite:///{tmp_path / 'runs.db'}"
    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment("lenbench")
    for method, seed, accuracy, tokens in [("base", 0, 0.2, 40), ("base", 1, 0.22, 41), ("lead", 0, 0.19, 27),
                                           ("lead", 1, 0.18, 26)]:
        with mlflow.start_run(tags={"method": method, "seed": str(seed), "eval_hash": "e", "dataset": "arith"}):
            mlflow.log_metrics({"eval/accuracy": accuracy, "eval/tokens_mean": tokens,
                                "eval/k1/accuracy": accuracy, "eval/k1/tokens_mean": tokens / 2,
                                "eval/k2/accuracy": accuracy / 2, "eval/k2/tokens_mean": tokens})
    out = tmp_path / "report"
    assert main(["--uri", uri, "--out", str(out), "--aes", "2", "3", "5"]) == 0
    for name in ("comparison.csv", "by_difficulty.csv", "pareto.png", "by_difficulty.png", "report.md", "report.html",
                 "dynamics.csv"):
        assert (out / name).stat().st_size > 0, name
    table = pd.read_csv(out / "comparison.csv").set_index("config")
    assert "no eval/samples.csv" in (out / "report.md").read_text()  # these runs logged no samples
    # lead: 26.5 tokens vs base 40.5 -> reduction 1 - 26.5 / 40.5
    assert table.loc["lead", "token_reduction"] == pytest.approx(1 - 26.5 / 40.5)
    # a = 2: 2 * dL - 5 * |dA|, dA = (0.185 - 0.21) / 0.21
    assert table.loc["lead", "aes"] == pytest.approx(2 * (1 - 26.5 / 40.5) - 5 * 0.025 / 0.21)
    assert "data:image/png;base64," in (out / "report.html").read_text()
    assert "| lead " in capsys.readouterr().out
    logged = mlflow.search_runs(experiment_names=["lenbench-reports"])
    assert len(logged) == 1 and logged.iloc[0]["tags.kind"] == "report"
    kind = mlflow.get_experiment_by_name("lenbench-reports").tags["mlflow.experimentKind"]
    assert kind == "custom_model_development"  # a model-training experiment, like the runs' one
    artifacts = {a.path for a in mlflow.MlflowClient().list_artifacts(logged.iloc[0].run_id)}
    assert {"report.html", "pareto.png", "comparison.csv"} <= artifacts


def test_reflection_counts_whole_keywords_by_config_and_difficulty():
    from lenbench.report.reflection import keyword_counts, reflection_table

    completions = pd.Series(["a check b check", "Wait, checked fix", None])
    counts = keyword_counts(completions, ["check", "fix", "wait"])
    assert counts.to_dict("list") == {"check": [2, 0, 0], "fix": [0, 1, 0], "wait": [0, 1, 0]}
    samples = pd.DataFrame({
        "config": ["base", "base", "base", "lead"], "difficulty": [1, 1, 2, 1],
        "decoding": ["sample", "sample", "sample", "greedy"],
        "completion": ["check x", "check check fix", "y", "check"],
    })
    table = reflection_table(samples, ["check", "fix"])
    # base k1: checks 1 and 2 -> 1.5, fixes 0 and 1 -> 0.5; k2: none; lead has only a greedy completion
    assert table.loc["base"].to_dict() == {"check/k1": 1.5, "check/k2": 0.0, "fix/k1": 0.5, "fix/k2": 0.0}
    assert list(table.index) == ["base"]


def test_reason_counts_per_config_and_decoding_skip_runs_without_reasons():
    from lenbench.report.tables import reason_counts

    samples = pd.DataFrame({
        "config": ["base", "base", "base", "lead", "lead", "old"],
        "decoding": ["sample", "sample", "greedy", "sample", "sample", "sample"],
        "reason": ["correct", "no_answer", "mismatch", "no_answer", "no_answer", None],
    })
    table = reason_counts(samples)
    assert table.loc[("base", "sample"), "no_answer"] == 1 and table.loc[("base", "sample"), "completions"] == 2
    assert table.loc[("lead", "sample"), "no_answer"] == 2 and table.loc[("lead", "sample"), "correct"] == 0
    assert ("old", "sample") not in table.index
    assert reason_counts(samples.drop(columns="reason")).empty


def test_dynamics_average_seeds_per_step(tmp_path):
    import mlflow

    from lenbench.report.dynamics import curves, dynamics_plot

    uri = f"sqlite:///{tmp_path / 'curves.db'}"
    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment("lenbench")
    ids = []
    for values in ([10.0, 20.0], [30.0, 40.0]):
        with mlflow.start_run() as run:
            for step, value in enumerate(values, start=1):
                mlflow.log_metric("train/completions/mean_length", value, step=step)
        ids.append(run.info.run_id)
    runs = pd.DataFrame({"run_id": ids, "tags.store": [uri, uri]})
    table = curves(runs, pd.Series(["lead", "lead"]))
    assert table[["step", "value"]].values.tolist() == [[1, 20.0], [2, 30.0]]  # means of 10/30 and 20/40
    assert dynamics_plot(table, tmp_path / "d.png").stat().st_size > 0


def test_each_configuration_is_compared_with_the_base_of_its_own_model(tmp_path, monkeypatch):
    """Two base runs on different models, same eval set: each method run meets the base of its model; a
    setting other than the seed, tracking and cache dir makes another configuration, but trainer settings
    do not split base (it does not train)."""
    import mlflow

    from lenbench.metrics import aes, token_reduction
    from lenbench.report.runs import load_runs

    monkeypatch.chdir(tmp_path)
    uri = f"sqlite:///{tmp_path / 'runs.db'}"
    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment("lenbench")
    small, large = {"base": (0.2, 40.0), "lead": (0.2, 30.0)}, {"base": (0.4, 30.0), "lead": (0.4, 30.0)}
    for hidden, figures in ((32, small), (48, large)):  # the hidden-48 runs come later
        for method, seed in (("base", 0), ("base", 1), ("lead", 0)):
            accuracy, tokens = figures[method]
            params = {"method.name": method, "model.hidden_size": hidden, "model.num_layers": 2,
                      "dataset.name": "arith", "eval.temperature": 0.6, "trainer.max_steps": 2 + seed, "seed": seed,
                      "tracking.uri": uri, "model.cache_dir": f"/cache/{seed}"}
            if method == "lead":
                params["method.w_min"] = 0.1
            with mlflow.start_run(tags={"method": method, "seed": str(seed), "eval_hash": "e", "dataset": "arith"}):
                mlflow.log_params(params)
                mlflow.log_metrics({"eval/accuracy": accuracy, "eval/tokens_mean": tokens})
    with mlflow.start_run(tags={"method": "lead", "seed": "0", "eval_hash": "e", "dataset": "arith"}):
        mlflow.log_params({"method.name": "lead", "model.hidden_size": 64, "model.num_layers": 2, "seed": 0,
                           "dataset.name": "arith", "eval.temperature": 0.6, "trainer.max_steps": 2,
                           "method.w_min": 0.1})
        mlflow.log_metrics({"eval/accuracy": 0.5, "eval/tokens_mean": 20.0})

    result = compare(load_runs(uri))
    table = result.table.set_index("config")
    assert sorted(table.index) == ["base[model.hidden_size=32]", "base[model.hidden_size=48]",
                                   "lead[model.hidden_size=32]", "lead[model.hidden_size=48]"]
    for hidden, figures in ((32, small), (48, large)):
        lead, base = table.loc[f"lead[model.hidden_size={hidden}]"], table.loc[f"base[model.hidden_size={hidden}]"]
        assert lead["base"] == f"base[model.hidden_size={hidden}]" and base["seeds"] == 2  # max_steps: same base
        (base_acc, base_tokens), (acc, tokens) = figures["base"], figures["lead"]
        assert lead["token_reduction"] == pytest.approx(token_reduction(tokens, base_tokens))
        assert lead["accuracy_change_pts"] == pytest.approx(100 * (acc - base_acc))
        assert lead["aes"] == pytest.approx(aes(tokens, acc, base_tokens, base_acc, 1.0, 3.0, 5.0))
    orphan = [reason for reason in result.excluded if "lead[model.hidden_size=64]" in reason]
    assert len(orphan) == 1 and "no base run with the same model" in orphan[0]
    assert "model.hidden_size=64 (base 32)" in orphan[0] or "model.hidden_size=64 (base 48)" in orphan[0]


def test_the_report_says_which_runs_it_left_out_and_why(tmp_path, monkeypatch):
    import mlflow

    from lenbench.report.runs import unfinished_runs
    from lenbench.tracking import liveness_tags

    monkeypatch.chdir(tmp_path)
    uri = f"sqlite:///{tmp_path / 'runs.db'}"
    client = mlflow.MlflowClient(tracking_uri=uri)
    experiment = client.create_experiment("lenbench")
    for status in ("FINISHED", "FAILED"):
        client.set_terminated(client.create_run(experiment).info.run_id, status=status)
    assert unfinished_runs(uri) == f"1 runs of experiment 'lenbench' in {uri} are not FINISHED, left out: 1 FAILED"
    alive = client.create_run(experiment, tags=liveness_tags()).info.run_id  # this very process
    # this process's pid, but started at another time: the process that ran it is gone
    dead = client.create_run(experiment, tags={**liveness_tags(), "pid_started": "0"}).info.run_id
    note = unfinished_runs(uri)
    assert note.startswith(f"3 runs of experiment 'lenbench' in {uri} are not FINISHED, left out: 1 FAILED, ")
    assert f"1 RUNNING whose process is gone ({dead}: its process" in note and "lenbench.runs cleanup" in note
    assert f"1 RUNNING, in progress or of unknown state ({alive})" in note


def test_html_report_escapes_run_names_tags_and_titles(tmp_path):
    from lenbench.report.documents import html_report

    attack = "<script>alert('x')</script>"
    table = pd.DataFrame({"accuracy": [0.5], f"tag {attack}": ["a&b"]},
                         index=pd.Index([f"lead {attack}"], name="config"))
    image = tmp_path / f"plot{attack[:7]}.png"  # '<script' in a file name
    image.write_bytes(b"\x89PNG")
    html = html_report([(f"Section {attack}", table)], [f"run {attack}: no eval/samples.csv"], [image])
    assert "<script" not in html and "</script" not in html  # every one of them arrives as text
    for escaped in ("Section &lt;script&gt;", "lead &lt;script&gt;", "tag &lt;script&gt;", "run &lt;script&gt;",
                    'alt="plot&lt;script"', "a&amp;b"):
        assert escaped in html, escaped
    assert html.count("<table") == 1 and "<td>0.500</td>" in html  # the table itself is markup, not text
