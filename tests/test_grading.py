"""Answer extraction and grading on hand-written completions."""

import pytest

from lenbench.grading import extract_testbed_answer, grade, grade_exact, grade_math


@pytest.mark.parametrize(
    "completion, expected",
    [
        ("3 + 4 = 7 ; </think> answer 7", 7),
        ("3 + 4 = 7 ; check 3 + 4 = 7 ok ; </think> answer 7 <eos>", 7),
        ("answer 5 ; 3 + 4 = 7 ; </think> answer 7", 7),  # only the answer after </think> counts
        ("3 + 4 = 7 ; answer 7", None),  # never closed the reasoning
        ("</think> answer", None),  # nothing announced
        ("</think> answer ;", None),  # not a number
        ("</think> answer 1 answer 9", 9),  # the last announcement wins
    ],
)
def test_extract_testbed_answer(completion, expected):
    assert extract_testbed_answer(completion) == expected


def test_grade_exact_compares_integers():
    assert grade_exact("</think> answer 14", "14")
    assert grade_exact("</think> answer 14", 14)
    assert not grade_exact("</think> answer 15", "14")
    assert not grade_exact("7 * 2 = 14", "14")


def test_grade_math_uses_equivalence_not_strings():
    assert grade_math(r"so the answer is $\boxed{\frac{1}{2}}$", "0.5")
    assert grade_math(r"$\boxed{\left( 3, \frac{\pi}{2} \right)}$", r"\left( 3, \frac{\pi}{2} \right)")
    assert not grade_math(r"$\boxed{3}$", "4")
    assert not grade_math("no answer here", "4")


def test_unknown_grader_is_rejected():
    with pytest.raises(ValueError, match="allowed: exact, math"):
        grade("x", "1", "fuzzy")
