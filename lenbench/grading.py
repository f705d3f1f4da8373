"""Answer extraction, normalization and equivalence, with a reason for every verdict.

`exact` grading is for the testbed: the integer its completion announces, read by the testbed
(lenbench.testbed.arith.announced_answer). `math` grading (real math sets) takes the text after the model's think-close
marker (model.think_close; all of it when the model has none), extracts an answer with the
configured strategies in order (dataset.grading.extract: `boxed`, `answer_is`, `####`,
`last_number`), normalizes answer and gold (below), and asks math-verify whether they are
equivalent, with math-verify's float rounding set per item by the precision rule
(dataset.grading.precision). Every verdict has a reason (REASONS): `correct`, `no_answer` (nothing
extracted, or the thinking never ended), `parse_error` (math-verify reads no expression in the
answer), `timeout`, `mismatch`.

Normalization (pure string functions, before math-verify): `$` and spacing commands dropped;
thousands separators removed where unambiguous (`1{,}000`, `1\\,000`, a lone `12,345`); known units
(UNITS, plus the item's unit field) removed from the end, never an arbitrary trailing letter;
whitespace removed but after a control word (`4 A` and `4A` are one product); primes written one
way (`x'` -> `x^{\\prime}`); scientific notation (`8.7e8`, `8.7\\times10^{8}`) written as math-verify
reads it (`8.7E8`: a decimal stated to its mantissa's digits), a bare power of ten as the exact
integer or fraction (`10^{-20}` -> `\\frac{1}{10...0}`); a trailing-dot decimal (`3.`) as the
integer. A gold given as a list of alternatives is right when any one matches.

A per-item time limit bounds parsing and comparison (extraction is plain regular expressions), so
a pathological expression can never hang an evaluation or a reward computation:

- in the main thread, one interval timer (SIGALRM) bounds the whole item;
- elsewhere (signals only work in the main thread), the item runs in a grading worker process
  that is killed and replaced when the limit passes.

Either way a timeout grades the item wrong (reason `timeout`).
"""

from __future__ import annotations

import atexit
import json
import logging
import math
import os
import re
import select
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from lenbench.config import GradingConfig
from lenbench.testbed.arith import announced_answer

GRADERS = ("exact", "math")
REASONS = ("correct", "no_answer", "parse_error", "timeout", "mismatch")
"""Why a completion graded as it did, one per verdict."""
MATH_TIMEOUT_SECONDS = GradingConfig.timeout_seconds
"""Default time limit of one `math` item (parsing and every comparison)."""


@dataclass(frozen=True)
class Grader:
    """How one dataset's completions are graded: `exact` or `math`, the dataset's grading settings
    and the think-close marker of the model that wrote them."""

    kind: str = "math"
    """exact (testbed) or math (GRADERS)."""
    config: GradingConfig = field(default_factory=GradingConfig)
    """Extraction strategies, precision rule and time limit (math only)."""
    think_close: str | None = None
    """math: only the text after the last occurrence counts (model.think_close); None: all of it."""


@dataclass(frozen=True)
class Verdict:
    """A graded completion: whether it is right, the answer read from it, and why."""

    correct: bool
    answer: str | None
    """The extracted answer as written (None when nothing was found)."""
    reason: str
    """One of REASONS."""


def text_after(completion: str, marker: str | None) -> str | None:
    """The text after the last `marker` (all of it when `marker` is None; None when it is absent)."""
    if marker is None:
        return completion
    index = completion.rfind(marker)
    return None if index < 0 else completion[index + len(marker) :]


def extract_testbed_answer(completion: str) -> int | None:
    """The integer the testbed's completion announces (lenbench.testbed.arith.announced_answer), or None."""
    token = announced_answer(completion)
    return int(token) if token is not None and token.lstrip("-").isdigit() else None


def grade_exact(completion: str, gold: str | int) -> bool:
    """Testbed grading: the announced integer equals the gold integer."""
    return judge_exact(completion, gold).correct


# --- math answers: extraction (pure string functions) ---------------------------------------------

_BOX_OPEN = re.compile(r"\\(?:boxed|fbox)\s*\{")
_BOX_JOINER = re.compile(r"^(?:\s|\$|,|;|\\(?:quad|qquad|[,;:! ])|\b(?:and|or)\b|\\text\{\s*(?:and|or)\s*\})*$")
_UNESCAPED_DOLLAR = re.compile(r"(?<!\\)\$")
_ANSWER_IS = re.compile(r"(?i)\banswer\**\s*(?:is\b\s*:?|:|=)\**\s*")
_MATH_DELIMITERS = (("$$", "$$"), ("$", "$"), ("\\(", "\\)"), ("\\[", "\\]"))
_SENTENCE_END = re.compile(r"\.(?:\s|$)|\n")
_NUMBER = re.compile(r"(?<![\w.])-?\d+(?:,\d{3})*(?:\.\d+)?(?:/\d+)?")


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


