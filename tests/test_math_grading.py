"""`math` grading: gold answers of the real benchmarks grade correct against themselves, near misses
grade wrong, only the final box counts, and a pathological answer cannot hang any thread."""

import math
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from lenbench.config import GradingConfig
from lenbench.grading import Grader, final_boxed_answer, grade, grade_math, judge, strip_units

REPO = Path(__file__).resolve().parents[1]
BENCH = Path(os.environ.get("LENBENCH_BENCHMARKS", REPO.parent / "shared" / "data" / "benchmarks")).resolve()
PATHOLOGICAL = r"The answer is $\boxed{9^{9^{9^{9}}}}$."  # sympy tries to evaluate a tower of powers


def boxed(answer: str) -> str:
    return f"Some reasoning. The answer is $\\boxed{{{answer}}}$."


@pytest.mark.skipif(not BENCH.is_dir(), reason=f"benchmark files not found in {BENCH}")
@pytest.mark.parametrize("name", ["math500", "aime24", "amc23", "gsm8k", "olympiadbench"])
def test_gold_answers_grade_correct_against_themselves(name, monkeypatch):
    # measured (python -m lenbench.data.selfgrade): 1.000 on all five files; 673/675 OlympiadBench golds
    # parse as maths (two only as strings)
    from lenbench.data.selfgrade import preset_eval_data, self_grade

    monkeypatch.setenv("LENBENCH_BENCHMARKS", str(BENCH))
    result = self_grade(name, preset_eval_data(name))
    print(f"{name}: {result.correct}/{result.rows} failures: {result.failures} strings only: {result.unparsed}")
    assert result.rate >= 0.99, result.failures
    assert len(result.unparsed) <= 0.01 * result.rows, result.unparsed


@pytest.mark.parametrize(
    "answer, gold",
    [
        (r"\frac{1}{3}", r"\frac{1}{2}"),
        ("(2,1)", "(1,2)"),  # ordered pair
        ("(3,2,1)", "(1,2,3)"),  # ordered triple
        ("3.15", "3.14"),
        ("x-1", "x+1"),
        ("100", "10"),
        ("-2", "2"),
        (r"\sqrt{2}", "2"),
        ("x^2", "2x"),
        (r"\pi", r"\frac{\pi}{2}"),
        ("[1,2)", "[1,2]"),
        ("69", "$69$,$84$"),  # one part of a two-part answer
        ("1, 3", "1,3,5"),  # a part missing
        ("1, 2, 3", "1,2"),  # a part too many
        (r"(2,7,13), (1,8,19)", "$(1,8,19), (2,7,13), (4,5,7)$"),
        (r"\text{west}", r"\text{east}"),
        ("", "5"),
    ],
)
def test_near_misses_grade_wrong(answer, gold):
    assert not grade_math(boxed(answer), gold)


@pytest.mark.parametrize(
    "answer, gold, unit",
    [
        (r"\frac12", "0.5", ""),
        (r"\sqrt{3}/2", r"\frac{\sqrt{3}}{2}", ""),
        (r"(3, \frac{\pi}{2})", r"\left( 3, \frac{\pi}{2} \right)", ""),
        ("5, 3, 1", "1,3,5", ""),  # a set of answers: any order
        ("84, 69", "$69$,$84$", ""),
        ("142.0", "142", ""),
        ("58500", "58,500", ""),
        ("18.90", r"\$18.90", ""),
        (r"\frac{600}{7} \text{ km/h}", r"$\frac{600}{7}$", "km/h"),
        (r"166 \mathrm{cm}^{2}", "$166$", "$cm^2$"),
        (r"4.2\%", "4.2", "%"),
        (r"90^\circ", "90", r"^{\circ}"),
    ],
)
def test_equivalent_answers_grade_right(answer, gold, unit):
    assert grade(boxed(answer), gold, "math", unit=unit)


def test_only_the_final_box_counts():
    completion = r"First I thought $\boxed{3}$, but rechecking gives $\boxed{4}$."
    assert grade_math(completion, "4") and not grade_math(completion, "3")
    assert final_boxed_answer(r"$\boxed{69}$ and $\boxed{84}$") == "69, 84"  # one answer in two boxes
    assert grade_math(r"so $\boxed{69}$ or $\boxed{84}$", "$69$,$84$")
    assert not grade_math(r"$\boxed{69}$. Then $\boxed{84}$", "$69$,$84$")  # text between: only the last
    assert final_boxed_answer(r"\boxed{\frac{1}{2}} and more \boxed{x^{2}}") == "x^{2}"
    assert final_boxed_answer(r"\boxed{\{1,2\}}") == r"\{1,2\}"


