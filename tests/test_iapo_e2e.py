"""IAPO on the real engine (micro testbed): zero token terms are plain GRPO, every estimator runs."""

import mlflow
import pytest
import torch

import lenbench.run as entry
from lenbench.config import load_run_config
from lenbench.errors import ConfigError
from lenbench.models import load_model, policy_path
from lenbench.testbed.data import load_testbed
from lenbench.train.grpo import build_trainer
from lenbench.train.iapo import IAPOHooks

pytestmark = pytest.mark.e2e


def length_reward(completion_ids, **_):
    """A reward that varies inside groups even for the untrained micro model (never correct, often
    truncated, so lengths can tie): length plus a hash of the tokens."""
    return [len(ids) / 100 + (sum(ids) % 97) / 97 for ids in completion_ids]


def _one_step(run, data, tmp_path, hooks_for=None):
    model, tokenizer = load_model(policy_path(run))
    hooks = hooks_for(tokenizer) if hooks_for else None
    trainer = build_trainer(run, model, tokenizer, data.train, [length_reward], tmp_path, max_steps=1, hooks=hooks)
    trainer.train()
    return [p.detach().clone() for p in trainer.model.parameters()]


def test_zero_token_terms_reproduce_plain_grpo(compose, tmp_path):
    run = load_run_config(compose("+experiment=micro", "method=iapo", "method.score_weight=0",
                                  "method.entropy_weight=0"))
    data = load_testbed(run.dataset)
    start = [p.detach().clone() for p in load_model(policy_path(run))[0].parameters()]
    plain = _one_step(run, data, tmp_path / "grpo")
    shaped = _one_step(run, data, tmp_path / "iapo", lambda tok: IAPOHooks(run.method, tok))
    assert any(not torch.equal(a, b) for a, b in zip(start, plain, strict=True))  # the step did something
    for a, b in zip(plain, shaped, strict=True):
        assert torch.equal(a, b)


@pytest.mark.parametrize("estimator", ["early_exit", "answer_logprob", "next_token"])
def test_iapo_job_runs_with_each_estimator(compose, tmp_path, monkeypatch, estimator):
    monkeypatch.chdir(tmp_path)
    uri = f"sqlite:///{tmp_path / 'iapo.db'}"
    entry.run_job(compose("+experiment=micro", "method=iapo", f"method.estimator={estimator}", "method.stride=2",
                          f"tracking.uri={uri}"))
    mlflow.set_tracking_uri(uri)
    run = mlflow.search_runs(experiment_names=["lenbench"]).iloc[0]
    assert run["status"] == "FINISHED" and run["params.method.estimator"] == estimator
    history = mlflow.MlflowClient().get_metric_history(run.run_id, "train/iapo/probe_seconds")
    assert len(history) == 2


def test_unencodable_answer_suffix_is_rejected_before_training(compose, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match="method.answer_suffix='#### final' cannot be encoded"):
        entry.run_job(compose("+experiment=micro", "method=iapo", "method.answer_suffix='#### final'"))
    assert not (tmp_path / "mlflow.db").exists()
