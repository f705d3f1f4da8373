"""trainer.resume: a run resumed from a checkpoint ends where the uninterrupted run ends.

The runs train the shipped testbed model (a learning signal; the micro model's rewards are all
zero) on a train set of a few problems, so checkpoints fall before and after epoch boundaries.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import deque
from pathlib import Path

import mlflow
import pytest
import torch
from pandas.testing import assert_series_equal

from lenbench.config import load_run_config
from lenbench.errors import ConfigError
from lenbench.methods.lapo import LengthTable
from lenbench.models import load_model, policy_path
from lenbench.registry import recipe_for
from lenbench.testbed.data import load_testbed
from lenbench.train.checkpoints import HOOK_STATE_FILE, checkpoint_step, job_settings, resolve_resume
from lenbench.train.grpo import build_trainer
from lenbench.train.lapo import LAPOState, train_lapo

pytestmark = pytest.mark.e2e

SHIPPED = ("+experiment=micro", "model=arith", "dataset=arith", "dataset.train_size=4",
           "trainer.num_generations=4", "trainer.max_completion_length=96", "trainer.save_steps=1",
           "trainer.save_total_limit=null")  # these tests resume from every checkpoint of one run


def steps_per_epoch(run) -> int:
    return run.dataset.train_size // run.trainer.prompts_per_step


def _trainer(run, out: Path):
    data = load_testbed(run.dataset)
    recipe = recipe_for(run, data)
    model, tokenizer = load_model(policy_path(run))
    trainer = build_trainer(run, model, tokenizer, data.train, recipe.reward_funcs(), out,
                            hooks=recipe.hooks(tokenizer), aggregation=recipe.aggregation, settings=recipe.settings())
    return trainer, [p.detach().clone() for p in model.parameters()]


@pytest.mark.parametrize("method", ["grpo", "lead"])
def test_resume_reproduces_the_uninterrupted_weights_across_epochs(compose, tmp_path, method):
    run = load_run_config(compose(*SHIPPED, f"method={method}", "trainer.max_steps=5"))
    epoch = steps_per_epoch(run)
    assert 1 < epoch < run.trainer.max_steps - 1  # a checkpoint before and one after the first epoch boundary
    assert run.trainer.max_steps % epoch  # the last checkpoint in the middle of an epoch
    full, start = _trainer(run, tmp_path / "full")
    full.train()
    final = list(full.model.parameters())
    assert any(not torch.equal(a, b) for a, b in zip(start, final, strict=True))  # it learned something
    for step in (epoch - 1, epoch + 1, run.trainer.max_steps):  # the last: nothing left to train
        resumed, _ = _trainer(run, tmp_path / f"from{step}")
        resumed.train(resume_from_checkpoint=str(tmp_path / "full" / f"checkpoint-{step}"))
        assert resumed.state.global_step == run.trainer.max_steps
        assert all(torch.equal(a, b) for a, b in zip(final, resumed.model.parameters(), strict=True)), step
        if method == "lead":
            assert resumed.hooks.state_dict() == full.hooks.state_dict()


def test_lapo_state_round_trip_and_its_checks():
    table = LengthTable(history_size=3)
    table.update("a", [5, 7, 9, 11])
    table.update("b", [4])
    saved = json.loads(json.dumps(LAPOState("discovery", table, "hash1", "arith").state_dict()))
    restored = LengthTable(history_size=3)
    restored.update("stale", [1])
    LAPOState("discovery", restored, "hash1", "arith").load_state_dict(saved)
    assert restored.lengths == table.lengths
    assert restored.lengths["a"] == deque([7, 9, 11], maxlen=3)
    with pytest.raises(ValueError, match="stage 'discovery' resumed as stage 'internalization'"):
        LAPOState("internalization", LengthTable(3), "hash1", "arith").load_state_dict(saved)
    with pytest.raises(ConfigError, match="built on another dataset"):
        LAPOState("discovery", LengthTable(3), "hash2", "arith").load_state_dict(saved)


def test_lapo_stage1_resume_restores_the_partial_table(compose, tmp_path):
    run = load_run_config(compose(*SHIPPED, "method=lapo", "method.stage=discovery", "method.discovery_steps=4"))
    data = load_testbed(run.dataset)

    def discovery(out, checkpoint=None):
        model, tokenizer = load_model(policy_path(run))
        train_lapo(run, model, tokenizer, data, out, lambda offset: [], checkpoint=checkpoint,
                   checkpoint_stage="discovery" if checkpoint else None)
        return json.loads((out / "length_table.json").read_text())

    full = discovery(tmp_path / "full")
    checkpoint = tmp_path / "full" / "discovery" / f"checkpoint-{steps_per_epoch(run) + 1}"
    partial = json.loads((checkpoint / HOOK_STATE_FILE).read_text())
    assert partial["stage"] == "discovery"
    assert partial["table"]["lengths"] and partial["table"]["lengths"] != full["lengths"]
    assert discovery(tmp_path / "resumed", checkpoint) == full


def test_resolve_resume_finds_complete_checkpoints_and_rejects_the_rest(compose, tmp_path):
    run = load_run_config(compose("+experiment=micro", "trainer.save_steps=1", "trainer.max_steps=3",
                                  "trainer.save_total_limit=null"))
    trainer, _ = _trainer(run, tmp_path / "trainer")
    trainer.train()
    folders = [tmp_path / "nothing", tmp_path / "trainer"]
    assert resolve_resume(None, folders) is None
    assert resolve_resume("auto", folders) == tmp_path / "trainer" / "checkpoint-3"
    (tmp_path / "trainer" / "checkpoint-3" / HOOK_STATE_FILE).unlink()  # as if killed while saving it
    assert resolve_resume("auto", folders) == tmp_path / "trainer" / "checkpoint-2"
    with pytest.raises(ConfigError, match="is not a complete checkpoint"):
        resolve_resume(str(tmp_path / "trainer" / "checkpoint-3"), folders)
    with pytest.raises(ConfigError, match="no such checkpoint folder"):
        resolve_resume(str(tmp_path / "missing"), folders)
    with pytest.raises(ConfigError, match="found no complete checkpoint in .*nothing"):
        resolve_resume("auto", folders[:1])
    with pytest.raises(ConfigError, match="saved at step 1, between two of the trainer.num_iterations=2"):
        resolve_resume(str(tmp_path / "trainer" / "checkpoint-1"), folders, num_iterations=2)


def test_resume_refuses_a_checkpoint_of_other_settings_and_falls_back_past_incomplete_ones(compose, tmp_path):
    from dataclasses import replace

    run = load_run_config(compose("+experiment=micro", "method=lead", "trainer.save_steps=1", "trainer.max_steps=3",
                                  "trainer.save_total_limit=null"))
    trainer, _ = _trainer(run, tmp_path / "trainer")
    trainer.train()
    folders, train_hash = [tmp_path / "trainer"], load_testbed(run.dataset).train_hash
    mine = job_settings(run, train_hash)
    assert resolve_resume("auto", folders, settings=mine) == tmp_path / "trainer" / "checkpoint-3"
    # what may change: where and how fast it runs, how it saves, and training on past max_steps
    same = replace(run, trainer=replace(run.trainer, max_steps=9, save_steps=5, torch_threads=2, resume="auto"))
    assert resolve_resume("auto", folders, settings=job_settings(same, train_hash)).name == "checkpoint-3"
    others = {
        "trainer.learning_rate": replace(run, trainer=replace(run.trainer, learning_rate=1e-3)),
        "trainer.num_generations": replace(run, trainer=replace(run.trainer, num_generations=4)),
        "seed": replace(run, seed=7),
        "method.w_min": replace(run, method=replace(run.method, w_min=0.3)),
    }
    for key, other in others.items():
        with pytest.raises(ConfigError, match=rf"^trainer.resume='auto': .*checkpoint-3 was written by a job with "
                                              rf"other settings \({key}: "):
            resolve_resume("auto", folders, settings=job_settings(other, train_hash))
    grpo = load_run_config(compose("+experiment=micro", "method=grpo"))
    with pytest.raises(ConfigError, match=r"method.name: \"lead\" -> \"grpo\""):
        resolve_resume("auto", folders, settings=job_settings(grpo, train_hash))
    with pytest.raises(ConfigError, match=r"dataset.train_hash: .* -> other"):
        resolve_resume("auto", folders, settings=job_settings(run, "other"))

    (tmp_path / "trainer" / "checkpoint-3" / "optimizer.pt").unlink()  # weights without their optimizer state
    assert resolve_resume("auto", folders, settings=mine).name == "checkpoint-2"
    with pytest.raises(ConfigError, match=r"is not a complete checkpoint \(no the optimizer state"):
        resolve_resume(str(tmp_path / "trainer" / "checkpoint-3"), folders, settings=mine)
    (tmp_path / "trainer" / "checkpoint-2" / HOOK_STATE_FILE).write_text("")  # an empty method state
    assert resolve_resume("auto", folders, settings=mine).name == "checkpoint-1"
    assert not list((tmp_path / "trainer").glob("*/.*.tmp"))  # the state files were renamed into place


def test_two_jobs_in_one_directory_the_second_is_refused(tmp_path):
    from lenbench.store_lock import output_dir_lock

    with output_dir_lock(tmp_path / "job"):
        script = ("import sys; from pathlib import Path; from lenbench.store_lock import output_dir_lock\n"
                  "with output_dir_lock(Path(sys.argv[1])): pass")
        other = subprocess.run([sys.executable, "-c", script, str(tmp_path / "job")], capture_output=True, text=True)
        assert other.returncode != 0 and f"another job is running in {tmp_path / 'job'}" in other.stderr
    other = subprocess.run([sys.executable, "-c", script, str(tmp_path / "job")], capture_output=True, text=True)
    assert other.returncode == 0, other.stderr  # released when the first job ended


def test_bad_resume_is_one_line_before_compute(cli, tmp_path):
    result = cli("+experiment=micro", "trainer.resume=/no/such/checkpoint", f"tracking.uri=sqlite:///{tmp_path}/m.db")
    assert result.returncode != 0
    assert result.stderr.strip().splitlines()[-1] == (
        "lenbench: config error: trainer.resume='/no/such/checkpoint': no such checkpoint folder")
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "m.db").exists()  # stopped before the MLflow run, so before any model


def _job(run_dir: Path, uri: str, name: str, *overrides: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "lenbench.run", *overrides, f"hydra.run.dir={run_dir}", f"tracking.uri={uri}",
         f"tracking.run_name={name}"],
        cwd=run_dir.parent, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        start_new_session=True,
    )


def test_lapo_killed_in_stage2_resumes_stage2_and_ends_with_the_uninterrupted_metrics(tmp_path):
    """kill -9 after a stage-2 checkpoint past an epoch boundary; trainer.resume=auto in the same directory."""
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    job = (*SHIPPED, "method=lapo", "method.discovery_steps=2", "method.internalization_steps=4",
           "dataset.eval_per_difficulty=2")
    full = _job(tmp_path / "full", uri, "full", *job)
    assert full.wait(timeout=600) == 0, full.stderr.read()
    checkpoint = tmp_path / "killed" / "lapo" / "internalization" / "checkpoint-3"  # stage-2 epoch 2 (2 steps each)
    killed = _job(tmp_path / "killed", uri, "killed", *job)
    deadline = time.monotonic() + 600
    while not (checkpoint / HOOK_STATE_FILE).exists():
        assert killed.poll() is None and time.monotonic() < deadline, "the job ended before the checkpoint"
        time.sleep(0.02)
    os.killpg(killed.pid, signal.SIGKILL)
    killed.wait()
    discovery = tmp_path / "killed" / "lapo" / "discovery"
    before = {path: path.stat().st_mtime_ns for path in discovery.rglob("*")}
    shutil.rmtree(tmp_path / "full" / "lapo" / "internalization")  # auto must not look outside its own directory
    resumed = _job(tmp_path / "killed", uri, "resumed", *job, "trainer.resume=auto")
    assert resumed.wait(timeout=600) == 0, resumed.stderr.read()
    assert {path: path.stat().st_mtime_ns for path in discovery.rglob("*")} == before  # stage 1 not rerun

    mlflow.set_tracking_uri(uri)
    runs = mlflow.search_runs(experiment_names=["lenbench"]).set_index("tags.mlflow.runName")
    resumed_from = Path(runs.loc["resumed", "tags.resumed_from"])
    assert resumed_from.parent == checkpoint.parent.resolve() and checkpoint_step(resumed_from) >= 3
    eval_metrics = [c for c in runs.columns if c.startswith("metrics.eval/")]
    assert "metrics.eval/accuracy" in eval_metrics and "metrics.eval/lapo/plan_rate" in eval_metrics
    assert_series_equal(runs.loc["resumed", eval_metrics], runs.loc["full", eval_metrics], check_names=False,
                        check_exact=True)  # NaN (a plan correlation of constant lengths) equals NaN
    client = mlflow.tracking.MlflowClient()
    stage2_steps = [m.step for m in client.get_metric_history(runs.loc["resumed", "run_id"], "train/reward")]
    assert all(step > 2 + checkpoint_step(resumed_from) for step in stage2_steps)  # stage 2 only, after it
    tables = [json.loads(Path(mlflow.artifacts.download_artifacts(
        run_id=runs.loc[name, "run_id"], artifact_path="lapo/length_table.json", dst_path=str(tmp_path / name),
    )).read_text()) for name in ("full", "resumed")]
    assert tables[0] == tables[1]
