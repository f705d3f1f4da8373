"""`math` grading against a careful human's verdicts (tests/grading_cases.py, one test per case), and
the parts the verdicts rest on: reasons, extraction order, the precision rules, config errors."""

import pytest
from grading_cases import CASES

from lenbench.config import GradingConfig
from lenbench.errors import ConfigError
from lenbench.grading import (
    REASONS,
    Grader,
    extract_answer,
    judge,
    normalize_answer,
    stated_decimals,
    strip_units,
)


def grader_for(case) -> Grader:
    config = GradingConfig(extract=list(case.extract)) if case.extract else GradingConfig()
    return Grader("math", config, "</think>" if case.think else None)


@pytest.mark.parametrize(
    "case",
    [pytest.param(c, marks=pytest.mark.xfail(reason=c.known, strict=True)) if c.known else c for c in CASES],
    ids=[f"{c.category}:{c.answer[:40]}|{c.gold if isinstance(c.gold, str) else '|'.join(c.gold)}" for c in CASES],
)
def test_grading_agrees_with_the_human(case):
    verdict = judge(case.completion, case.gold, grader_for(case), unit=case.unit)
    assert verdict.correct == case.correct, verdict
    assert verdict.reason in REASONS and (verdict.reason == "correct") == verdict.correct


def test_the_case_table_covers_every_category_of_the_issue_with_200_cases():
    categories = {c.category for c in CASES}
    assert len(CASES) >= 200 and len(categories) >= 10
    for category in categories:  # each category holds both verdicts: equivalences and near misses
        assert {c.correct for c in CASES if c.category == category} == {True, False}, category


@pytest.mark.parametrize(
    "completion, gold, reason",
    [
        ("no box and no stated answer", "4", "no_answer"),
        (r"\boxed{}", "4", "no_answer"),
        (r"\boxed{\text{cm}}", "4", "mismatch"),  # a unit alone stays (never an empty answer)
        (r"\boxed{3}", "4", "mismatch"),
        (r"\boxed{4}", "4", "correct"),
        (r"\boxed{???}", "4", "parse_error"),
    ],
)
def test_every_verdict_says_why(completion, gold, reason):
    verdict = judge(completion, gold, "math")
    assert verdict.reason == reason, verdict


def test_the_extracted_answer_is_returned_as_written():
    assert judge(r"so $\boxed{ \frac{1}{2} }$", "0.5", "math").answer == r"\frac{1}{2}"
    assert judge("</think> answer 7", "7", "exact") == judge("</think> answer 7", 7, "exact")
    assert judge("</think> answer 7", "8", "exact").reason == "mismatch"
    assert judge("</think> answer ;", "8", "exact").reason == "parse_error"
    assert judge("answer 7", "7", "exact").reason == "no_answer"


def test_strategies_run_in_the_configured_order():
    text = "The answer is 5.\n#### 6\nso 7"
    assert extract_answer(text, ["answer_is", "####"]) == "5"
    assert extract_answer(text, ["####", "answer_is"]) == "6"
    assert extract_answer(text, ["last_number"]) == "7"
    assert extract_answer(text, ["boxed"]) is None


def test_only_the_text_after_the_last_think_marker_counts():
    thinking = Grader(think_close="</think>")
    completion = r"<think>\boxed{41}</think> The answer is 42"
    assert judge(completion, "42", thinking).correct
    assert judge(completion, "41", Grader()).correct  # no marker configured: the whole text, last box first
    assert judge(r"<think>\boxed{42}", "42", thinking).reason == "no_answer"


def test_relative_precision_compares_significant_digits_of_the_gold():
    relative = Grader(config=GradingConfig(precision="relative", digits=2))
    assert judge(r"\boxed{3.3e-10}", r"3.31\times10^{-10}", relative).correct
    assert not judge(r"\boxed{3.2e-10}", r"3.31\times10^{-10}", relative).correct
    assert judge(r"\boxed{0.333}", r"\frac{1}{3}", relative).correct
    assert not judge(r"\boxed{0.333}", r"\frac{1}{3}", Grader(config=GradingConfig(precision="relative"))).correct


def test_min_digits_sets_how_coarse_a_decimal_for_an_exact_gold_may_be():
    assert not judge(r"\boxed{0.67}", r"\frac{2}{3}", "math").correct
    assert judge(r"\boxed{0.67}", r"\frac{2}{3}", Grader(config=GradingConfig(min_digits=2))).correct


@pytest.mark.parametrize(
    "literal, places_and_digits",
    [("0.050", [(3, 2)]), ("3.3E-10", [(11, 2)]), ("1.28E3", [(-1, 3)]), ("8E8", [(-8, 1)]), ("42", []),
     ("(0.5, 2.25)", [(1, 1), (2, 3)])],
)
def test_stated_decimals_read_the_last_written_digit(literal, places_and_digits):
    assert stated_decimals(literal) == places_and_digits


def test_normalization_keeps_what_changes_the_meaning():
    assert normalize_answer(r"\pi r") == r"\pi r"  # the space ends the control word
    assert normalize_answer(r"\text{no solution}") == r"\text{no solution}"
    assert normalize_answer("10,100") == "10100" and normalize_answer("1, 100") == "1,100"
    assert strip_units("5 ft", "") == "5" and strip_units("5 a", "") == "5 a"


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("extract", ["boxed", "fuzzy"], r"dataset.grading.extract='fuzzy' is not a known option; allowed: 'boxed'"),
        ("extract", [], "dataset.grading.extract is empty"),
        ("extract", ["boxed", "boxed"], "names a strategy twice"),
        ("precision", "exact", r"dataset.grading.precision='exact' is not a known option; allowed: 'stated'"),
        ("digits", 0, r"dataset.grading.digits=0 is out of range"),
        ("timeout_seconds", 0.0, r"dataset.grading.timeout_seconds=0.0 is out of range"),
    ],
)
def test_bad_grading_settings_are_one_line_config_errors(compose, field, value, message):
    from lenbench.config import load_run_config

    override = f"dataset.grading.{field}=[{','.join(value)}]" if isinstance(value, list) else \
        f"dataset.grading.{field}={value}"
    with pytest.raises(ConfigError, match=message) as error:
        load_run_config(compose("dataset=math500", override))
    assert "\n" not in str(error.value)


def test_a_bad_answer_list_mode_names_the_field(compose):
    from lenbench.config import load_run_config

    with pytest.raises(ConfigError, match=r"dataset.eval.fields.answer_list='some' is not a known option; "
                                          r"allowed: 'any', 'all'"):
        load_run_config(compose("dataset=olympiadbench", "dataset.eval.fields.answer_list=some"))


def test_presets_set_their_extraction_and_answer_lists(compose):
    from lenbench.config import load_run_config

    gsm8k = load_run_config(compose("dataset=gsm8k")).dataset
    olympiad = load_run_config(compose("dataset=olympiadbench")).dataset
    assert gsm8k.grading.extract == ["boxed", "####", "answer_is", "last_number"]
    assert olympiad.eval.fields.answer_list == "all" and olympiad.grading == GradingConfig()
    assert load_run_config(compose("model=deepseek_r1_distill_qwen_1_5b")).model.think_close == "</think>"
