"""LEAD on the real engine (micro testbed): weights from the same batch, whitening, resume, a full job."""

import json

import mlflow
import pytest
import torch

import lenbench.run as entry
from lenbench.config import load_run_config
from lenbench.methods.lead import decoupled_advantages
from lenbench.models import load_model, policy_path
from lenbench.testbed.data import load_testbed
from lenbench.train.grpo import HOOK_STATE_FILE, build_trainer
from lenbench.train.lead import EfficiencyReward, PSIHooks
from lenbench.train.rewards import correctness_reward_func

pytestmark = pytest.mark.e2e


class RecordingPSIHooks(PSIHooks):
    """PSIHooks that keep what each step saw: EMA before the update, raw rewards, weights, advantages."""

    def __init__(self, method):
        super().__init__(method)
        self.steps = []

    def after_rewards(self, trainer, rewards_per_func, inputs, completion_ids):
        before = (self.weights.ema_c, self.weights.ema_e)
        rewards = super().after_rewards(trainer, rewards_per_func, inputs, completion_ids)
        self.steps.append({"ema_before": before, "rewards": rewards.clone(),
                           "weights": trainer.reward_weights.clone()})
        return rewards

    def after_scoring(self, trainer, batch, inputs):
        batch = super().after_scoring(trainer, batch, inputs)
        self.steps[-1].update(advantages=batch["advantages"].clone(), lengths=batch["completion_mask"].sum(1))
        return batch


def _lead_trainer(compose, tmp_path, *overrides, max_steps=None):
    run = load_run_config(compose("+experiment=micro", "method=lead", *overrides))
    data = load_testbed(run.dataset)
    model, tokenizer = load_model(policy_path(run))
    hooks = RecordingPSIHooks(run.method)
    rewards = [correctness_reward_func(data.grader),
               EfficiencyReward(run.method, data.grader, run.trainer.num_generations)]
    trainer = build_trainer(run, model, tokenizer, data.train, rewards, tmp_path / "trainer", hooks=hooks,
                            aggregation="normalize_then_sum", max_steps=max_steps)
    return run, trainer, hooks


@pytest.mark.parametrize("whiten", ["sequence", "token"])
def test_advantages_use_the_weights_of_their_own_batch(compose, tmp_path, whiten):
    run, trainer, hooks = _lead_trainer(compose, tmp_path, f"method.whiten={whiten}")
    trainer.train()
    assert len(hooks.steps) == run.trainer.max_steps
    for step in hooks.steps:
        w_c, w_e = step["weights"].tolist()
        assert w_c >= run.method.w_min and w_c + w_e == pytest.approx(1.0)
        expected = decoupled_advantages(step["rewards"][:, 0], step["rewards"][:, 1], run.trainer.num_generations,
                                        w_c, w_e, whiten, step["lengths"])
        assert torch.allclose(step["advantages"], expected, atol=1e-4)
    # the EMA moves from (0.5, 0.5) toward each batch's targets, one update per step
    assert hooks.steps[0]["ema_before"] == (0.5, 0.5)
    assert hooks.steps[1]["ema_before"] != (0.5, 0.5)


def test_static_weights_are_fixed(compose, tmp_path):
    _, trainer, hooks = _lead_trainer(compose, tmp_path, "method.weights=static", "method.static_w_c=0.8")
    trainer.train()
    assert [step["weights"].tolist() for step in hooks.steps] == [pytest.approx([0.8, 0.2])] * 2
    assert hooks.weights.ema_c == 0.5  # no EMA under static weights


def test_psi_state_is_checkpointed_and_restored_on_resume(compose, tmp_path):
    _, trainer, hooks = _lead_trainer(compose, tmp_path / "first", "trainer.save_steps=1")
    trainer.train()
    checkpoint = tmp_path / "first" / "trainer" / "checkpoint-1"
    saved = json.loads((checkpoint / HOOK_STATE_FILE).read_text())
    assert (saved["ema_c"], saved["ema_e"]) == hooks.steps[1]["ema_before"]  # the state after step 1

    _, resumed, fresh = _lead_trainer(compose, tmp_path / "second", "trainer.save_steps=1")
    resumed.train(resume_from_checkpoint=str(checkpoint))
    assert len(fresh.steps) == 1  # only step 2 runs
    assert fresh.steps[0]["ema_before"] == (saved["ema_c"], saved["ema_e"])


def test_resume_from_a_checkpoint_without_method_state_fails_clearly(compose, tmp_path):
    _, trainer, _ = _lead_trainer(compose, tmp_path / "first", "trainer.save_steps=1")
    trainer.train()
    checkpoint = tmp_path / "first" / "trainer" / "checkpoint-1"
    (checkpoint / HOOK_STATE_FILE).unlink()
    _, resumed, _ = _lead_trainer(compose, tmp_path / "second", "trainer.save_steps=1")
    with pytest.raises(FileNotFoundError, match=f"has no {HOOK_STATE_FILE}"):
        resumed.train(resume_from_checkpoint=str(checkpoint))


def test_lead_job_logs_weights_every_step(compose, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    uri = f"sqlite:///{tmp_path / 'lead.db'}"
    entry.run_job(compose("+experiment=micro", "method=lead", f"tracking.uri={uri}"))
    mlflow.set_tracking_uri(uri)
    run = mlflow.search_runs(experiment_names=["lenbench"]).iloc[0]
    assert run["status"] == "FINISHED" and run["tags.method"] == "lead"
    client = mlflow.MlflowClient()
    for name in ("w_c", "w_e", "target_c", "target_e", "cv_c", "cv_e", "potential_c", "potential_e",
                 "unsolved_frac"):
        assert len(client.get_metric_history(run.run_id, f"train/lead/{name}")) == 2, name
    assert "metrics.eval/accuracy" in run