def stated_answer(text: str) -> str | None:
    """What follows the last "answer is" / "answer:" / "answer =": the math in `$...$`, `\\(...\\)`
    or `\\[...\\]` when it opens with one, else the rest of the sentence (a final period dropped)."""
    matches = list(_ANSWER_IS.finditer(text))
    if not matches:
        return None
    rest = text[matches[-1].end() :]
    if _BOX_OPEN.search(rest):
        return final_boxed_answer(rest)
    for opening, closing in _MATH_DELIMITERS:
        if rest.startswith(opening):
            end = rest.find(closing, len(opening))
            return rest[len(opening) : end].strip() if end > 0 else None
    end = _SENTENCE_END.search(rest)
    return rest[: end.start() if end else len(rest)].strip().rstrip(".*").strip() or None


def hash_line_answer(text: str) -> str | None:
    """The rest of the line after the last `####` (GSM8K's answer line), a final period dropped."""
    if "####" not in text:
        return None
    line = text.rsplit("####", 1)[1].strip().split("\n", 1)[0]
    return line.strip().rstrip(".").strip() or None


def last_number(text: str) -> str | None:
    """The last number written in the text (`-12`, `3,400`, `2.5`, `3/4`), None when there is none."""
    numbers = _NUMBER.findall(text)
    return numbers[-1] if numbers else None


EXTRACTORS = {"boxed": final_boxed_answer, "answer_is": stated_answer, "####": hash_line_answer,
              "last_number": last_number}
"""Extraction strategy name (dataset.grading.extract) -> the function finding that kind of answer."""


def extract_answer(text: str, strategies: list[str] | tuple[str, ...]) -> str | None:
    """The answer of the first strategy, in order, that finds a non-empty one; None when none does."""
    for strategy in strategies:
        answer = EXTRACTORS[strategy](text)
        if answer and answer.strip():
            return answer.strip()
    return None


# --- math answers: normalization (pure string functions) ------------------------------------------

UNITS = frozenset(
    """m cm mm km nm um pm fm in inch inches ft foot feet yd yard yards mi mile miles au AU ly pc
    L l mL ml liter liters litre litres gal gallon gallons
    g kg mg ug lb lbs pound pounds oz ounce ounces ton tons tonne tonnes
    s sec secs second seconds ms us ns min mins minute minutes h hr hrs hour hours day days week weeks
    month months year years yr yrs
    mph kph knot knots N kN mN J kJ MJ eV keV MeV GeV TeV cal kcal W kW MW GW Wh kWh
    Pa kPa MPa GPa hPa atm bar mbar mmHg torr Torr psi
    V kV mV A mA C mC nC F uF nF pF T mT G H Hz kHz MHz GHz K Omega ohm ohms
    mol mmol M mM rad rads radian radians degree degrees deg sr dB
    dollar dollars cent cents unit units sq square cubic meter meters metre metres centimeter centimeters
    kilometer kilometers millimeter millimeters gram grams kilogram kilograms""".split()
)
"""Unit words removed from the end of answers (with prefixes `\\mu`, powers and `/`: `m/s^2`, `kg m/s`).
Typeset upright (`\\text{}`, `\\mathrm{}`) any of them is a unit; written bare, only words of two or
more letters are (a bare `c` or `m` is a variable)."""

_WRAPPER = r"\\(?:text|textrm|mathrm|mbox|rm|operatorname)\s*\{([^{}]*)\}"
_POWER = r"(?:\^\s*(?:\{\s*-?\d+\s*\}|-?\d))"
_UNIT_SEPARATORS = re.compile(r"\\cdot|\\,|\\;|\\ |[/*\s~.]")
_SPACING_TAIL = re.compile(r"(?:\s|~|\\[,;:! ]|\\q?quad(?![a-zA-Z])|\.$)+$")
_WRAPPED_TAIL = re.compile(rf"{_WRAPPER}\s*{_POWER}?$")
_UNIT_WORD = rf"(?:\\mu\s*)?[A-Za-z]+{_POWER}?"
_BARE_TAIL = re.compile(rf"(?<![A-Za-z\\])({_UNIT_WORD}(?:\s*(?:/|\\cdot|\s)\s*{_UNIT_WORD})*)$")
_DEGREE_TAIL = re.compile(r"(?:\^\s*\{?\s*\\circ\s*\}?|°)\s*(?:[CFK]|\{[CFK]\}|" + _WRAPPER + r")?$")
_PRIME_UNIT_TAIL = re.compile(r"(?<=[\d.])\s*(?:\^\s*\{?\s*(?:\\prime\s*){1,2}\}?|''|'|\")$")
_OHM = re.compile(r"\\Omega(?![a-zA-Z])")


