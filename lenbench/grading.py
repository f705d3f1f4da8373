"""Answer extraction and equivalence.

`exact` grading is for the testbed: the integer after the last `answer` word that follows the
think-close marker. `math` grading (real math sets) uses math-verify on the completion's final
`\\boxed{}` answer (a run of boxes joined only by commas or "and" counts as one multi-part answer),
with the dataset's unit stripped and a per-item time limit, so a pathological expression can
never hang an evaluation or a reward computation:

- in the main thread, one interval timer (SIGALRM) bounds the whole item;
- elsewhere (signals only work in the main thread), the item runs in a grading worker process
  that is killed and replaced when the limit passes.

Either way a timeout grades the item wrong.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import re
import select
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from lenbench.testbed.arith import ANSWER_WORD, THINK_CLOSE

GRADERS = ("exact", "math")
MATH_TIMEOUT_SECONDS = 5.0
"""Default time limit of one `math` item (extraction, parsing and every comparison)."""
WORKER_START_SECONDS = 120.0
"""Time a fresh grading worker may take to import math-verify (not counted against items)."""


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


# --- math answers: extraction and normalization (pure string functions) ---------------------------

_BOX_OPEN = re.compile(r"\\(?:boxed|fbox)\s*\{")
_BOX_JOINER = re.compile(r"^(?:\s|\$|,|;|\\(?:quad|qquad|[,;:! ])|\b(?:and|or)\b|\\text\{\s*(?:and|or)\s*\})*$")
_UNESCAPED_DOLLAR = re.compile(r"(?<!\\)\$")
_TEXT_WRAPPER = re.compile(r"\\(?:text|textrm|mathrm|mbox|rm|operatorname)\s*\{([^{}]*)\}")


def boxed_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of the content of every complete top-level `\\boxed{...}` / `\\fbox{...}`."""
    spans, position = [], 0
    while match := _BOX_OPEN.search(text, position):
        depth, index = 1, match.end()
        while index < len(text) and depth:
            depth += {"{": 1, "}": -1}.get(text[index], 0) if text[index - 1] != "\\" else 0
            index += 1
        if depth:  # never closed: no answer here (nor after it)
            break
        spans.append((match.end(), index - 1))
        position = index
    return spans


def final_boxed_answer(completion: str) -> str | None:
    """The content of the last `\\boxed{}`, joined (", ") with the boxes right before it when only
    commas, "and", "or" or spacing separate them (`\\boxed{2}, \\boxed{3}` -> "2, 3"); None when unboxed."""
    spans = boxed_spans(completion)
    if not spans:
        return None
    first = len(spans) - 1
    while first > 0 and _BOX_JOINER.match(_BOX_OPEN.sub("", completion[spans[first - 1][1] + 1 : spans[first][0]])):
        first -= 1
    return ", ".join(completion[start:end].strip() for start, end in spans[first:])


def strip_unit(answer: str, unit: str) -> str:
    """`answer` without a trailing `unit` (bare or inside \\text{}/\\mathrm{}; spaces and braces
    ignored, so "166 \\text{cm}^{2}" with unit "$cm^2$" gives "166"). Unchanged when absent."""
    core = re.sub(r"[\s{}$]|\\[,;:! ]", "", unit or "").replace("\\%", "%")
    if not core:
        return answer
    plain = _TEXT_WRAPPER.sub(r"\1", answer).replace("\\%", "%").rstrip(" .")
    index, matched = len(plain), len(core)
    while index > 0 and matched > 0:
        char = plain[index - 1]
        if char.isspace() or char in "{}":
            index -= 1
        elif char == core[matched - 1]:
            index, matched = index - 1, matched - 1
        else:
            return answer
    if matched:
        return answer
    rest = re.sub(r"(?:\s|\\[,;:! ]|~)+$", "", plain[:index])
    return rest if rest.strip() else answer


def gold_latex(gold: str, unit: str = "") -> str:
    """A gold answer as one LaTeX expression: `$` delimiters dropped (OlympiadBench "$69$,$84$"
    -> "69,84", a multi-part answer), the unit stripped."""
    return strip_unit(_UNESCAPED_DOLLAR.sub("", str(gold)).strip(), unit).strip()


def math_equal(answer: str, gold: str) -> bool:
    """math-verify equivalence of two LaTeX answers (no time limit: callers bound it)."""
    from math_verify import parse, verify

    gold_parsed = parse(f"${gold}$", parsing_timeout=None)
    answer_parsed = parse(f"${answer}$", parsing_timeout=None)
    if not gold_parsed or not answer_parsed:
        return False
    return bool(verify(gold_parsed, answer_parsed, timeout_seconds=None))


