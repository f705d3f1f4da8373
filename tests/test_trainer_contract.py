"""Guards on the TRL internals lenbench wraps, and the wrapper's plug points on a real micro run."""

import inspect

import pytest
import torch
from trl import GRPOTrainer
from trl.trainer.utils import RepeatSampler

from lenbench.config import load_run_config
from lenbench.models import load_model, policy_path
from lenbench.testbed.data import load_testbed
from lenbench.train.grpo import build_trainer, fast_forward
from lenbench.train.rewards import correctness_reward_func


def test_wrapped_trl_signatures_are_unchanged():
    assert list(inspect.signature(GRPOTrainer._calculate_rewards).parameters) == [
        "self", "inputs", "prompts", "completions", "completion_ids_list",
    ]
    assert list(inspect.signature(GRPOTrainer._generate_and_score_completions).parameters) == ["self", "inputs"]
    # resume: the sampler, the epochs transformers counts as trained, the checkpoint save and load
    assert list(inspect.signature(GRPOTrainer._get_train_sampler).parameters) == ["self", "dataset"]
    assert list(inspect.signature(GRPOTrainer._init_training_state).parameters) == [
        "self", "max_steps", "num_update_steps_per_epoch", "num_train_epochs", "resume_from_checkpoint", "trial",
    ]
    assert list(inspect.signature(GRPOTrainer._save_checkpoint).parameters) == ["self", "model", "trial"]
    assert list(inspect.signature(GRPOTrainer._load_optimizer_and_scheduler).parameters) == ["self", "checkpoint"]


def test_fast_forward_puts_trls_sampler_at_a_later_epoch():
    """TRL's RepeatSampler draws each epoch's order from one generator when an iteration begins."""
    uninterrupted = RepeatSampler(list(range(12)), mini_repeat_count=2, batch_size=3, seed=7)
    epochs = [list(uninterrupted) for _ in range(3)]
    assert epochs[1] != epochs[2]
    for epoch in (1, 2):
        resumed = RepeatSampler(list(range(12)), mini_repeat_count=2, batch_size=3, seed=7)
        fast_forward(resumed, epoch)
        assert list(resumed) == epochs[epoch]


def test_correctness_reward_func_grades_each_completion():
    reward = correctness_reward_func("exact", correct_reward=2.0)
    completions = ["1 + 1 = 2 ; </think> answer 2", "1 + 1 = 3 ; </think> answer 3", "1 + 1 = 2 ;"]
    assert reward(prompts=["p"] * 3, completions=completions, answer=["2", "2", "2"]) == [2.0, 0.0, 0.0]


class RecordingHooks:
    """Replaces the batch's rewards with a fixed pattern, so the micro model gets a learning signal."""

    def __init__(self):
        self.reward_shapes, self.batches = [], []

    def after_rewards(self, trainer, rewards_per_func, inputs, completion_ids):
        self.reward_shapes.append(tuple(rewards_per_func.shape))
        assert len(completion_ids) == len(inputs) == rewards_per_func.shape[0]
        pattern = torch.arange(rewards_per_func.shape[0], dtype=rewards_per_func.dtype) % 2
        return pattern.unsqueeze(1).to(rewards_per_func.device)

    def after_scoring(self, trainer, batch, inputs):
        self.batches.append({k: v for k, v in batch.items() if isinstance(v, torch.Tensor)})
        return batch


