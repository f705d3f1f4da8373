"""The methods' TRL adapters on hand-made batches: groups by position, LAPO plans on a real BPE tokenizer,
IAPO probes under gradient checkpointing. (2 processes and accumulation: tests/test_distributed.py.)"""

from types import SimpleNamespace

import pytest
import torch
from transformers import AutoTokenizer

from lenbench.data.prompts import PLAN_SENTENCE
from lenbench.errors import ConfigError
from lenbench.methods.lapo import LAPOMethodConfig, gaussian_length_reward, parse_plan, self_plan_reward
from lenbench.methods.lead import LEADMethodConfig, psi_targets

TESTBED_PLAN = ("I will answer the question with", "tokens .")


# --- groups are TRL's consecutive rows, not prompt ids (a prompt drawn twice is two groups) ---------------


def test_lead_target_length_per_group_when_a_problem_repeats():
    from lenbench.train.lead import EfficiencyReward

    method = LEADMethodConfig(efficiency_mode="upper_only", aggregator="mean_correct", length_min=1.0)
    reward = EfficiencyReward(method, "exact", group_size=2)
    # q drawn twice: L* = 15 for the first group, 50 for the second (merged it would be 32.5 for all four)
    rewards = reward(prompts=["p"] * 4, completions=["</think> answer 5"] * 4, answer=["5"] * 4,
                     completion_ids=[[0] * n for n in (10, 20, 40, 60)], problem_id=["q"] * 4)
    assert rewards == pytest.approx([0.0, 1 - 20 / 15, 0.0, 1 - 60 / 50])


def test_psi_targets_from_groups_of_consecutive_rows():
    from lenbench.train.lead import PSIHooks

    # (correctness, efficiency): groups [1, 1] and [1, 0]; efficiency of correct rows [-0.5, -0.1] and [-0.9]
    rewards = torch.tensor([[1.0, -0.5], [1.0, -0.1], [1.0, -0.9], [0.0, -0.2]])
    got = PSIHooks(LEADMethodConfig(sharpness=1.0)).batch_targets(rewards, 2)
    assert vars(got) == pytest.approx(vars(psi_targets([[1, 1], [1, 0]], [[-0.5, -0.1], [-0.9]])))
    merged = psi_targets([[1, 1, 1, 0]], [[-0.5, -0.1, -0.9]])  # what grouping by prompt id gave
    assert got.target_c != pytest.approx(merged.target_c)


# --- LAPO plans on the tiny Qwen2 byte-level BPE tokenizer -----------------------------------------------


@pytest.fixture(scope="module")
def bpe(tiny_dir):
    tokenizer = AutoTokenizer.from_pretrained(tiny_dir, local_files_only=True)
    assert type(tokenizer).__name__.startswith("Qwen2Tokenizer")
    return tokenizer


REALISTIC = [  # (completion after the forced "I will answer the question with", declared n, plan text)
    (" 40 tokens. Okay, let me compute 2 + 3 = 5. </think> answer 5", 40, " 40 tokens."),
    (" 523 tokens . Okay, 2 + 3 = 5 </think> answer 5", 523, " 523 tokens ."),
    (" 1,234 tokens.\nFirst, 2 + 3 = 5. </think> answer 5", 1234, " 1,234 tokens."),
    (" 12 tokens.", 12, " 12 tokens."),  # plan and nothing else: no answer, so wrong
    (" Okay, there is no plan here: 2 + 3 = 5. </think> answer 5", None, ""),
    (" 40 tokens or so. </think> answer 5", None, ""),
]


def _rollout(tokenizer, text):
    ids = tokenizer.encode(text, add_special_tokens=False) + [tokenizer.eos_token_id]
    return tokenizer.decode(ids, skip_special_tokens=True), ids  # what TRL hands the reward function