def is_unit(text: str, bare: bool = False) -> bool:
    """Is `text` a unit made of UNITS words (`km/h`, `m s^{-2}`, `\\mu m`)? `bare`: written without
    `\\text{}`, where one-letter words are variables, not units."""
    words = [w for w in _UNIT_SEPARATORS.split(re.sub(_POWER, " ", _OHM.sub("Omega", text))) if w]
    words = [w.removeprefix("\\mu") or "m" for w in words]  # \mu m: the prefix goes with its word
    if not words or not all(w in UNITS for w in words):
        return False
    return not bare or len(words) > 1 or len(words[0]) > 1


def _unit_field_core(unit: str) -> str:
    return re.sub(r"[\s{}$~]|\\[,;:! ]", "", re.sub(_WRAPPER, r"\1", unit or "")).replace("\\%", "%")


def strip_units(answer: str, unit: str = "") -> str:
    """`answer` without the units at its end: the item's `unit` field (a whole token: spacing,
    braces and `\\text{}` ignored), UNITS words, degrees (`^\\circ C`), arcminutes and arcseconds
    after a number (`0.003^{\\prime\\prime}`). Never leaves an empty answer."""
    core = _unit_field_core(unit)
    while True:
        rest = _SPACING_TAIL.sub("", answer)
        if core:
            flat = _unit_field_core(rest)
            if flat.endswith(core) and len(flat) > len(core) and not flat[-len(core) - 1].isalpha():
                rest = _cut_core(rest, core)
        for pattern, test in ((_WRAPPED_TAIL, lambda m: is_unit(m.group(1))), (_DEGREE_TAIL, None),
                              (_PRIME_UNIT_TAIL, None), (_BARE_TAIL, lambda m: is_unit(m.group(1), bare=True))):
            match = pattern.search(rest)
            if match and match.start() > 0 and (test is None or test(match)):
                rest = rest[: match.start()]
                break
        rest = _SPACING_TAIL.sub("", rest)
        if rest == answer or not rest.strip():
            return answer
        answer = rest


def _cut_core(text: str, core: str) -> str:
    """`text` less the characters that spell `core` at its end (spacing, braces, wrappers skipped)."""
    plain = re.sub(_WRAPPER, r"\1", text).replace("\\%", "%")
    index, matched = len(plain), len(core)
    while index > 0 and matched > 0:
        if plain[index - 1].isspace() or plain[index - 1] in "{}$~":
            index -= 1
        elif plain[index - 1] == core[matched - 1]:
            index, matched = index - 1, matched - 1
        else:
            return text
    return plain[:index]


_TEXT_GROUP = re.compile(r"(\\text\s*\{[^{}]*\})")
_THOUSANDS_GROUPS = re.compile(r"(?<=\d)(?:\{,\}|\\,|\\ |~|\\!)(?=\d{3}(?!\d))")
_THOUSANDS_COMMAS = re.compile(r"-?\d{1,3}(?:,\d{3})+(?:\.\d+)?")
_SCIENTIFIC = re.compile(
    r"(?<![\w.\\])(\d+(?:\.\d*)?|\.\d+)\s*(?:[eE]\s*([+-]?\d{1,3})(?![\w.])"
    r"|(?:\\times|\\cdot|\*|×)\s*10\s*\^\s*(?:\{\s*([+-]?\d{1,3})\s*\}|([+-]?\d)))"
)
_POWER_OF_TEN = re.compile(r"(?<![\w.\\^])10\s*\^\s*(?:\{\s*([+-]?\d{1,2})\s*\}|([+-]?\d))(?![\d^])")
_PRIME = re.compile(r"\^\s*(?:\{\s*((?:\\prime\s*)+)\}|(\\prime))")
_APOSTROPHES = re.compile(r"(?<=[A-Za-z})\]])('+)")
_TRAILING_DOT = re.compile(r"(?<=\d)\.(?!\d)")