def test_hooks_see_the_batch_and_their_rewards_train_the_model(compose, tmp_path):
    run = load_run_config(compose("+experiment=micro"))
    data = load_testbed(run.dataset)
    model, tokenizer = load_model(policy_path(run))
    before = [p.detach().clone() for p in model.parameters()]
    hooks = RecordingHooks()
    rewards = [correctness_reward_func(data.grader)]
    trainer = build_trainer(run, model, tokenizer, data.train, rewards, tmp_path, hooks=hooks)
    trainer.train()
    group = run.trainer.prompts_per_step * run.trainer.num_generations
    assert hooks.reward_shapes == [(group, 1)] * run.trainer.max_steps
    advantages = hooks.batches[0]["advantages"]
    # the hook's 0/1 rewards alternate inside every group of 2: mean 0.5, unbiased std sqrt(0.5),
    # so |A| = 0.5 / 0.7071 = 0.7071, with the sign of reward - mean
    expected = torch.tensor([-1.0, 1.0]).repeat(advantages.numel() // 2) * 0.5 / 0.5**0.5
    assert torch.allclose(advantages, expected, atol=1e-3)
    changed = any(not torch.equal(a, b) for a, b in zip(before, trainer.model.parameters(), strict=True))
    assert changed


# --- trainer.extra: any further GRPOConfig field, checked before any compute -----------------------


def test_a_further_grpo_config_field_reaches_trl(compose, tmp_path):
    from lenbench.preflight import check_job
    from lenbench.train.grpo import grpo_args

    run = check_job(compose("+experiment=micro", "+trainer.extra.mask_truncated_completions=true"))
    assert run.trainer.extra == {"mask_truncated_completions": True}
    assert grpo_args(run.trainer, tmp_path, 0, use_cpu=True).mask_truncated_completions is True
    assert grpo_args(load_run_config(compose("+experiment=micro")).trainer, tmp_path, 0,
                     use_cpu=True).mask_truncated_completions is False  # TRL's default otherwise


@pytest.mark.parametrize("override, message", [
    ("+trainer.extra.mask_truncated_completion=true",
     r"^trainer\.extra\.mask_truncated_completion: trl\.GRPOConfig .* has no such field; allowed: .*"
     r"\(closest: mask_truncated_completions"),
    ("+trainer.extra.mask_truncated_completions=maybe",
     r"^trainer\.extra\.mask_truncated_completions='maybe' is not of .*type; allowed: bool$"),
    ("+trainer.extra.learning_rate=0.1", r"^trainer\.extra\.learning_rate=0\.1: .*\(set trainer\.learning_rate\)"),
    ("+trainer.extra.generation_batch_size=7",
     r"^trainer\.extra \(generation_batch_size=7\): GRPOConfig refuses it: generation_batch_size \(7\) must be"),
    # settings that would bypass the run's own (the completion cap recorded as 48, rollouts of 400)
    ("+trainer.extra.generation_kwargs={max_tokens:400}",
     r"^trainer\.extra\.generation_kwargs\.max_tokens: the run sets it \(trainer\.max_completion_length"),
    ("+trainer.extra.generation_kwargs={max_new_tokens:400,top_k:3}",
     r"^trainer\.extra\.generation_kwargs\.max_new_tokens"),
    ("+trainer.extra.reward_weights=[1.0,2.0,3.0]", r"^trainer\.extra\.reward_weights=.*the method decides how its "
                                                    r"rewards combine"),
    # values TRL takes and the generation backend refuses only after the model loaded
    ("+trainer.extra.top_k=-5", r"^trainer\.extra\.top_k=-5 is out of range; allowed: >= 0$"),
    ("+trainer.extra.min_p=1.5", r"^trainer\.extra\.min_p=1\.5 is out of range; allowed: in \[0\.0, 1\.0\]$"),
    ("+trainer.extra.repetition_penalty=0.0", r"^trainer\.extra\.repetition_penalty=0\.0 is out of range"),
])
def test_an_unknown_or_invalid_grpo_config_field_is_one_line_naming_it(compose, override, message):
    from lenbench.errors import ConfigError
    from lenbench.preflight import check_job

    with pytest.raises(ConfigError, match=message) as error:
        check_job(compose("+experiment=micro", override))
    assert "\n" not in str(error.value)


def test_an_invalid_grpo_config_field_stops_the_cli_before_any_model_is_loaded(cli, tmp_path):
    result = cli("+experiment=micro", "+trainer.extra.mask_truncated_completion=true")
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "lenbench: config error: trainer.extra.mask_truncated_completion: trl.GRPOConfig" in result.stderr
    assert not (tmp_path / "mlflow.db").exists()  # no run was started


def test_training_state_is_freed_when_training_returns(compose, tmp_path):
    """Issue 26 defect 8: the optimizer state (two float32 copies of the policy under AdamW) outlived training while
    the trainer was referenced (LAPO's stage 1 during stage 2, the job during evaluation), so the next vLLM engine
    started beside it. Once train() returns, only the policy remains."""
    import gc
    import weakref

    from transformers import TrainerCallback

    class KeepWeakrefs(TrainerCallback):
        refs: list = []

        def on_train_end(self, args, state, control, optimizer=None, **kwargs):
            self.refs = [weakref.ref(t) for s in optimizer.state.values() for t in s.values()
                         if isinstance(t, torch.Tensor) and t.numel() > 1]

    run = load_run_config(compose("+experiment=micro", "trainer.max_steps=1"))
    data = load_testbed(run.dataset)
    model, tokenizer = load_model(policy_path(run))
    watcher = KeepWeakrefs()
    trainer = build_trainer(run, model, tokenizer, data.train, [correctness_reward_func(data.grader)], tmp_path,
                            callbacks=[watcher])
    trainer.train()
    gc.collect()
    assert len(watcher.refs) >= 2 * sum(1 for p in model.parameters() if p.numel() > 1)  # exp_avg, exp_avg_sq
    assert [ref for ref in watcher.refs if ref() is not None] == []
    assert trainer.model is model and all(p.device.type == "cpu" for p in trainer.model.parameters())
