"""The arith testbed: problems, traces, splits, tokenizer, oracle length (hand-computed cases)."""

import random

import pytest

from lenbench.grading import grade_exact
from lenbench.testbed.arith import (
    Problem,
    TracePolicy,
    apply_op,
    is_eval_problem,
    plan_words,
    sample_problem,
    sample_split,
    sample_trace,
    tempered,
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


def test_dev_split_is_a_part_of_the_train_side_that_tuning_runs_train_without():
    from lenbench.config import DatasetConfig
    from lenbench.testbed.arith import in_split, is_dev_problem
    from lenbench.testbed.data import load_testbed

    kwargs = dict(difficulties=[1, 2, 3], value_max=99, operand_max=9)
    train = sample_split(5, 2000, split="train", unique=False, **kwargs)
    dev = sample_split(5, 100, split="dev", unique=True, **kwargs)
    assert all(in_split(p, "train") and not is_eval_problem(p) for p in dev)
    share = sum(is_dev_problem(p) for p in train) / len(train)
    assert 0.06 < share < 0.2  # about 1 in 8 of the train side
    rest = sample_split(5, 400, split="train_minus_dev", unique=False, **kwargs)
    assert not any(is_dev_problem(p) or is_eval_problem(p) for p in rest)

    cfg = DatasetConfig(max_difficulty=3, value_max=30, train_size=300, eval_per_difficulty=20)
    tuning = load_testbed(DatasetConfig(**{**cfg.__dict__, "eval_split": "dev"}))
    held_out = load_testbed(cfg)
    assert set(tuning.train["problem_id"]).isdisjoint(tuning.eval["problem_id"])
    assert set(tuning.eval["problem_id"]).isdisjoint(held_out.eval["problem_id"])
    assert set(tuning.train["problem_id"]).isdisjoint(held_out.eval["problem_id"])


def test_too_small_problem_space_is_a_clear_error():
    with pytest.raises(ValueError, match="problem space is too small"):
        sample_split(0, 500, [1], value_max=3, operand_max=2, split="eval", unique=True)


def policy(**changes) -> TracePolicy:
    """A trace policy with nothing random in it unless a test asks for it."""
    fields = dict(p_slip=0.0, p_check=0.0, p_check_slip=0.0, p_check_last=0.0, p_recheck=0.0, p_fix=1.0,
                  loop_tokens=60)
    return TracePolicy(**{**fields, **changes})


def test_trace_without_extras_is_the_minimal_trace():
    problem = Problem(3, (("+", 4), ("*", 2)))
    trace = sample_trace(problem, policy(), random.Random(0))
    assert trace.words == problem.minimal_completion() and trace.answer == 14
    assert (trace.slips, trace.checks, trace.fixed, trace.looped, trace.truncated) == (0, 0, 0, False, False)


def test_checks_of_correct_steps_change_nothing():
    problem = Problem(3, (("+", 4), ("*", 2)))
    trace = sample_trace(problem, policy(p_check=1.0, p_check_last=1.0), random.Random(0))
    # 3 + 4 = 7 ; check 3 + 4 = 7 ok ; 7 * 2 = 14 ; check 7 * 2 = 14 ok ; </think> answer 14 <eos>
    assert " ".join(trace.words) == (
        "3 + 4 = 7 ; check 3 + 4 = 7 ok ; 7 * 2 = 14 ; check 7 * 2 = 14 ok ; </think> answer 14 <eos>"
    )
    assert len(trace.words) == 16 + 2 * 8 and trace.checks == 2 and trace.answer == 14
    only_last = sample_trace(problem, policy(p_check_last=1.0), random.Random(0))
    assert " ".join(only_last.words).count("check") == 1 and "check 7 * 2 = 14 ok ;" in " ".join(only_last.words)


def test_a_slip_is_off_by_one_and_an_uncaught_one_reaches_the_answer():
    problem = Problem(3, (("+", 4), ("*", 2)))
    trace = sample_trace(problem, policy(p_slip=1.0), random.Random(0))
    # 3 + 4 = 8 (slip) ; 8 * 2 = 17 (slip on the wrong value: 16 + 1) ; answer 17
    assert " ".join(trace.words) == "3 + 4 = 8 ; 8 * 2 = 17 ; </think> answer 17 <eos>"
    assert trace.slips == 2 and trace.answer == 17 and not grade_exact(" ".join(trace.words), 14)


def test_a_check_fixes_a_slip_and_the_chain_goes_on_from_the_right_value():
    problem = Problem(3, (("+", 4), ("*", 2)))
    rng = random.Random(0)
    trace = sample_trace(problem, policy(p_slip=1.0, p_check_slip=1.0, p_fix=1.0), rng)
    assert " ".join(trace.words) == (
        "3 + 4 = 8 ; check 3 + 4 = 7 fix ; 7 * 2 = 15 ; check 7 * 2 = 14 fix ; </think> answer 14 <eos>"
    )
    assert (trace.slips, trace.fixed, trace.checks, trace.answer) == (2, 2, 2, 14)


def test_an_unresolved_check_loops_until_the_limit():
    problem = Problem(3, (("+", 4),))
    trace = sample_trace(problem, policy(p_slip=1.0, p_check_slip=1.0, p_fix=0.0), random.Random(0))
    # 3 + 4 = 8 ; then `check 3 + 4 = 7 ;` and `check 3 + 4 = 8 ;` alternate, cut at loop_tokens
    assert trace.words[:6] == ["3", "+", "4", "=", "8", ";"]
    assert trace.words[6:20] == "check 3 + 4 = 7 ; check 3 + 4 = 8 ;".split()
    assert len(trace.words) == 60 and trace.looped and trace.truncated and trace.answer is None
    assert "<eos>" not in trace.words
    capped = sample_trace(problem, policy(p_slip=1.0, p_check_slip=1.0, p_fix=0.0), random.Random(0), max_tokens=30)
    assert len(capped.words) == 30 and capped.truncated


def test_rechecks_repeat_until_the_coin_says_stop():
    problem = Problem(5, (("-", 2),))
    # p_recheck = 1 would never stop: a finished trace needs p_recheck < 1; 0.5 gives 2 checks on average
    lengths = [sample_trace(problem, policy(p_check_last=1.0, p_recheck=0.5), random.Random(seed)).checks
               for seed in range(2000)]
    assert min(lengths) == 1 and abs(sum(lengths) / len(lengths) - 2.0) < 0.1  # geometric: 1 / (1 - 0.5)


def test_tempered_probabilities_hand_computed():
    assert tempered(0.3, 1.0) == 0.3
    # T = 0.5 squares the odds: 0.2 -> 0.04 / (0.04 + 0.64) = 1/17
    assert tempered(0.2, 0.5) == pytest.approx(1 / 17)
    # the nucleus drops the unlikely side once the likely one alone reaches top_p
    assert tempered(0.97, 1.0, top_p=0.95) == 1.0 and tempered(0.03, 1.0, top_p=0.95) == 0.0
    assert tempered(0.2, 1.0, top_p=0.95) == 0.2


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
    from lenbench.testbed.arith import PLAN_PREFIX
    from lenbench.testbed.data import sft_dataset

    traces = sft_dataset(DatasetConfig(max_difficulty=2), count=200, plan_fraction=0.5, seed=0)
    opening = " ".join(PLAN_PREFIX)
    planned = [row for row in traces if row["prompt"].endswith(opening)]
    assert 60 <= len(planned) <= 140  # about half
    assert planned
    for row in planned:
        words = row["completion"].split()
        assert words[1:3] == ["tokens", "."] and int(words[0]) == len(words) - 3  # n = tokens after the plan
    plain = [row for row in traces if not row["prompt"].endswith(opening)]
    assert all(not row["completion"].split()[0] == "I" for row in plain)
    without = sft_dataset(DatasetConfig(max_difficulty=2), count=200, plan_fraction=0.0, seed=0)
    assert not any(prompt.endswith(opening) for prompt in without["prompt"])