def _scientific(match: re.Match) -> str:
    mantissa = match.group(1).rstrip(".") or "0"
    exponent = next(group for group in match.groups()[1:] if group is not None)
    return f"{mantissa}E{int(exponent)}"


def _power_of_ten(match: re.Match) -> str:
    exponent = int(match.group(1) or match.group(2))
    return str(10**exponent) if exponent >= 0 else "\\frac{1}{" + str(10**-exponent) + "}"


def _primes(match: re.Match) -> str:
    count = (match.group(1) or match.group(2)).count("\\prime")
    return "^{" + "\\prime" * count + "}"


def normalize_answer(latex: str, unit: str = "") -> str:
    """One answer (model's or gold) as the LaTeX math-verify reads best: see the module docstring."""
    text = _UNESCAPED_DOLLAR.sub("", str(latex)).strip()
    text = _THOUSANDS_GROUPS.sub("", text)
    text = strip_units(text, unit).strip()
    if _THOUSANDS_COMMAS.fullmatch(text):  # one number, no spaces: "12,345" (but "1, 100" is a list)
        text = text.replace(",", "")
    parts = _TEXT_GROUP.split(text)  # text inside \text{} keeps its spaces
    for index in range(0, len(parts), 2):
        part = re.sub(r"\\[,;:!](?![a-zA-Z])|~|\\q?quad(?![a-zA-Z])", " ", parts[index])
        part = re.sub(r"(\\[A-Za-z]+)\s+", "\\1\0", part)  # a control word keeps one space
        parts[index] = re.sub(r"\s+", "", part).replace("\0", " ")
    text = "".join(parts)
    text = _PRIME.sub(_primes, text)
    text = _APOSTROPHES.sub(lambda m: "^{" + "\\prime" * len(m.group(1)) + "}", text)
    text = _POWER_OF_TEN.sub(_power_of_ten, _SCIENTIFIC.sub(_scientific, text))  # exact: no float chopping
    return _TRAILING_DOT.sub("", text).strip()


def gold_latex(gold: str, unit: str = "") -> str:
    """A gold answer as one normalized LaTeX expression: `$` delimiters dropped (OlympiadBench
    "$69$,$84$" -> "69,84", a multi-part answer), units removed (normalize_answer)."""
    return normalize_answer(str(gold), unit)


# --- math answers: precision and comparison -------------------------------------------------------

_DECIMAL = re.compile(r"(?<![\w.])(\d*)\.(\d+)(?:E([+-]?\d+))?(?![\d.])|(?<![\w.])(\d+)E([+-]?\d+)(?![\d.])")


def stated_decimals(latex: str) -> list[tuple[int, int]]:
    """(decimal places of the last written digit, significant digits) of each decimal literal in a
    normalized answer: "0.050" -> (3, 2), "3.3E-10" -> (11, 2), "1.28E3" -> (-1, 3), "8E8" -> (-8, 1)."""
    found = []
    for whole, fraction, exponent, integer, integer_exponent in _DECIMAL.findall(latex):
        digits = (whole + fraction) if not integer else integer
        shift = int(exponent or integer_exponent or 0)
        places = (len(fraction) if not integer else 0) - shift
        found.append((places, max(len(digits.lstrip("0")), 1)))
    return found


def _magnitude(parsed) -> float | None:
    """|smallest non-zero number| in a parsed gold (a number, or the numbers of a tuple/set)."""
    values = []
    for item in getattr(parsed, "args", ()) if not getattr(parsed, "is_number", False) else (parsed,):
        try:
            if getattr(item, "is_number", False) and item != 0:
                values.append(abs(complex(item.evalf())))
        except (TypeError, ValueError, AttributeError, OverflowError):
            continue
    values = [value for value in values if 0 < value < math.inf]
    return min(values) if values else None


def float_rounding(answer: str, gold: str, parsed_gold, precision: str, digits: int, min_digits: int) -> int:
    """Decimal places math-verify rounds floats to for this item (its `float_rounding`).

    `stated`: the gold's last written decimal place when the gold has decimals; else the answer's,
    plus the digits it lacks of `min_digits` significant ones; else 12 significant digits.
    `relative`: `digits` significant digits of the gold's magnitude.
    """
    magnitude = _magnitude(parsed_gold)
    exponent = math.floor(math.log10(magnitude)) if magnitude else 0
    if precision == "relative":
        return digits - 1 - exponent
    gold_decimals, answer_decimals = stated_decimals(gold), stated_decimals(answer)
    if gold_decimals:
        return max(places for places, _ in gold_decimals)
    if answer_decimals:
        places, significant = max(answer_decimals)
        return places + max(0, min_digits - significant)
    return 11 - exponent


