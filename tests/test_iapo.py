"""IAPO maths on hand-computed cases (shared/docs/methods.md) and config errors."""

import math

import pytest
import torch

from lenbench.methods.iapo import (
    IAPOMethodConfig,
    information_gains,
    masked_zscore,
    probe_positions,
    smooth_scores,
    token_advantages,
)


def test_masked_zscore_ignores_padding():
    # valid 1, 2, 3 (padding 100 after EOS): mean 2, population std sqrt(2/3)
    z = masked_zscore(torch.tensor([[1.0, 2.0, 3.0, 100.0]]), torch.tensor([[1, 1, 1, 0]]), eps=0.0)
    s = math.sqrt(1.5)
    assert torch.allclose(z, torch.tensor([[-s, 0.0, s, 0.0]]))
    # x - mean / std (the reference's precedence bug) would give 1 - 2 / 0.816 = -1.449 for the first token
    assert z[0, 0] != pytest.approx(1.0 - 2.0 / math.sqrt(2 / 3))


def test_probe_positions_and_strided_gains():
    assert probe_positions(5, 1) == [0, 1, 2, 3, 4, 5]
    assert probe_positions(5, 2) == [0, 2, 4, 5]
    assert probe_positions(0, 3) == [0]
    # U at prefixes 0, 2, 4, 5 = 2, 1, 0.5, 0: drops 1, 0.5, 0.5 spread over 2, 2, 1 tokens
    assert information_gains([(0, 2.0), (2, 1.0), (4, 0.5), (5, 0.0)], 5) == [0.5, 0.5, 0.25, 0.25, 0.5]
    assert information_gains([(0, 3.0), (1, 1.0), (2, 1.5)], 2) == [2.0, -0.5]


def test_smooth_scores_carries_decayed_previous_gain():
    s = smooth_scores(torch.tensor([[1.0, 2.0, 3.0]]), 0.5, torch.tensor([[1, 1, 0]]))
    assert torch.allclose(s, torch.tensor([[1.0, 2.5, 0.0]]))


def test_token_advantages_by_hand():
    # row 1 (correct, A = 1): z(s) = (-1, 1), z(h) = (-1, 1) -> 1 + 0.5 z(s) - 0.2 z(h) = (0.7, 1.3)
    # row 2 (wrong, A = -1): z(s) = (0, 0), z(h) = (-1, 1) -> -1 + 0.2 z(h) = (-1.2, -0.8)
    args = dict(
        advantages=torch.tensor([1.0, -1.0]),
        scores=torch.tensor([[1.0, 3.0], [5.0, 5.0]]),
        entropies=torch.tensor([[2.0, 4.0], [1.0, 3.0]]),
        mask=torch.ones(2, 2),
        correct=torch.tensor([True, False]),
    )
    shaped = token_advantages(**args, score_weight=0.5, entropy_weight=0.2)
    assert torch.allclose(shaped, torch.tensor([[0.7, 1.3], [-1.2, -0.8]]))
    scaled = token_advantages(**args, score_weight=0.5, entropy_weight=0.2, sqrt_length_scale=True)
    r = 0.3 / math.sqrt(2)
    assert torch.allclose(scaled, torch.tensor([[1 - r, 1 + r], [-1 - 0.2 / math.sqrt(2), -1 + 0.2 / math.sqrt(2)]]))
    # zero weights: every valid token carries the sequence advantage (plain GRPO), padding 0
    plain = token_advantages(**{**args, "mask": torch.tensor([[1, 1], [1, 0]])}, score_weight=0.0, entropy_weight=0.0)
    assert torch.equal(plain, torch.tensor([[1.0, 1.0], [-1.0, 0.0]]))


def test_policy_entropies_are_the_next_token_entropies_at_the_temperature():
    from types import SimpleNamespace

    from lenbench.train.iapo import policy_entropies

    # 1 prompt token, 2 completion tokens: the logits at positions 0 and 1 predict them, the last is dropped
    logits = torch.tensor([[[0.0, 0.0, 0.0, 0.0], [math.log(3), 0.0, -1e9, -1e9], [5.0, 0.0, 0.0, 0.0]]])

    def model(input_ids, attention_mask, position_ids, logits_to_keep):  # logits_to_keep: the positions kept
        assert position_ids.tolist() == [[0, 1, 2]]
        return SimpleNamespace(logits=logits[:, logits_to_keep])

    batch = {"prompt_ids": torch.tensor([[1]]), "prompt_mask": torch.tensor([[1]]),
             "completion_ids": torch.tensor([[2, 3]]), "completion_mask": torch.tensor([[1, 1]])}
    # temperature 0.5 doubles the logits: p = (9/10, 1/10) at position 1, still uniform at position 0
    expected = [math.log(4), -(0.9 * math.log(0.9) + 0.1 * math.log(0.1))]
    assert policy_entropies(model, batch, 0.5)[0].tolist() == pytest.approx(expected, abs=1e-6)


