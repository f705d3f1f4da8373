"""The Optuna sweeper (`hydra/sweeper=optuna`): resumable multi-objective studies of real jobs.

Pareto fronts and trial values are checked against what Optuna and MLflow hold, not against
numbers written here.
"""

import os
import re
import shutil
import signal
import subprocess
import sys
import time

import mlflow
import optuna
import pandas as pd
import pytest
from optuna.trial import TrialState

from lenbench.store_lock import store_setup_lock

MICRO_LEAD = ["-m", "+experiment=micro", "method=lead", "hydra/sweeper=optuna", "hydra.sweeper.study_name=lead_t"]
SPACE = ["method.w_min=interval(0.1,0.5)", "method.aggregator=choice(mean_correct,min_correct)"]
FILE_JOB = ["-m", "+experiment=micro", "method=base", "dataset=file", "model=local", "hydra/sweeper=optuna",
            "eval.temperature=interval(0.5,1.0)", "hydra.sweeper.n_trials=2"]


def load_study(tmp_path, name):
    return optuna.load_study(study_name=name, storage=f"sqlite:///{tmp_path / 'optuna.db'}")


def printed_pareto(stdout: str) -> set[int]:
    table = stdout.split("Pareto-optimal trials", 1)[1].splitlines()[2:]
    return {int(m.group(1)) for line in table if (m := re.match(r"\s+(\d+)\s", line))}


def sweeper(tmp_path, *args):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "lenbench.run", *args], cwd=tmp_path, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


@pytest.mark.e2e
def test_concurrent_sweepers_share_the_stores_and_a_rerun_resumes(cli, tmp_path):
    # two sweepers on one study, launching 2 and 1 parallel Submitit jobs: 3 concurrent jobs writing
    # to the same MLflow sqlite store, 2 processes writing to the same Optuna storage
    common = [*MICRO_LEAD, *SPACE, "hydra/launcher=local", "hydra.sweeper.n_trials=3"]
    processes = [sweeper(tmp_path, *common, f"hydra.sweep.dir=multirun/sweeper{i}", f"hydra.sweeper.n_jobs={2 - i}")
                 for i in range(2)]
    outputs = [p.communicate(timeout=600) for p in processes]
    for process, (_, err) in zip(processes, outputs, strict=True):
        assert process.returncode == 0, err[-3000:]
    study = load_study(tmp_path, "lead_t")
    assert sorted(t.number for t in study.trials) == [0, 1, 2]
    assert all(t.state == TrialState.COMPLETE for t in study.trials)

    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    runs = mlflow.search_runs(experiment_names=["lenbench"])
    assert len(runs) == 3 and set(runs["status"]) == {"FINISHED"}
    assert set(runs["tags.study"]) == {"lead_t"}
    by_trial = runs.set_index(runs["tags.trial"].astype(int))
    assert sorted(by_trial.index) == [0, 1, 2]
    for trial in study.trials:  # each trial's values and params are its MLflow run's
        run = by_trial.loc[trial.number]
        assert trial.values == pytest.approx([run["metrics.eval/accuracy"], run["metrics.eval/tokens_mean"]])
        assert float(run["params.method.w_min"]) == pytest.approx(trial.params["method.w_min"])
        assert run["params.method.aggregator"] == trial.params["method.aggregator"]
    spans = sorted((r.start_time, r.end_time) for r in runs.itertuples())
    overlap = max(sum(start <= s < end for start, end in spans) for s, _ in spans)
    assert overlap >= 2, f"jobs did not run in parallel: {spans}"

    # the same command with a larger n_trials resumes the study and runs only the missing trial
    result = cli(*MICRO_LEAD, *SPACE, "hydra.sweeper.n_trials=4")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "3 trials so far, target 4" in result.stdout
    study = load_study(tmp_path, "lead_t")
    assert sorted(t.number for t in study.trials) == [0, 1, 2, 3]
    assert len(mlflow.search_runs(experiment_names=["lenbench"])) == 4
    assert printed_pareto(result.stdout) == {t.number for t in study.best_trials}