def parse_answer(latex: str) -> list:
    """math-verify's parse of one normalized answer, with its own unit removal off: it strips any
    trailing word of its list (`c`, `m`, `east`), which strip_units does from UNITS instead."""
    from latex2sympy2_extended.latex2sympy2 import NormalizationConfig
    from math_verify import ExprExtractionConfig, LatexExtractionConfig, parse

    latex_config = LatexExtractionConfig(normalization_config=NormalizationConfig(
        basic_latex=True, units=False, malformed_operators=True, nits=True, boxed="all", equations=False))
    return parse(f"${latex}$", extraction_config=[latex_config, ExprExtractionConfig()], parsing_timeout=None)


def compare(answer: str, golds: list[str], precision: str = GradingConfig.precision,
            digits: int = GradingConfig.digits, min_digits: int = GradingConfig.min_digits) -> str:
    """`correct` when math-verify finds the normalized `answer` equivalent to any of the normalized
    `golds` (alternatives), else `parse_error` (math-verify reads no expression in the answer, at
    most a string) or `mismatch`. No time
    limit: callers bound it."""
    from math_verify import verify

    answer_parsed = parse_answer(answer)
    if not answer_parsed:
        return "parse_error"
    for gold in golds:
        gold_parsed = parse_answer(gold)
        if not gold_parsed:
            continue
        rounding = float_rounding(answer, gold, gold_parsed[0], precision, digits, min_digits)
        if verify(gold_parsed, answer_parsed, float_rounding=rounding, timeout_seconds=None):
            return "correct"
    return "parse_error" if isinstance(answer_parsed[0], str) else "mismatch"  # a string only: no maths in it


def math_equal(answer: str, gold: str) -> bool:
    """math-verify equivalence of two LaTeX answers, both normalized first (no time limit)."""
    return compare(normalize_answer(answer), [normalize_answer(gold)]) == "correct"


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


def _safe_compare(request: dict) -> str:
    try:
        return compare(**request)
    except Exception:  # malformed LaTeX that math-verify lets through: unreadable
        return "parse_error"


def _compare_under_alarm(request: dict, seconds: float) -> str:
    import math_verify  # noqa: F401  (a first import takes seconds: not part of the item's time)

    previous_handler = signal.signal(signal.SIGALRM, _on_alarm)
    previous_delay, _ = signal.setitimer(signal.ITIMER_REAL, seconds)
    started = time.monotonic()
    try:
        return _safe_compare(request)
    except _ItemTimeout:
        return "timeout"
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous_handler)
        if previous_delay:  # an outer timer was running: give it back what is left of it
            signal.setitimer(signal.ITIMER_REAL, max(previous_delay - (time.monotonic() - started), 1e-3))


