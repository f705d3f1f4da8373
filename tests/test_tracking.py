"""MLflow runs end FINISHED, FAILED or KILLED, never RUNNING; params are flattened; a run's train and
eval sets are its dataset inputs; experiments are model-training experiments. Real MLflow, sqlite stores."""

import json
import os
import signal
from dataclasses import replace

import mlflow
import pytest

from lenbench.config import DataFileConfig, DatasetConfig, TrackingConfig
from lenbench.tracking import KIND_TAG, TRAINING_KIND, Terminated, flatten, task_inputs, tracked_run


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


def test_a_run_has_its_train_and_eval_sets_as_dataset_inputs(store):
    from lenbench.data import load_task_data

    cfg = DatasetConfig(max_difficulty=2, train_size=30, eval_per_difficulty=4)
    data = load_task_data(cfg)
    with tracked_run(store, "data", {}, {}, "", task_inputs(cfg, data)) as run:
        run_id = run.info.run_id
    inputs = mlflow.MlflowClient(tracking_uri=store.uri).get_run(run_id).inputs.dataset_inputs
    logged = {tag.value: i.dataset for i in inputs for tag in i.tags if tag.key == "mlflow.data.context"}
    assert {context: (d.name, d.digest) for context, d in logged.items()} == {
        "eval": ("arith-eval", data.eval_hash), "train": ("arith-train", data.train_hash)}
    source = json.loads(logged["eval"].source)["tags"]
    assert logged["eval"].source_type == "code"
    assert source == {"generator": "lenbench.testbed.arith", "split": "eval", "seed": cfg.seed, "min_difficulty": 1,
                      "max_difficulty": 2, "value_max": cfg.value_max, "operand_max": cfg.operand_max,
                      "eval_per_difficulty": 4}
    assert json.loads(logged["train"].source)["tags"]["train_size"] == 30
    other = load_task_data(replace(cfg, seed=cfg.seed + 1))  # other problems: another digest
    assert task_inputs(cfg, other)[0].digest != logged["eval"].digest


def test_file_dataset_inputs_name_their_files(tmp_path):
    from lenbench.data import load_task_data

    rows = [json.dumps({"problem": f"What is {i}+1?", "answer": i + 1}) for i in range(40)]
    (tmp_path / "train.jsonl").write_text("\n".join(rows) + "\n")
    (tmp_path / "eval.jsonl").write_text("\n".join(rows[:5]) + "\n")
    train, evaluation = str(tmp_path / "train.jsonl"), str(tmp_path / "eval.jsonl")
    files = {"name": "tmp", "adapter": "file", "grader": "math", "eval": DataFileConfig(path=evaluation)}
    only_eval = DatasetConfig(**files)
    [only] = task_inputs(only_eval, load_task_data(only_eval))  # no train file: no train set
    assert (only.name, only.context, only.source) == ("tmp-eval", "eval", evaluation)
    dev = DatasetConfig(**files, train=DataFileConfig(path=train), eval_split="dev")
    data = load_task_data(dev)
    assert [(i.name, i.context, i.digest, i.source) for i in task_inputs(dev, data)] == [
        ("tmp-dev", "eval", data.eval_hash, train),  # the dev split is carved from the train file
        ("tmp-train", "train", data.train_hash, train)]


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


SLOW_END_JOB = """
import sys, time
import mlflow
from lenbench.config import TrackingConfig
from lenbench.tracking import tracked_run

end_run = mlflow.end_run
def slow_end_run(*args, **kwargs):  # a slow store: the run ends while more signals arrive
    time.sleep(0.5)
    end_run(*args, **kwargs)
mlflow.end_run = slow_end_run
store = TrackingConfig(uri=sys.argv[1], experiment="status-test")
try:
    with tracked_run(store, "signalled", {}, {}, "") as run:
        print(run.info.run_id, flush=True)
        time.sleep(60)
except KeyboardInterrupt as stop:
    print(type(stop).__name__, flush=True)
"""


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_signals_in_quick_succession_still_end_the_run_killed(store, tmp_path, signum):
    import subprocess
    import sys
    import time

    script = tmp_path / "job.py"
    script.write_text(SLOW_END_JOB)
    job = subprocess.Popen([sys.executable, str(script), store.uri], stdout=subprocess.PIPE, text=True,
                           preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # even when we ignore it
    run_id = job.stdout.readline().strip()
    for _ in range(3):  # the second and third arrive while the first is being handled
        job.send_signal(signum)
        time.sleep(0.05)
    out, _ = job.communicate(timeout=60)
    assert job.returncode == 0, out
    assert out.strip() == ("Terminated" if signum == signal.SIGTERM else "KeyboardInterrupt")
    assert _status(store, run_id) == "KILLED"


def test_a_signal_after_the_hold_raises_again():
    from lenbench.tracking.stop_signals import stop_signals_raise

    before = {signum: signal.getsignal(signum) for signum in (signal.SIGTERM, signal.SIGINT)}
    raised = 0
    with stop_signals_raise(hold_seconds=0.0):
        for _ in range(2):
            try:
                os.kill(os.getpid(), signal.SIGTERM)
            except Terminated:
                raised += 1
    assert raised == 2
    assert {signum: signal.getsignal(signum) for signum in before} == before  # previous handlers back


def test_an_ignored_signal_stays_ignored():
    from lenbench.tracking.stop_signals import stop_signals_raise

    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # as in a job started in the background
    try:
        with stop_signals_raise():
            assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
            os.kill(os.getpid(), signal.SIGINT)  # ignored: nothing raised
    finally:
        signal.signal(signal.SIGINT, previous)
