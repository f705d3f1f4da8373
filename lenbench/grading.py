"""Answer extraction and equivalence.

`exact` grading is for the testbed: the integer after the last `answer` word that follows the
think-close marker. `math` grading (real math sets) uses math-verify on the last `\\boxed{}`
answer, with a per-item timeout so a pathological expression cannot hang an evaluation.
"""

from __future__ import annotations

from lenbench.testbed.arith import ANSWER_WORD, THINK_CLOSE

GRADERS = ("exact", "math")


def extract_testbed_answer(completion: str) -> int | None:
    """The integer announced after `</think> answer`, or None when there is none."""
    words = completion.split()
    if THINK_CLOSE not in words:
        return None
    after = words[len(words) - 1 - words[::-1].index(THINK_CLOSE) + 1 :]
    for index in range(len(after) - 1, -1, -1):
        if after[index] == ANSWER_WORD and index + 1 < len(after):
            token = after[index + 1]
            return int(token) if token.lstrip("-").isdigit() else None
    return None


def grade_exact(completion: str, gold: str | int) -> bool:
    """Testbed grading: the announced integer equals the gold integer."""
    answer = extract_testbed_answer(completion)
    return answer is not None and answer == int(gold)


def grade_math(completion: str, gold: str, timeout_seconds: int = 5) -> bool:
    """math-verify equivalence of the completion's last boxed answer with the gold answer."""
    from math_verify import parse, verify

    try:
        gold_parsed = parse(f"${gold}$", parsing_timeout=timeout_seconds)
        answer_parsed = parse(completion, parsing_timeout=timeout_seconds)
        if not gold_parsed or not answer_parsed:
            return False
        return bool(verify(gold_parsed, answer_parsed, timeout_seconds=timeout_seconds))
    except Exception:  # math-verify raises on timeouts and malformed LaTeX: a wrong answer
        return False


def grade(completion: str, gold: str | int, grader: str) -> bool:
    if grader == "exact":
        return grade_exact(completion, gold)
    if grader == "math":
        return grade_math(completion, str(gold))
    raise ValueError(f"unknown grader {grader!r}; allowed: {', '.join(GRADERS)}")
