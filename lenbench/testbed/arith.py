"""The built-in `arith` testbed: chained integer arithmetic with known minimal reasoning length.

A problem is a start number and a chain of k operations applied left to right
(`compute 7 + 5 * 2 - 3` means ((7 + 5) * 2) - 3); k is the difficulty. Every intermediate
value stays in [0, value_max], so every number is one token of the testbed vocabulary.

A minimal correct reasoning trace writes one line per step (`7 + 5 = 12 ;`) and then the
answer; its token count is the problem's *oracle length*. The base model is trained on
*verbose* traces instead: redundant checks of correct steps (`check 7 + 5 = 12 ok ;`), drawn
independently of difficulty, and occasional self-corrections (a wrong result, then a check that
catches and fixes it). So the base model overthinks easy problems, while on hard problems some
checks genuinely repair errors.

Everything here is pure Python and deterministic given a seed.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass

THINK_OPEN = "<think>"
THINK_CLOSE = "</think>"
ANSWER_WORD = "answer"
EOS = "<eos>"
OPERATORS = ("+", "-", "*")
PLAN_PREFIX = ("I", "will", "answer", "the", "question", "with")
PLAN_SUFFIX = ("tokens", ".")
# Words of the testbed language other than numbers (specials are in the tokenizer module).
WORDS = (
    "compute",
    THINK_OPEN,
    THINK_CLOSE,
    ANSWER_WORD,
    "check",
    "ok",
    "fix",
    "=",
    ";",
    *OPERATORS,
    *PLAN_PREFIX,
    *PLAN_SUFFIX,
)
# Tokens of the answer-forcing suffix (close the reasoning, then announce the answer).
ANSWER_FORCING_SUFFIX = f"{THINK_CLOSE} {ANSWER_WORD}"
# Fraction of the problem space reserved for evaluation (by a stable hash of the problem).
EVAL_HASH_MODULUS = 8


def apply_op(left: int, op: str, right: int) -> int:
    """Result of one testbed operation."""
    if op == "+":
        return left + right
    if op == "-":
        return left - right
    if op == "*":
        return left * right
    raise ValueError(f"unknown operator {op!r}; allowed: {', '.join(OPERATORS)}")


@dataclass(frozen=True)
class Step:
    """One operation of a chain with its exact result."""

    left: int
    op: str
    right: int
    result: int

    def words(self, result: int | None = None) -> list[str]:
        """`a op b = c ;`, optionally with another (wrong) result written."""
        shown = self.result if result is None else result
        return [str(self.left), self.op, str(self.right), "=", str(shown), ";"]


@dataclass(frozen=True)
class Problem:
    """A start number and a chain of operations; difficulty is the chain length."""

    start: int
    ops: tuple[tuple[str, int], ...]

    @property
    def difficulty(self) -> int:
        return len(self.ops)

    def steps(self) -> list[Step]:
        value, steps = self.start, []
        for op, right in self.ops:
            result = apply_op(value, op, right)
            steps.append(Step(value, op, right, result))
            value = result
        return steps

    @property
    def answer(self) -> int:
        return self.steps()[-1].result

    def question(self) -> str:
        """The problem as words, without prompt scaffolding: `compute 7 + 5 * 2`."""
        words = ["compute", str(self.start)]
        for op, right in self.ops:
            words += [op, str(right)]
        return " ".join(words)

    def prompt(self) -> str:
        """The model's prompt: the question followed by the think marker."""
        return f"{self.question()} {THINK_OPEN}"

    @property
    def key(self) -> str:
        return self.question()

    def minimal_completion(self) -> list[str]:
        """The shortest correct completion: one line per step, then the answer."""
        words: list[str] = []
        for step in self.steps():
            words += step.words()
        return words + answer_words(self.answer)

    @property
    def oracle_length(self) -> int:
        """Tokens in the minimal correct completion, end-of-sequence token included."""
        return len(self.minimal_completion())


def answer_words(answer: int) -> list[str]:
    return [THINK_CLOSE, ANSWER_WORD, str(answer), EOS]


def plan_words(n_tokens: int) -> list[str]:
    """LAPO's plan sentence: `I will answer the question with n tokens .`"""
    return [*PLAN_PREFIX, str(n_tokens), *PLAN_SUFFIX]


def is_eval_problem(problem: Problem) -> bool:
    """Stable split: a problem belongs to the evaluation side iff its hash says so."""
    digest = hashlib.blake2b(problem.key.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % EVAL_HASH_MODULUS == 0


def sample_problem(rng: random.Random, difficulty: int, value_max: int, operand_max: int) -> Problem:
    """A random chain of `difficulty` operations whose values all stay in [0, value_max]."""
    value = rng.randint(1, value_max)
    start, ops = value, []
    for _ in range(difficulty):
        choices = []
        if value + 1 <= value_max:
            choices.append(("+", range(1, min(operand_max, value_max - value) + 1)))
        if value - 1 >= 0:
            choices.append(("-", range(1, min(operand_max, value) + 1)))
        if value >= 1 and value * 2 <= value_max:
            choices.append(("*", range(2, min(operand_max, value_max // value) + 1)))
        op, operands = rng.choice(choices)
        right = rng.choice(operands)
        ops.append((op, right))
        value = apply_op(value, op, right)
    return Problem(start, tuple(ops))


def sample_split(
    seed: int,
    count: int,
    difficulties: list[int],
    value_max: int,
    operand_max: int,
    split: str,
    unique: bool,
) -> list[Problem]:
    """`count` problems from one side of the split, difficulties drawn uniformly.

    Train and eval problems never overlap: membership is a function of the problem itself.
    With `unique`, no problem appears twice (raises if the space is too small).
    """
    if split not in ("train", "eval"):
        raise ValueError(f"split must be 'train' or 'eval', got {split!r}")
    want_eval = split == "eval"
    rng = random.Random(f"{seed}:{split}")
    problems: list[Problem] = []
    seen: set[str] = set()
    attempts, max_attempts = 0, 200 * count + 10_000
    while len(problems) < count:
        attempts += 1
        if attempts > max_attempts:
            raise ValueError(
                f"could not draw {count} distinct {split} problems with difficulties {difficulties}, "
                f"value_max={value_max}, operand_max={operand_max}: the problem space is too small"
            )
        problem = sample_problem(rng, rng.choice(difficulties), value_max, operand_max)
        if is_eval_problem(problem) != want_eval or (unique and problem.key in seen):
            continue
        seen.add(problem.key)
        problems.append(problem)
    return problems


def verbose_completion(
    problem: Problem,
    rng: random.Random,
    p_verify: float,
    p_self_correct: float,
    value_max: int,
) -> list[str]:
    """A correct but verbose completion, as the base model is taught to write.

    After each step, with probability `p_verify`, a redundant check re-states it. With
    probability `p_self_correct` a step is first written with a wrong result, then a check
    catches the error and the chain continues from the fixed value.
    """
    words: list[str] = []
    for step in problem.steps():
        if rng.random() < p_self_correct:
            wrong = step.result + rng.choice([-3, -2, -1, 1, 2, 3])
            wrong = min(max(wrong, 0), value_max + 3)
            if wrong == step.result:
                wrong = step.result + 1
            words += step.words(wrong)
            words += ["check", *step.words()[:-1], "fix", ";"]
        else:
            words += step.words()
        if rng.random() < p_verify:
            words += ["check", *step.words()[:-1], "ok", ";"]
    return words + answer_words(problem.answer)