def wait_for_training(uri: str, process: subprocess.Popen, timeout: float = 900) -> None:
    """Until a RUNNING run of the store has logged a training step (or the process ended)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        if os.path.exists(uri.removeprefix("sqlite:///")):
            with store_setup_lock(uri):  # not while the job creates the store's tables
                client = mlflow.MlflowClient(tracking_uri=uri)
                experiment = client.get_experiment_by_name("lenbench")
            if experiment and any(m.startswith("train/") for r in client.search_runs(
                    [experiment.experiment_id], "attributes.status = 'RUNNING'") for m in r.data.metrics):
                return
        time.sleep(0.5)
    raise AssertionError(f"no training step logged; the sweeper exited with {process.poll()}")


@pytest.mark.e2e
def test_a_trial_killed_with_sigkill_is_failed_retried_and_the_study_reaches_n_trials(cli, tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    beat = ["hydra.sweeper.heartbeat_interval=1", "hydra.sweeper.grace_period=3", "hydra.sweeper.n_trials=2"]
    # the first trial trains long enough to be killed in the middle of its training, with SIGKILL: the
    # sweeper (and the job it runs in-process) get no chance to end anything
    doomed = sweeper(tmp_path, *MICRO_LEAD, *SPACE, *beat, "trainer.max_steps=200")
    try:
        wait_for_training(uri, doomed)
    finally:
        os.kill(doomed.pid, signal.SIGKILL)
        doomed.communicate(timeout=60)
    assert [t.state for t in load_study(tmp_path, "lead_t").trials] == [TrialState.RUNNING]
    mlflow.set_tracking_uri(uri)
    assert list(mlflow.search_runs(experiment_names=["lenbench"])["status"]) == ["RUNNING"]

    result = cli(*MICRO_LEAD, *SPACE, *beat)  # the sweep again, at its usual micro size
    assert result.returncode == 0, result.stderr[-3000:]
    trials = load_study(tmp_path, "lead_t").trials
    assert trials[0].state == TrialState.FAIL
    assert "trial 0 FAILED: no heartbeat for 3 s" in result.stdout
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    assert len(complete) == 2 and len(trials) == 3
    retry = [t for t in complete if t.system_attrs.get("failed_trial") == 0]
    assert len(retry) == 1 and retry[0].params == trials[0].params  # the killed point, run again
    runs = mlflow.search_runs(experiment_names=["lenbench"]).set_index("tags.trial")
    killed = runs.loc[str(trials[0].number)]
    assert killed["status"] == "KILLED" and "is gone" in killed["tags.killed_reason"]
    assert killed["end_time"] == pd.Timestamp(int(killed["tags.heartbeat"]), unit="s", tz="UTC")
    assert sorted(runs.loc[[str(t.number) for t in complete], "status"]) == ["FINISHED", "FINISHED"]


def test_a_search_space_whose_edges_fail_the_checks_runs_no_trial(cli, tmp_path, tiny_dir):
    # a value the config rejects at an end of a range: refused in one line, no study made
    result = cli(*MICRO_LEAD, "hydra.sweeper.study_name=bad_config", "method.w_min=interval(0.2,7.0)")
    assert result.returncode != 0
    assert result.stderr.strip().splitlines() == [result.stderr.strip()]  # one line, no traceback
    assert "no trial was run" in result.stderr and "method.w_min=7.0 is out of range" in result.stderr
    assert not list(tmp_path.glob("*.db")) and not (tmp_path / "multirun").exists()

    # a data file with a row without an answer: every job's pre-flight (run.py's, less the checks of the
    # machine that computes) fails on it, so the sweep stops before any trial, naming the row
    data = tmp_path / "bad.jsonl"
    data.write_text('{"problem": "1+1?", "answer": "2"}\n{"problem": "2+2?"}\n')
    result = cli(*FILE_JOB, f"dataset.eval.path={data}", f"model.path={tiny_dir}", "hydra.sweeper.study_name=bad_data")
    assert result.returncode != 0 and "no trial was run" in result.stderr and "row 1" in result.stderr
    assert not list(tmp_path.glob("*.db"))


@pytest.mark.parametrize("space, reason", [
    ("method.w_min=interval(0.5,0.1)", "`low <= high` must hold"),
    ("method.w_min=tag(log,interval(0,0.1))", "`low > 0` must hold for `log=True`"),
    ("method.w_min=tag(int,interval(3,1))", "`low <= high` must hold"),
])
def test_bounds_optuna_refuses_name_the_param(space, reason):
    from hydra.core.override_parser.overrides_parser import OverridesParser

    from hydra_plugins.lenbench_sweepers.job_checks import SweepError
    from hydra_plugins.lenbench_sweepers.optuna_sweeper import distribution

    override = OverridesParser.create().parse_overrides([space])[0]
    with pytest.raises(SweepError, match=rf"^lenbench: optuna param method.w_min: '{re.escape(space)}' is not a "
                                         rf"valid search range \(.*{re.escape(reason)}"):
        distribution(override)


def test_an_unopenable_study_storage_is_one_line(cli, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    result = cli(*MICRO_LEAD, *SPACE, f"hydra.sweeper.storage=sqlite:///{blocker}/optuna.db")
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "hydra.sweeper.storage=" in result.stderr and "cannot open the study" in result.stderr


@pytest.mark.e2e
def test_failed_jobs_are_recorded_and_the_study_goes_on(cli, tmp_path, tiny_dir):
    # a job that fails while running (weights that no check before compute reads): recorded as failed, and
    # the study goes on to its next trial
    good = tmp_path / "good.jsonl"
    good.write_text('{"problem": "1+1?", "answer": "2"}\n')
    broken = tmp_path / "broken-model"
    shutil.copytree(tiny_dir, broken)
    (broken / "model.safetensors").write_bytes(b"not safetensors")
    result = cli(*FILE_JOB, f"dataset.eval.path={good}", f"model.path={broken}", "hydra.sweeper.study_name=bad_job")
    assert result.returncode == 0, result.stderr[-3000:]
    trials = load_study(tmp_path, "bad_job").trials
    assert [t.state for t in trials] == [TrialState.FAIL, TrialState.FAIL]
    assert all(t.user_attrs["error"].startswith("job failed") for t in trials)


def test_a_param_on_a_missing_key_fails_before_anything_runs(cli, tmp_path):
    result = cli(*MICRO_LEAD, "method.w_mni=interval(0.1,0.5)")
    assert result.returncode != 0
    assert "method.w_mni" in result.stderr and "w_min" in result.stderr  # names the key and the real keys
    assert not list(tmp_path.glob("*.db")) and not (tmp_path / "multirun").exists()


def test_an_empty_search_space_is_an_error(cli, tmp_path):
    result = cli(*MICRO_LEAD, "seed=1")
    assert result.returncode != 0 and "search space is empty" in result.stderr
    assert not list(tmp_path.glob("*.db"))


@pytest.mark.parametrize("setting, message", [
    ("hydra.sweeper.directions=[maximize]", "directions"),
    ("hydra.sweeper.objectives=[accuracy,speed]", "objectives"),
    ("hydra.sweeper.sampler=cmaes", "sampler='cmaes' is not a known option; allowed: tpe, nsgaii, random"),
    ("hydra.sweeper.n_trials=0", "n_trials=0 is out of range"),
    ("hydra.sweeper.max_failures=0", "max_failures=0 is out of range"),
    ("hydra.sweeper.grace_period=20", "grace_period=20 must be longer than hydra.sweeper.heartbeat_interval=30"),
])
def test_bad_sweeper_settings_name_the_field(cli, tmp_path, setting, message):
    result = cli(*MICRO_LEAD, *SPACE, setting)
    assert result.returncode != 0 and message in result.stderr
    assert not list(tmp_path.glob("*.db"))