@pytest.mark.parametrize("text, declared, plan_text", REALISTIC)
def test_self_mode_reward_counts_plan_and_reasoning_in_tokens(bpe, text, declared, plan_text):
    from lenbench.train.lapo import InternalizationReward

    method = LAPOMethodConfig(plan_mode="self", beta=0.8, sigma=12.0, plan_weight=0.5, plan_sigma=6.0)
    reward = InternalizationReward(method, "exact", {"q": 30.0}, PLAN_SENTENCE, bpe)
    completion, ids = _rollout(bpe, text)
    found = parse_plan(completion, PLAN_SENTENCE[1])
    assert (found.declared if found else None) == declared
    plan_tokens = len(bpe.encode(plan_text, add_special_tokens=False))
    if declared:
        assert plan_tokens > len(plan_text.split())  # BPE: digits are single tokens, "." its own
        assert bpe.decode(ids[:plan_tokens]) == plan_text
    correct = "answer 5" in text
    reasoning = len(ids) - plan_tokens  # tokens after the plan, EOS included
    expected = self_plan_reward(declared, reasoning, correct, 30.0, beta=0.8, sigma=12.0, plan_weight=0.5,
                                plan_sigma=6.0)
    got = reward(prompts=["p"], completions=[completion], completion_ids=[ids], answer=["5"], problem_id=["q"])
    assert got == pytest.approx([expected])
    if declared and correct:
        by_hand = 1.0 + 0.8 * gaussian_length_reward(reasoning, declared, 12.0) + 0.5 * gaussian_length_reward(
            declared, 30.0, 6.0)
        assert got[0] == pytest.approx(by_hand)


def test_plan_tokens_from_the_rollouts_ids(bpe):
    from lenbench.train.lapo import plan_tokens

    completion, ids = _rollout(bpe, " 7 tokens.\n\nOkay")
    found = parse_plan(completion, PLAN_SENTENCE[1])
    assert plan_tokens(bpe, found, completion, ids) == plan_tokens(bpe, found, completion) == len(
        bpe.encode(" 7 tokens.", add_special_tokens=False))

    class Pieces:  # a vocabulary with a token ".\n" that straddles the plan's end: it counts as plan
        pieces = [" 7", " tokens", ".\n", "Okay"]

        def decode(self, ids, skip_special_tokens=True):
            return "".join(self.pieces[i] for i in ids)

    assert plan_tokens(Pieces(), parse_plan(" 7 tokens.\nOkay", "tokens."), " 7 tokens.\nOkay", [0, 1, 2, 3]) == 3


def test_prompt_mode_reward_and_plan_use_tokens(bpe):
    from lenbench.methods.lapo import stage2_prompt
    from lenbench.train.lapo import InternalizationReward

    method = LAPOMethodConfig(plan_mode="prompt", beta=0.8, sigma=12.0)
    completion, ids = _rollout(bpe, " Okay, 2 + 3 = 5. </think> answer 5")
    got = InternalizationReward(method, "exact", {"q": 10.0}, PLAN_SENTENCE, bpe)(
        prompts=["p"], completions=[completion], completion_ids=[ids], answer=["5"], problem_id=["q"])
    assert got == pytest.approx([1.0 + 0.8 * gaussian_length_reward(len(ids), 10.0, 12.0)])
    assert len(ids) != len(completion.split())
    prompt = stage2_prompt("<|assistant|>\n", "prompt", 523.0, *PLAN_SENTENCE)
    assert prompt.endswith("with 523 tokens.") and parse_plan(prompt.split("with")[-1], PLAN_SENTENCE[1])


def test_eval_plan_fidelity_counts_tokens(bpe):
    import pandas as pd

    from lenbench.train.lapo import eval_plan_metrics

    rows = [_rollout(bpe, text) for text, _, _ in REALISTIC[:3]]
    samples = pd.DataFrame({"decoding": "sample", "completion": [c for c, _ in rows],
                            "tokens": [len(ids) for _, ids in rows]})
    plans = [len(bpe.encode(p, add_special_tokens=False)) for _, _, p in REALISTIC[:3]]
    metrics = eval_plan_metrics(samples, LAPOMethodConfig(plan_mode="self"), PLAN_SENTENCE, bpe)
    errors = sorted(abs(n - (len(ids) - p)) for (_, ids), (_, n, _), p in zip(rows, REALISTIC, plans, strict=False))
    assert metrics["plan_rate"] == 1.0 and metrics["plan_median_abs_error"] == errors[1]