class _GradingWorker:
    """A child Python process answering JSON `compare` requests, one a line, with a reason line."""

    def __init__(self, start_seconds: float) -> None:
        root = str(Path(__file__).resolve().parents[1])
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
        self.process = subprocess.Popen(
            [sys.executable, "-c", "from lenbench.grading import serve_worker; serve_worker()"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env,
        )
        if self._reply(start_seconds) != "ready":
            self.close()
            raise RuntimeError(f"lenbench grading worker did not start within {start_seconds} s (see its error above; "
                               "dataset.grading.worker_start_seconds allows more)")

    def _reply(self, seconds: float) -> str | None:
        ready, _, _ = select.select([self.process.stdout], [], [], seconds)
        return self.process.stdout.readline().strip() if ready else None

    def ask(self, request: dict, seconds: float) -> str | None:
        """The reason, or None when the item ran out of time (the worker is then unusable)."""
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        reply = self._reply(seconds)
        if reply is None:
            return None
        if reply not in REASONS:
            raise RuntimeError(f"lenbench grading worker stopped (exit code {self.process.poll()})")
        return reply

    def close(self) -> None:
        self.process.kill()
        self.process.wait()


_idle_workers: list[_GradingWorker] = []
_workers_lock = threading.Lock()


def _compare_in_worker(request: dict, seconds: float, start_seconds: float) -> str:
    with _workers_lock:
        worker = _idle_workers.pop() if _idle_workers else None
    worker = worker or _GradingWorker(start_seconds)
    try:
        reason = worker.ask(request, seconds)
    except (OSError, RuntimeError):
        worker.close()
        raise
    if reason is None:
        worker.close()
        return "timeout"
    with _workers_lock:
        _idle_workers.append(worker)
    return reason


@atexit.register
def _close_workers() -> None:
    with _workers_lock:
        while _idle_workers:
            _idle_workers.pop().close()


def serve_worker() -> None:
    """Body of a grading worker process: one reason line per request line, until stdin closes."""
    compare("1", ["1"])  # imports and warms up math-verify before "ready": items are timed without it
    replies, sys.stdout = sys.stdout, sys.stderr  # nothing but verdicts on the reply pipe
    replies.write("ready\n")
    replies.flush()
    for line in sys.stdin:
        replies.write(_safe_compare(json.loads(line)) + "\n")
        replies.flush()


# --- graders --------------------------------------------------------------------------------------


def _alternatives(gold) -> list[str]:
    """A gold answer as its list of alternatives (a list or tuple: any one is right)."""
    golds = list(gold) if isinstance(gold, (list, tuple)) else [gold]
    return [str(g) for g in golds if g is not None and str(g).strip()]


def judge_exact(completion: str, gold: str | int) -> Verdict:
    """Testbed verdict: the announced integer against the gold integer."""
    token = announced_answer(completion)
    if token is None:
        return Verdict(False, None, "no_answer")
    if not token.lstrip("-").isdigit():
        return Verdict(False, token, "parse_error")
    correct = int(token) == int(gold)
    return Verdict(correct, token, "correct" if correct else "mismatch")


def judge_math(completion: str, gold, grader: Grader | None = None, *, unit: str = "") -> Verdict:
    """Verdict of `math` grading: the answer extracted from the completion (after the think-close
    marker) against the gold (a list: alternatives), normalized, under the time limit."""
    grader = grader or Grader()
    cfg = grader.config
    text = text_after(completion, grader.think_close)
    answer = extract_answer(text, cfg.extract) if text is not None else None
    if answer is None:
        return Verdict(False, None, "no_answer")
    request = {"answer": normalize_answer(answer, unit), "golds": [gold_latex(g, unit) for g in _alternatives(gold)],
               "precision": cfg.precision, "digits": cfg.digits, "min_digits": cfg.min_digits}
    if not request["answer"] or not request["golds"]:
        return Verdict(False, answer, "parse_error")
    if _can_use_alarm():
        reason = _compare_under_alarm(request, cfg.timeout_seconds)
    else:
        reason = _compare_in_worker(request, cfg.timeout_seconds, cfg.worker_start_seconds)
    return Verdict(reason == "correct", answer, reason)


def grade_math(completion: str, gold, timeout_seconds: float = MATH_TIMEOUT_SECONDS, *, unit: str = "") -> bool:
    """Is the completion right under default `math` grading (boxed, then "answer is")?"""
    grader = Grader(config=GradingConfig(timeout_seconds=timeout_seconds))
    return judge_math(completion, gold, grader, unit=unit).correct


def as_grader(grader: str | Grader) -> Grader:
    """A Grader from a grader name (default settings) or a Grader; ValueError for an unknown name."""
    kind = grader.kind if isinstance(grader, Grader) else grader
    if kind not in GRADERS:
        raise ValueError(f"unknown grader {kind!r}; allowed: {', '.join(GRADERS)}")
    return grader if isinstance(grader, Grader) else Grader(kind)


def judge(completion: str, gold, grader: str | Grader, *, unit: str = "") -> Verdict:
    """The verdict on `completion` for `gold` (a list: alternatives) under `grader` (`unit`: math only)."""
    grader = as_grader(grader)
    if grader.kind == "exact":
        return judge_exact(completion, gold)
    return judge_math(completion, gold, grader, unit=unit or "")


def grade(completion: str, gold, grader: str | Grader, *, unit: str = "") -> bool:
    """Is `completion` correct for `gold` under `grader` (`unit`: the item's unit, math only)."""
    return judge(completion, gold, grader, unit=unit).correct


def grade_all(completions: list[str], golds: list, grader: str | Grader, units: list[str] | None = None,
              alternatives: list | None = None) -> list[bool]:
    """`grade` over a batch, as TRL passes dataset columns (lists); `units` and `alternatives` (a list
    of any-of golds per row, empty for a single gold) are absent on the testbed."""
    units = units if units is not None else [""] * len(completions)
    alternatives = alternatives if alternatives is not None else [None] * len(completions)
    return [grade(c, alts or gold, grader, unit=u)
            for c, gold, u, alts in zip(completions, golds, units, alternatives, strict=True)]