def test_policy_entropies_in_passes_under_a_logit_budget_equal_one_pass():
    from transformers import Qwen2Config, Qwen2ForCausalLM

    from lenbench.train.iapo import policy_entropies

    torch.manual_seed(0)
    model = Qwen2ForCausalLM(Qwen2Config(vocab_size=97, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                                         num_key_value_heads=1, intermediate_size=32)).eval()
    rows, width = 5, 7
    batch = {"prompt_ids": torch.randint(0, 97, (rows, 3)), "prompt_mask": torch.tensor([[0, 1, 1]] * rows),
             "completion_ids": torch.randint(0, 97, (rows, width)), "completion_mask": torch.ones(rows, width)}
    whole = policy_entropies(model, batch, 0.7)
    calls = []
    model.register_forward_pre_hook(lambda module, args, kwargs: calls.append(kwargs["input_ids"].shape[0]),
                                    with_kwargs=True)
    budget = 2 * (width + 1) * 97  # two rollouts' logits per pass
    assert torch.allclose(policy_entropies(model, batch, 0.7, budget), whole, atol=1e-6)
    assert calls == [2, 2, 1]
    calls.clear()
    # under one rollout's logits: one rollout at a time, in chunks of positions continuing a KV cache
    assert torch.allclose(policy_entropies(model, batch, 0.7, 3 * 97), whole, atol=1e-6)
    assert calls == [1] * (rows * 4)  # 10 positions in chunks of 3
    calls.clear()
    assert torch.allclose(policy_entropies(model, batch, 0.7, 1), whole, atol=1e-6)  # one position per pass
    assert calls == [1] * (rows * 10)


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"estimator": "mutual"}, "method.estimator='mutual' is not a known option; allowed: 'early_exit'"),
        ({"score_weight": -1.0}, r"method.score_weight=-1.0 is out of range; allowed: >= 0.0"),
        ({"entropy_weight": -0.1}, r"method.entropy_weight=-0.1 is out of range; allowed: >= 0.0"),
        ({"stride": 0}, r"method.stride=0 is out of range; allowed: >= 1"),
        ({"probe_batch": 0}, r"method.probe_batch=0 is out of range"),
    ],
)
def test_iapo_config_bad_values(changes, message):
    from lenbench.errors import ConfigError

    IAPOMethodConfig().validate()
    with pytest.raises(ConfigError, match=message):
        IAPOMethodConfig(**changes).validate()


def _tiny_llama(attention: str = "sdpa"):
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=24, hidden_size=16, intermediate_size=32, num_hidden_layers=2,
                         num_attention_heads=2, max_position_embeddings=64, pad_token_id=0,
                         attn_implementation=attention)
    return LlamaForCausalLM(config).eval()


def test_find_answer():
    from lenbench.train.iapo_probe import find_answer

    assert find_answer([5, 6, 7, 8, 9, 2], [6, 7], {2}) == [8, 9]
    assert find_answer([6, 7, 3, 6, 7, 4, 2], [6, 7], {2}) == [4]  # the last suffix counts
    assert find_answer([5, 8, 9, 2], [6, 7], {2}) is None
    assert find_answer([5, 6, 7, 2], [6, 7], {2}) is None  # suffix but no answer


@pytest.mark.parametrize("attention", ["sdpa", "eager"])
@pytest.mark.parametrize("probe_batch", [3, 64])  # 3: each rollout's 7 probes in 3 passes over one cache; 64: one
@pytest.mark.parametrize("estimator, stride", [("early_exit", 1), ("early_exit", 2), ("answer_logprob", 1)])
def test_batched_probe_matches_one_unpadded_forward_per_prefix(estimator, stride, probe_batch, attention):
    from lenbench.train.iapo_probe import find_answer, probe_uncertainty

    model = _tiny_llama(attention)
    assert model.config._attn_implementation == attention
    suffix, eos = [6, 7], {2}
    # prompts of different lengths, so the batched probes are left-padded differently
    prompts = [[3, 4, 5], [9, 10, 11, 12, 13, 14]]
    completions = [[15, 16, 6, 7, 8, 2], [17, 6, 7, 18, 19, 2]]
    batched = probe_uncertainty(model, prompts, completions, suffix, estimator, stride=stride,
                                probe_batch=probe_batch, eos_ids=eos)
    for prompt, completion, probed in zip(prompts, completions, batched, strict=True):
        answer = find_answer(completion, suffix, eos) if estimator == "answer_logprob" else []
        assert [t for t, _ in probed] == probe_positions(len(completion), stride)
        for t, value in probed:
            context = prompt + completion[:t] + suffix
            with torch.no_grad():
                logits = model(input_ids=torch.tensor([context + answer[:-1]])).logits[0]
            if estimator == "early_exit":
                logp = torch.log_softmax(logits[-1].float(), dim=-1)
                expected = -(logp.exp() * logp).sum().item()
            else:
                logp = torch.log_softmax(logits.float(), dim=-1)
                expected = -sum(logp[len(context) - 1 + j, tok].item() for j, tok in enumerate(answer))
            assert value == pytest.approx(expected, abs=1e-4)


def test_a_long_rollouts_probes_run_in_bounded_passes_with_logits_only_where_read():
    """Issue 26 defect 1: one rollout's probes ran as one pass however many they were, with logits at every query
    (and at every position of the rollout pass): a 16k-token rollout over a 151,936-token vocabulary needs ~100 GB.
    Now: the rollout pass keeps one logit position; probes go in passes of at most probe_batch against one cache."""
    from lenbench.train.iapo_probe import probe_uncertainty

    model = _tiny_llama()
    widths, kept = [], []

    def record(module, args, kwargs):
        widths.append(kwargs["input_ids"].shape[1])
        keep = kwargs.get("logits_to_keep")
        kept.append(keep if isinstance(keep, int) else len(keep))

    model.register_forward_pre_hook(record, with_kwargs=True)
    prompt, completion, suffix = [3, 4, 5], [15, 16, 17, 18, 19, 20, 21, 22, 6, 7, 8, 2], [6, 7]  # 13 probes
    probed = probe_uncertainty(model, [prompt], [completion], suffix, "early_exit", probe_batch=4, eos_ids={2})
    assert [t for t, _ in probed[0]] == list(range(13))
    assert widths == [15, 8, 8, 8, 2]  # the rollout, then 4 + 4 + 4 + 1 probes of 2 tail tokens each
    assert kept == [1, 4, 4, 4, 1]  # one logit per probe: its tail's last token