def test_a_plan_the_tokenizer_cannot_write_is_a_config_error(bpe):
    from lenbench.testbed.tokenizer import build_tokenizer
    from lenbench.train.lapo import check_plan

    check_plan(bpe, PLAN_SENTENCE)
    check_plan(build_tokenizer(255), TESTBED_PLAN)
    with pytest.raises(ConfigError, match=r"cannot write the dataset's plan sentence .*with 12 tokens\.'") as error:
        check_plan(build_tokenizer(255), PLAN_SENTENCE)  # "tokens." is not a testbed word
    assert "\n" not in str(error.value)


def test_lapo_job_with_an_unwritable_plan_fails_before_compute(compose, tmp_path, monkeypatch):
    from dataclasses import replace

    import lenbench.run as entry
    import lenbench.testbed.data as testbed

    loaded = testbed.load_testbed  # the testbed with a plan in words its tokenizer lacks
    monkeypatch.setattr("lenbench.testbed.data.load_testbed", lambda cfg: replace(loaded(cfg), plan=PLAN_SENTENCE))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match="cannot write the dataset's plan sentence"):
        entry.run_job(compose("+experiment=micro", "method=lapo", "model.plan_fraction=0.5"))
    assert not (tmp_path / "mlflow.db").exists()


# --- IAPO probes with gradient checkpointing -------------------------------------------------------------


@pytest.mark.e2e
def test_iapo_probe_scores_are_the_same_with_gradient_checkpointing(compose):
    from lenbench.config import load_run_config
    from lenbench.models import load_model, policy_path
    from lenbench.train.iapo import IAPOHooks

    run = load_run_config(compose("+experiment=micro", "method=iapo"))
    model, tokenizer = load_model(policy_path(run))
    prompts = [tokenizer.encode(p, add_special_tokens=False) for p in ("compute 3 + 4 <think>", "compute 7 <think>")]
    completions = [tokenizer.encode(c, add_special_tokens=False) for c in
                   ("3 + 4 = 7 ; </think> answer 7", "7 ok </think> answer 8 ; 1")]
    width, reach = max(map(len, prompts)), max(map(len, completions))
    batch = {
        "prompt_ids": torch.tensor([[0] * (width - len(p)) + p for p in prompts]),
        "prompt_mask": torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts]),
        "completion_ids": torch.tensor([c + [0] * (reach - len(c)) for c in completions]),
        "completion_mask": torch.tensor([[1] * len(c) + [0] * (reach - len(c)) for c in completions]),
        "advantages": torch.tensor([0.5, -0.5]),
    }
    logged = []
    trainer = SimpleNamespace(model=model, temperature=1.0, args=SimpleNamespace(gradient_checkpointing_kwargs=None),
                              accelerator=SimpleNamespace(unwrap_model=lambda m: m, process_index=0),
                              log_hook_metric=lambda name, value: logged.append(name))
    results = {}
    for checkpointing in (False, True):
        hooks = IAPOHooks(run.method, tokenizer)
        scored = []

        def recorded(*args, score=hooks.scores, keep=scored):
            keep.append(score(*args))
            return keep[-1]

        hooks.scores = recorded
        hooks.after_rewards(trainer, torch.tensor([[1.0], [0.0]]), [{}, {}], completions)
        model.train()  # TRL scores rollouts with the model in train mode
        if checkpointing:
            model.gradient_checkpointing_enable()
        out = hooks.after_scoring(trainer, dict(batch), [{}, {}])
        results[checkpointing] = (scored[0], out["advantages"])
        assert model.is_gradient_checkpointing == checkpointing  # restored after the probes
        model.gradient_checkpointing_disable()
    assert torch.allclose(results[True][0], results[False][0], atol=1e-6)
    assert torch.allclose(results[True][1], results[False][1], atol=1e-6)
    assert results[False][0].abs().sum() > 0


def test_method_code_takes_the_plan_sentence_from_the_dataset_not_the_testbed():
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parents[1] / "lenbench"
    for path in [*(root / "methods").glob("*.py"), *(root / "train").glob("*.py")]:
        imported = [node.module for node in ast.walk(ast.parse(path.read_text()))
                    if isinstance(node, ast.ImportFrom) and node.module]
        assert not [m for m in imported if m.startswith("lenbench.testbed")], path.name