@pytest.mark.parametrize(
    "completion",
    ["The answer is 18.", r"$18$", r"answer: \boxed{18", r"\boxed{}", r"\fbox{}"],
)
def test_no_complete_box_is_no_answer_when_only_boxes_count(completion):
    verdict = judge(completion, "18", Grader(config=GradingConfig(extract=["boxed"])))
    assert not verdict.correct and verdict.reason == "no_answer"


@pytest.mark.parametrize("completion, reason", [("The answer is 18.", "correct"), (r"$18$", "no_answer"),
                                                (r"answer: \boxed{18", "no_answer"), (r"\boxed{}", "no_answer")])
def test_default_extraction_also_reads_a_stated_answer(completion, reason):
    assert judge(completion, "18", "math").reason == reason


def test_units_are_stripped_only_when_they_end_the_answer():
    assert strip_units(r"45 \text{ minutes}", "minutes") == "45"
    assert strip_units(r"12\,\mathrm{km/h}", "km/h") == "12"
    assert strip_units("12 m", "km") == "12 m"  # a bare one-letter word is a variable, not a unit
    assert strip_units("12 cm", "km") == "12"  # a known unit, whatever the unit field says
    assert strip_units("km", "km") == "km"  # nothing but the unit: left alone
    assert strip_units(r"\frac{1}{\sqrt2}c") == r"\frac{1}{\sqrt2}c"  # c is the speed of light, part of the value


def test_a_pathological_answer_times_out_in_the_main_thread():
    assert threading.current_thread() is threading.main_thread()
    grade_math(boxed("1"), "1")  # warm up math-verify outside the timed call
    started = time.monotonic()
    assert not grade_math(PATHOLOGICAL, "5", timeout_seconds=1.0)
    assert time.monotonic() - started < 3.0
    assert grade_math(boxed("5"), "5")  # the timer is gone: grading goes on normally


def test_a_pathological_answer_times_out_in_worker_threads():
    def timed(completion: str, gold: str) -> tuple[bool, float]:
        started = time.monotonic()
        return grade_math(completion, gold, timeout_seconds=1.0), time.monotonic() - started

    with ThreadPoolExecutor(max_workers=2) as pool:
        warm = list(pool.map(lambda _: timed(boxed("1"), "1"), range(2)))  # start the grading workers
        results = list(pool.map(lambda args: timed(*args), [(PATHOLOGICAL, "5"), (boxed(r"\frac12"), "0.5")]))
        after = pool.submit(timed, boxed("x+1"), "1+x").result()
    assert all(verdict for verdict, _ in warm)
    (slow_verdict, slow_seconds), (quick_verdict, quick_seconds) = results
    assert not slow_verdict and slow_seconds < 3.0
    assert quick_verdict and quick_seconds < 3.0
    assert after[0]  # a killed worker is replaced


def test_a_grading_worker_gets_the_configured_time_to_start():
    from lenbench import grading

    grading._close_workers()  # no idle worker left: the next item off the main thread starts one
    grader = Grader(config=GradingConfig(worker_start_seconds=0.001))  # far less than importing math-verify
    with ThreadPoolExecutor(max_workers=1) as pool:
        with pytest.raises(RuntimeError, match=r"did not start within 0\.001 s.*worker_start_seconds"):
            pool.submit(judge, boxed("1"), "1", grader).result()


def test_grade_keeps_its_signature_for_existing_callers():
    assert grade(boxed("7"), "7", "math") and not grade(boxed("7"), 8, "math")
    assert grade("</think> answer 7", 7, "exact")


def test_selfgrade_timing_quantile_is_the_observation_of_rank_round_q_n():
    from lenbench.data.selfgrade import quantile

    values = [5.0, 1.0, 4.0, 2.0, 3.0]
    # rank round(q * n), halves to even: 0.5 * 5 = 2.5 -> 2nd; 0.99 * 5 = 4.95 -> 5th; 0.3 * 5 = 1.5 -> 2nd
    assert [quantile(values, q) for q in (0.5, 0.99, 0.3, 0.0)] == [2.0, 5.0, 2.0, 1.0]
    assert [quantile(values[:4], q) for q in (0.5, 0.99)] == [2.0, 5.0]  # of 1, 2, 4, 5: 2 -> 2nd, 3.96 -> 4th
    assert math.isnan(quantile([], 0.5))
