"""The arith testbed: problems, traces, splits, tokenizer, oracle length (hand-computed cases)."""

import random

import pytest

from lenbench.grading import grade_exact
from lenbench.testbed.arith import (
    Problem,
    apply_op,
    is_eval_problem,
    plan_words,
    sample_problem,
    sample_split,
    verbose_completion,
)
from lenbench.testbed.tokenizer import build_tokenizer


def test_chain_is_applied_left_to_right():
    problem = Problem(7, (("+", 5), ("*", 2), ("-", 3)))
    assert [s.result for s in problem.steps()] == [12, 24, 21]  # ((7 + 5) * 2) - 3
    assert problem.answer == 21 and problem.difficulty == 3
    assert problem.prompt() == "compute 7 + 5 * 2 - 3 <think>"


def test_oracle_length_hand_computed():
    # 3 + 4 = 7 ; | 7 * 2 = 14 ; | </think> answer 14 <eos>  ->  6 + 6 + 4 = 16 tokens
    problem = Problem(3, (("+", 4), ("*", 2)))
    assert " ".join(problem.minimal_completion()) == "3 + 4 = 7 ; 7 * 2 = 14 ; </think> answer 14 <eos>"
    assert problem.oracle_length == 16
    # one step: 5 - 2 = 3 ; </think> answer 3 <eos> -> 10 tokens
    assert Problem(5, (("-", 2),)).oracle_length == 10


def test_oracle_length_counts_real_tokens():
    tokenizer = build_tokenizer(511)
    problem = Problem(3, (("+", 4), ("*", 2)))
    ids = tokenizer(" ".join(problem.minimal_completion()), add_special_tokens=False)["input_ids"]
    assert len(ids) == problem.oracle_length
    assert tokenizer.unk_token_id not in ids
    assert ids[-1] == tokenizer.eos_token_id


def test_values_stay_in_range_and_ops_are_valid():
    rng = random.Random(0)
    for _ in range(500):
        problem = sample_problem(rng, rng.randint(1, 6), value_max=30, operand_max=9)
        values = [problem.start] + [s.result for s in problem.steps()]
        assert all(0 <= v <= 30 for v in values)
        assert all(1 <= right <= 9 for _, right in problem.ops)


def test_splits_never_overlap_and_are_deterministic():
    kwargs = dict(difficulties=[1, 2, 3], value_max=99, operand_max=9)
    train = sample_split(5, 400, split="train", unique=False, **kwargs)
    held_out = sample_split(5, 100, split="eval", unique=True, **kwargs)
    assert {p.key for p in train}.isdisjoint({p.key for p in held_out})
    assert all(is_eval_problem(p) for p in held_out) and not any(is_eval_problem(p) for p in train)
    assert len({p.key for p in held_out}) == 100
    assert sample_split(5, 400, split="train", unique=False, **kwargs) == train
    assert sample_split(6, 400, split="train", unique=False, **kwargs) != train


def test_too_small_problem_space_is_a_clear_error():
    with pytest.raises(ValueError, match="problem space is too small"):
        sample_split(0, 500, [1], value_max=3, operand_max=2, split="eval", unique=True)


def test_verbose_trace_without_extras_is_the_minimal_trace():
    problem = Problem(3, (("+", 4), ("*", 2)))
    words = verbose_completion(problem, random.Random(0), p_verify=0.0, p_self_correct=0.0, value_max=99)
    assert words == problem.minimal_completion()


def test_verbose_trace_checks_and_corrections():
    problem = Problem(3, (("+", 4), ("*", 2)))
    always_check = verbose_completion(problem, random.Random(0), p_verify=1.0, p_self_correct=0.0, value_max=99)
    # every step re-stated once: 2 checks x 8 tokens on top of the 16-token oracle
    assert " ".join(always_check).count("check") == 2 and len(always_check) == 16 + 2 * 8
    corrected = verbose_completion(problem, random.Random(0), p_verify=0.0, p_self_correct=1.0, value_max=99)
    text = " ".join(corrected)
    assert text.count("fix") == 2 and "check 3 + 4 = 7 fix ;" in text and "check 7 * 2 = 14 fix ;" in text
    assert grade_exact(text, 14)  # the final answer is still right


def test_self_correction_writes_a_wrong_value_first():
    problem = Problem(3, (("+", 4),))
    words = verbose_completion(problem, random.Random(1), p_verify=0.0, p_self_correct=1.0, value_max=99)
    assert words[:4] == ["3", "+", "4", "="] and words[4] != "7"


def test_tokenizer_covers_every_word_a_method_needs():
    tokenizer = build_tokenizer(511)
    sentence = " ".join(plan_words(123))
    assert sentence == "I will answer the question with 123 tokens ."
    ids = tokenizer(sentence + " </think> answer 7 <eos>", add_special_tokens=False)["input_ids"]
    assert tokenizer.unk_token_id not in ids
    assert tokenizer.decode(ids, skip_special_tokens=True) == sentence + " </think> answer 7"


def test_apply_op_rejects_unknown_operator():
    with pytest.raises(ValueError, match="allowed"):
        apply_op(1, "/", 2)


def test_plan_traces_force_the_opening_and_state_the_true_length():
    from lenbench.config import DatasetConfig
    from lenbench.data.testbed import sft_dataset
    from lenbench.testbed.arith import PLAN_PREFIX

    traces = sft_dataset(DatasetConfig(max_difficulty=2), count=200, plan_fraction=0.5, seed=0)
    opening = " ".join(PLAN_PREFIX)
    planned = [row for row in traces if row["prompt"].endswith(opening)]
    assert 60 <= len(planned) <= 140  # about half
    for row in planned:
        words = row["completion"].split()
        assert words[1:3] == ["tokens", "."] and int(words[0]) == len(words) - 3  # n = tokens after the plan
    plain = [row for row in traces if not row["prompt"].endswith(opening)]
    assert all(not row["completion"].split()[0] == "I" for row in plain)
    without = sft_dataset(DatasetConfig(max_difficulty=2), count=200, plan_fraction=0.0, seed=0)
    assert not any(prompt.endswith(opening) for prompt in without["prompt"])
