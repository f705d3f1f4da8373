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
# Fraction of the train side carved out as the dev split (tuning), by the same hash.
DEV_HASH_MODULUS = 8
# Sides of the split: eval (held out), dev (carved from the train side), train (the whole train side,
# dev included), train_minus_dev (the train side without dev: RL training while tuning on dev).
SPLITS = ("train", "eval", "dev", "train_minus_dev")


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


def announced_answer(completion: str) -> str | None:
    """The word announced after the last `answer` that follows the last `</think>`, or None (what
    `exact` grading reads)."""
    close = completion.rfind(THINK_CLOSE)
    words = completion[close + len(THINK_CLOSE) :].split() if close >= 0 else []
    for index in range(len(words) - 2, -1, -1):
        if words[index] == ANSWER_WORD:
            return words[index + 1]
    return None


def plan_words(n_tokens: int) -> list[str]:
    """LAPO's plan sentence: `I will answer the question with n tokens .`"""
    return [*PLAN_PREFIX, str(n_tokens), *PLAN_SUFFIX]


def stable_hash(text: str) -> int:
    """A hash of `text` that is the same on every machine and Python run (splits are made of it)."""
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")


def split_side(problem: Problem) -> str:
    """The side a problem falls on: eval (held out, 1 in EVAL_HASH_MODULUS), dev (1 in DEV_HASH_MODULUS
    of the rest) or rest; a function of the problem's hash only."""
    value = stable_hash(problem.key)
    if value % EVAL_HASH_MODULUS == 0:
        return "eval"
    return "dev" if (value // EVAL_HASH_MODULUS) % DEV_HASH_MODULUS == 0 else "rest"


def is_eval_problem(problem: Problem) -> bool:
    """Stable split: a problem belongs to the evaluation side iff its hash says so."""
    return split_side(problem) == "eval"


def is_dev_problem(problem: Problem) -> bool:
    """Stable dev split: a train-side problem is a dev problem iff the rest of its hash says so
    (about 1 in DEV_HASH_MODULUS of the train side; never an eval problem)."""
    return split_side(problem) == "dev"


def in_split(problem: Problem, split: str) -> bool:
    """Whether `problem` belongs to `split` (one of SPLITS)."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
    side = split_side(problem)
    if split == "train":
        return side != "eval"
    return side == ("rest" if split == "train_minus_dev" else split)


def operand_ranges(value: int, value_max: int, operand_max: int) -> list[tuple[str, range]]:
    """Each operator that can follow `value`, with every right operand that keeps the result in
    [0, value_max] (operators with no such operand are left out)."""
    ranges = [
        ("+", range(1, min(operand_max, value_max - value) + 1)),
        ("-", range(1, min(operand_max, value) + 1)),
        ("*", range(2, min(operand_max, value_max // value) + 1) if value >= 1 else range(0)),
    ]
    return [(op, operands) for op, operands in ranges if operands]


def sample_problem(rng: random.Random, difficulty: int, value_max: int, operand_max: int) -> Problem:
    """A random chain of `difficulty` operations whose values all stay in [0, value_max]: an operator
    drawn uniformly among those that can follow, then its operand."""
    value = rng.randint(1, value_max)
    start, ops = value, []
    for _ in range(difficulty):
        op, operands = rng.choice(operand_ranges(value, value_max, operand_max))
        right = rng.choice(operands)
        ops.append((op, right))
        value = apply_op(value, op, right)
    return Problem(start, tuple(ops))


def all_problems(difficulty: int, value_max: int, operand_max: int, limit: int = 200_000) -> list[Problem] | None:
    """Every problem of one difficulty, in a fixed order; None when there are more than `limit`."""
    chains: list[tuple[int, int, tuple[tuple[str, int], ...]]] = [(v, v, ()) for v in range(1, value_max + 1)]
    for _ in range(difficulty):
        chains = [(start, apply_op(value, op, right), (*ops, (op, right)))
                  for start, value, ops in chains
                  for op, operands in operand_ranges(value, value_max, operand_max) for right in operands]
        if len(chains) > limit:
            return None
    return [Problem(start, ops) for start, _, ops in chains]


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

    Train and eval problems never overlap, nor dev and train_minus_dev: membership is a function of
    the problem itself (`in_split`).
    With `unique`, no problem appears twice (raises if the space is too small).
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
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
        if not in_split(problem, split) or (unique and problem.key in seen):
            continue
        seen.add(problem.key)
        problems.append(problem)
    return problems


@dataclass(frozen=True)
class TracePolicy:
    """The reasoning behaviour the base model imitates, as the probability of each decision in a trace.

    SFT traces are samples of this policy at temperature 1, so the base model's sampled behaviour is
    this policy (at the sampling temperature: see `sample_trace`). Defaults: `DatasetConfig`.
    """

    p_slip: float
    """A step's result is written as its slip value (the true result + 1) instead of the result."""
    p_check: float
    """A check follows a correctly written step that is not the last one."""
    p_check_slip: float
    """A check follows a slipped step (>= p_check: the model senses some of its own slips)."""
    p_check_last: float
    """A check follows the last step, before the answer (redundant on a correct chain)."""
    p_recheck: float
    """Another check follows a check that found nothing (`ok`): repeated verification."""
    p_fix: float
    """A check that finds a slip fixes it; otherwise the model loops between the two values, never
    resolving them, until the length limit (a long, truncated failure)."""
    loop_tokens: int
    """SFT loop traces are cut (without EOS) at this many completion tokens."""


@dataclass
class Trace:
    """One sampled completion of the trace policy, with what happened in it."""

    words: list[str]
    """The completion, one token per word; ends with EOS unless `truncated`."""
    slips: int = 0
    """Steps written with a wrong result."""
    fixed: int = 0
    """Slips caught and fixed by a later check."""
    checks: int = 0
    """`check` lines (redundant or not)."""
    looped: bool = False
    """The trace entered an unresolved check loop."""
    truncated: bool = False
    """The trace hit the length limit before EOS."""
    answer: int | None = None
    """The announced answer; None when truncated."""


def tempered(p: float, temperature: float, top_p: float = 1.0) -> float:
    """Probability of a two-way decision of probability `p` when sampled at `temperature`/`top_p`."""
    if p in (0.0, 1.0) or temperature == 1.0 and top_p >= 1.0:
        return p
    a, b = p ** (1.0 / temperature), (1.0 - p) ** (1.0 / temperature)
    q = a / (a + b)
    if max(q, 1 - q) >= top_p:  # the nucleus keeps only the likelier outcome
        return 1.0 if q > 0.5 else 0.0
    return q


def slip_value(result: int) -> int:
    """The wrong result a slip writes: off by one upward (never negative, so any chain stays valid)."""
    return result + 1


def sample_trace(
    problem: Problem,
    policy: TracePolicy,
    rng: random.Random,
    *,
    temperature: float = 1.0,
    top_p: float = 1.0,
    max_tokens: int | None = None,
) -> Trace:
    """A completion of `policy` on `problem`; each decision is drawn at `temperature` / `top_p`.

    A step line is `a op b = r ;`. A check re-computes it (`check a op b = r' ok ;`, or `fix ;` when
    it finds a slip, after which the chain goes on from the fixed value). An uncaught slip carries
    its wrong value to the answer. A check that finds a slip and does not fix it starts a loop of
    checks alternating between the two values that ends only at the length limit: `max_tokens`, or
    `policy.loop_tokens` when None (SFT traces).
    """
    limit = max_tokens or policy.loop_tokens

    def chance(p: float) -> bool:
        return rng.random() < tempered(p, temperature, top_p)

    trace = Trace([])
    words = trace.words
    value = problem.start
    ops = problem.ops
    for index, (op, right) in enumerate(ops):
        true = apply_op(value, op, right)
        slipped = chance(policy.p_slip)
        written = slip_value(true) if slipped else true
        words += [str(value), op, str(right), "=", str(written), ";"]
        trace.slips += slipped
        last = index == len(ops) - 1
        if slipped:
            p_first = max(policy.p_check_slip, policy.p_check_last) if last else policy.p_check_slip
        else:
            p_first = policy.p_check_last if last else policy.p_check
        head = ["check", str(value), op, str(right), "="]
        checking = chance(p_first)
        while checking:
            trace.checks += 1
            if not slipped:
                words += [*head, str(true), "ok", ";"]
                checking = chance(policy.p_recheck)
                continue
            if chance(policy.p_fix):
                words += [*head, str(true), "fix", ";"]
                trace.fixed += 1
                written, slipped = true, False
                break
            trace.looped = True
            shown = (str(true), str(written))
            turn = 0
            while len(words) < limit:
                words += [*head, shown[turn % 2], ";"]
                turn += 1
            trace.checks += turn - 1
            trace.truncated = True
            del words[limit:]
            return trace
        value = written
    words += answer_words(value)
    trace.answer = value
    if max_tokens is not None and len(words) > max_tokens:
        del words[max_tokens:]
        trace.truncated, trace.answer = True, None
    return trace
