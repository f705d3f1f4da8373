"""Gold self-grading: every gold answer of the evaluation presets, boxed as a model answer, graded
against itself. What fails shows where loading or `math` grading loses answers.

    python -m lenbench.data.selfgrade                    # files from $LENBENCH_BENCHMARKS or ../shared/data/benchmarks
    python -m lenbench.data.selfgrade --root /data/math  # files from another directory
    python -m lenbench.data.selfgrade --time             # also: seconds per graded item (p50, p99), timeouts

`--time` grades every gold twice more, each call timed: against itself (a match) and against the
next item's gold (a mismatch, which tries every comparison before saying no), and prints the
median and 99th percentile seconds per item and the items that reached the time limit.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from datasets import Dataset

from lenbench.errors import ConfigError
from lenbench.grading import MATH_TIMEOUT_SECONDS, gold_latex, grade, parse_answer

EVAL_PRESETS = ("math500", "aime24", "amc23", "gsm8k", "olympiadbench")
CONF_DIR = Path(__file__).resolve().parents[2] / "conf"


@dataclass
class SelfGrade:
    name: str
    rows: int
    correct: int
    seconds: float
    failures: list[tuple[str, str]]
    """(problem id, gold answer) of every gold answer graded wrong."""
    unparsed: list[tuple[str, str]]
    """(problem id, gold answer) of golds math-verify reads only as a string, not as maths: they
    match themselves, but an equivalent answer written differently would be graded wrong."""

    @property
    def rate(self) -> float:
        return self.correct / self.rows if self.rows else 0.0


def gold_as_completion(gold: str, unit: str = "") -> str:
    """A model answer stating exactly the gold answer (with the unit, when the item has one)."""
    stated = f"{gold} {unit.replace('$', '')}" if unit else gold
    return f"Reasoning omitted. The answer is $\\boxed{{{stated}}}$."


def parses_as_math(gold: str, unit: str = "") -> bool:
    """Does math-verify read the gold answer as a math expression (not only as a string)?"""
    parsed = parse_answer(gold_latex(gold, unit))
    return bool(parsed) and not isinstance(parsed[0], str)


def self_grade(name: str, data: Dataset) -> SelfGrade:
    """Grade every gold answer of `data` against itself (grader `math`)."""
    started, failures, unparsed = time.monotonic(), [], []
    for item in data:
        unit, gold, golds = item.get("unit") or "", item["answer"], item.get("alternatives") or item["answer"]
        stated = item["alternatives"][0] if item.get("alternatives") else gold
        if not grade(gold_as_completion(stated, unit), golds, "math", unit=unit):
            failures.append((item["problem_id"], gold))
        if not all(parses_as_math(g, unit) for g in item.get("alternatives") or [gold]):
            unparsed.append((item["problem_id"], gold))
    seconds = time.monotonic() - started
    return SelfGrade(name, len(data), len(data) - len(failures), seconds, failures, unparsed)


@dataclass
class GradingTimes:
    name: str
    match: list[float]
    """Seconds of grading each gold answer against itself."""
    mismatch: list[float]
    """Seconds of grading each gold answer against the next item's gold."""

    def timeouts(self, limit: float = MATH_TIMEOUT_SECONDS) -> int:
        """Items whose grading reached the per-item time limit (graded wrong for lack of time)."""
        return sum(seconds >= limit for seconds in self.match + self.mismatch)


def time_grading(name: str, data: Dataset) -> GradingTimes:
    """Wall-clock seconds of `grade` per item: each gold against itself and against the next gold."""
    items = [(item["answer"], item.get("unit") or "") for item in data]
    match, mismatch = [], []
    for index, (gold, unit) in enumerate(items):
        other, _ = items[(index + 1) % len(items)]
        for answer, times in ((gold, match), (other, mismatch)):
            started = time.perf_counter()
            grade(gold_as_completion(answer, unit), gold, "math", unit=unit)
            times.append(time.perf_counter() - started)
    return GradingTimes(name, match, mismatch)


def quantile(values: list[float], q: float) -> float:
    """The q-quantile of `values`: the observation of rank round(q * n), halves to even (numpy's
    `closest_observation`); NaN when there is none."""
    return float(np.quantile(values, q, method="closest_observation")) if values else float("nan")


def timing_report(results: list[GradingTimes]) -> str:
    lines = [f"{'file':<15}{'items':>7}{'match p50 ms':>14}{'p99 ms':>9}{'mismatch p50 ms':>17}{'p99 ms':>9}"
             f"{'timeouts':>10}"]
    total = GradingTimes("all", [t for one in results for t in one.match], [t for one in results for t in one.mismatch])
    for r in [*results, total]:
        lines.append(f"{r.name:<15}{len(r.match):>7}{1e3 * quantile(r.match, .5):>14.2f}"
                     f"{1e3 * quantile(r.match, .99):>9.1f}{1e3 * quantile(r.mismatch, .5):>17.2f}"
                     f"{1e3 * quantile(r.mismatch, .99):>9.1f}{r.timeouts():>10}")
    return "\n".join(lines)


def preset_eval_data(name: str) -> Dataset:
    """The eval split of the dataset preset conf/dataset/<name>.yaml."""
    from hydra import compose, initialize_config_dir

    from lenbench.config import load_run_config
    from lenbench.data import load_task_data

    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        run = load_run_config(compose(config_name="config", overrides=[f"dataset={name}"]))
    return load_task_data(run.dataset).eval


def report(results: list[SelfGrade]) -> str:
    lines = [f"{'file':<15}{'rows':>7}{'correct':>9}{'rate':>8}{'as maths':>10}{'seconds':>9}"]
    lines += [
        f"{r.name:<15}{r.rows:>7}{r.correct:>9}{r.rate:>8.3f}{r.rows - len(r.unparsed):>10}{r.seconds:>9.1f}"
        for r in results
    ]
    for result in results:
        if result.failures:
            lines.append(f"\n{result.name}: {len(result.failures)} gold answers not graded correct")
            lines += [f"  {problem_id}: {gold}" for problem_id, gold in result.failures]
        if result.unparsed:
            lines.append(f"\n{result.name}: {len(result.unparsed)} gold answers read as strings only")
            lines += [f"  {problem_id}: {gold}" for problem_id, gold in result.unparsed]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", help="directory holding the benchmark files (sets LENBENCH_BENCHMARKS)")
    parser.add_argument("--time", action="store_true", help="also time grading per item (p50, p99) and count timeouts")
    args = parser.parse_args(argv)
    if args.root:
        os.environ["LENBENCH_BENCHMARKS"] = str(Path(args.root).expanduser().resolve())
    try:
        data = {name: preset_eval_data(name) for name in EVAL_PRESETS}
    except ConfigError as error:
        print(f"lenbench selfgrade: {error}", file=sys.stderr)
        return 2
    print(report([self_grade(name, rows) for name, rows in data.items()]))
    if args.time:
        print("\n" + timing_report([time_grading(name, rows) for name, rows in data.items()]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