class _DisabledTimeoutNotice(logging.Filter):
    """math-verify warns once that its own timeouts are off: here the whole item is bounded."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Timeout is disabled")


for _name in ("math_verify.parser", "math_verify.grader"):
    logging.getLogger(_name).addFilter(_DisabledTimeoutNotice())


# --- time limits ----------------------------------------------------------------------------------


class _ItemTimeout(BaseException):
    """Raised by the interval timer inside a graded item (BaseException: math-verify and sympy
    catch Exception everywhere, and must not swallow it)."""


def _on_alarm(signum, frame):
    raise _ItemTimeout


def _can_use_alarm() -> bool:
    return hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()


def _equal_under_alarm(answer: str, gold: str, seconds: float) -> bool:
    import math_verify  # noqa: F401  (a first import takes seconds: not part of the item's time)

    previous_handler = signal.signal(signal.SIGALRM, _on_alarm)
    previous_delay, _ = signal.setitimer(signal.ITIMER_REAL, seconds)
    started = time.monotonic()
    try:
        return math_equal(answer, gold)
    except _ItemTimeout:
        return False
    except Exception:  # malformed LaTeX that math-verify lets through: a wrong answer
        return False
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous_handler)
        if previous_delay:  # an outer timer was running: give it back what is left of it
            signal.setitimer(signal.ITIMER_REAL, max(previous_delay - (time.monotonic() - started), 1e-3))


class _GradingWorker:
    """A child Python process answering `[answer, gold]` lines with `1` / `0` (see serve_worker)."""

    def __init__(self) -> None:
        root = str(Path(__file__).resolve().parents[1])
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
        self.process = subprocess.Popen(
            [sys.executable, "-c", "from lenbench.grading import serve_worker; serve_worker()"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env,
        )
        if self._reply(WORKER_START_SECONDS) != "ready":
            self.close()
            raise RuntimeError("lenbench grading worker did not start (see its error above)")

    def _reply(self, seconds: float) -> str | None:
        ready, _, _ = select.select([self.process.stdout], [], [], seconds)
        return self.process.stdout.readline().strip() if ready else None

    def ask(self, answer: str, gold: str, seconds: float) -> bool | None:
        """The verdict, or None when the item ran out of time (the worker is then unusable)."""
        self.process.stdin.write(json.dumps([answer, gold]) + "\n")
        self.process.stdin.flush()
        reply = self._reply(seconds)
        if reply is None:
            return None
        if reply not in ("0", "1"):
            raise RuntimeError(f"lenbench grading worker stopped (exit code {self.process.poll()})")
        return reply == "1"

    def close(self) -> None:
        self.process.kill()
        self.process.wait()


_idle_workers: list[_GradingWorker] = []
_workers_lock = threading.Lock()


def _equal_in_worker(answer: str, gold: str, seconds: float) -> bool:
    with _workers_lock:
        worker = _idle_workers.pop() if _idle_workers else None
    worker = worker or _GradingWorker()
    try:
        verdict = worker.ask(answer, gold, seconds)
    except (OSError, RuntimeError):
        worker.close()
        raise
    if verdict is None:
        worker.close()
        return False
    with _workers_lock:
        _idle_workers.append(worker)
    return verdict


@atexit.register
def _close_workers() -> None:
    with _workers_lock:
        while _idle_workers:
            _idle_workers.pop().close()


def serve_worker() -> None:
    """Body of a grading worker process: one verdict line per request line, until stdin closes."""
    math_equal("1", "1")  # imports and warms up math-verify before "ready": items are timed without it
    replies, sys.stdout = sys.stdout, sys.stderr  # nothing but verdicts on the reply pipe
    replies.write("ready\n")
    replies.flush()
    for line in sys.stdin:
        answer, gold = json.loads(line)
        try:
            verdict = math_equal(answer, gold)
        except Exception:
            verdict = False
        replies.write("1\n" if verdict else "0\n")
        replies.flush()


# --- graders --------------------------------------------------------------------------------------


def grade_math(completion: str, gold: str, timeout_seconds: float = MATH_TIMEOUT_SECONDS, *, unit: str = "") -> bool:
    """math-verify equivalence of the completion's final boxed answer with the gold answer.

    No box: wrong. `unit` (the dataset's unit of this item) is stripped from both. A gold with
    several comma-separated answers is a set: every part must be answered, none added. Items
    taking longer than `timeout_seconds` are wrong, in any thread.
    """
    answer = final_boxed_answer(completion)
    if answer is None:
        return False
    answer = strip_unit(_UNESCAPED_DOLLAR.sub("", answer).strip(), unit).strip()
    target = gold_latex(gold, unit)
    if not answer or not target:
        return False
    if _can_use_alarm():
        return _equal_under_alarm(answer, target, timeout_seconds)
    return _equal_in_worker(answer, target, timeout_seconds)


def grade(completion: str, gold: str | int, grader: str, *, unit: str = "") -> bool:
    """Is `completion` correct for `gold` under `grader` (`unit`: the item's unit, math only)."""
    if grader == "exact":
        return grade_exact(completion, gold)
    if grader == "math":
        return grade_math(completion, str(gold), unit=unit or "")
    raise ValueError(f"unknown grader {grader!r}; allowed: {', '.join(GRADERS)}")


def grade_all(completions: list[str], golds: list, grader: str, units: list[str] | None = None) -> list[bool]:
    """`grade` over a batch, as TRL passes dataset columns (lists); `units` is absent on the testbed."""
    units = units if units is not None else [""] * len(completions)
    return [grade(c, gold, grader, unit=u) for c, gold, u in zip(completions, golds, units, strict=True)]
