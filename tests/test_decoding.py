"""lenbench.decoding: the decode loop whose batch shrinks as rows finish, against transformers' generate."""

import torch

from lenbench.config import compose_config, load_run_config
from lenbench.decoding import decode
from lenbench.models import load_policy, policy_path


def shipped():
    run = load_run_config(compose_config(["method=base"]))
    model, tokenizer = load_policy(run, policy_path(run))
    return model.eval(), tokenizer


PROMPTS = ["compute 7 + 5 - 3 * 2 <think>", "compute 4 * 3 + 9 <think>", "compute 12 - 5 + 6 - 2 * 1 <think>",
           "compute 3 <think>"]


def test_greedy_decoding_writes_what_generate_writes():
    model, tokenizer = shipped()
    ids = [tokenizer(p, add_special_tokens=False)["input_ids"] for p in PROMPTS]
    ours = decode(model, ids, num_samples=1, do_sample=False, temperature=1.0, top_p=1.0, max_new_tokens=40,
                  eos_ids={tokenizer.eos_token_id}, pad_id=tokenizer.pad_token_id)
    for prompt, (mine,) in zip(ids, ours, strict=True):  # one prompt at a time: no padding in the reference
        out = model.generate(torch.tensor([prompt]), do_sample=False, max_new_tokens=40,
                             eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)[0, len(prompt):]
        reference = out.tolist()
        if tokenizer.eos_token_id in reference:
            reference = reference[: reference.index(tokenizer.eos_token_id) + 1]
        assert mine == reference


def test_finished_rows_leave_the_batch():
    model, tokenizer = shipped()
    widths = []
    model.register_forward_pre_hook(lambda module, args, kwargs: widths.append(kwargs["input_ids"].shape[0]),
                                    with_kwargs=True)
    ids = [tokenizer(p, add_special_tokens=False)["input_ids"] for p in PROMPTS]
    outs = decode(model, ids, num_samples=3, do_sample=True, temperature=1.0, top_p=1.0, max_new_tokens=160,
                  eos_ids={tokenizer.eos_token_id}, pad_id=tokenizer.pad_token_id,
                  generator=torch.Generator().manual_seed(0))
    lengths = sorted(len(c) for per in outs for c in per)
    assert widths[0] == 12 and len(widths) == max(lengths)  # the prefill, then one forward per step but the last
    for step, rows in enumerate(widths[1:], start=1):  # step s feeds the rows still writing after s tokens
        assert rows == sum(1 for n in lengths if n > step)


def test_rollouts_go_through_the_loop_unless_a_setting_needs_generate(compose, tmp_path, monkeypatch):
    """trainer.decode_loop: TRL's transformers rollouts go through lenbench.decoding under the settings it honours;
    a repetition penalty (which the loop does not apply) leaves them to generate."""
    from lenbench import decoding
    from lenbench.testbed.data import load_testbed
    from lenbench.train.grpo import build_trainer
    from lenbench.train.rewards import correctness_reward_func

    calls = []
    original = decoding.decode_with_config
    monkeypatch.setattr(decoding, "decode_with_config", lambda *a, **k: calls.append(1) or original(*a, **k))
    for extra, expected in (([], 1), (["+trainer.extra.repetition_penalty=1.1"], 0)):
        calls.clear()
        run = load_run_config(compose("+experiment=micro", "trainer.max_steps=1", "trainer.decode_loop=true", *extra))
        data = load_testbed(run.dataset)
        model, tokenizer = load_policy(run, policy_path(run), training=True)
        trainer = build_trainer(run, model, tokenizer, data.train, [correctness_reward_func(data.grader)],
                                tmp_path / str(expected))
        trainer.train()
        assert len(calls) == expected, extra
        assert trainer.state.log_history[0]["completions/mean_length"] > 0
