"""What the testbed base model does, measured on its held-out eval samples: the phenomena table.

`python -m lenbench.testbed.phenomena [--uri sqlite:///mlflow.db] [--method base]` reads the
FINISHED runs of one method on the testbed (their `eval/samples.csv`, no new generation) and prints,
per difficulty k: greedy accuracy, pass@1, mean tokens of correct and of wrong completions, oracle
ratio, truncation rate, checks per completion, and the fraction of slips (wrong step results) that a
later check fixed. The completions are parsed with the testbed's trace grammar
(`a op b = r ;`, `check a op b = r ok|fix ;`).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass

import pandas as pd

from lenbench.errors import ConfigError
from lenbench.testbed.arith import OPERATORS, apply_op


@dataclass
class TraceEvents:
    """What one completion did, read back from its text."""

    steps: int = 0
    """Step lines `a op b = r ;`."""
    slips: int = 0
    """Step lines whose result is wrong for their own operands."""
    fixed: int = 0
    """Slips that a later `check ... fix` line corrected to the right value."""
    checks: int = 0
    """`check` lines."""


def _operation(words: list[str]) -> tuple[int, str, int, int] | None:
    """(left, op, right, written) of `a op b = r`, or None when the words are not one."""
    if len(words) < 5 or words[1] not in OPERATORS or words[3] != "=":
        return None
    try:
        return int(words[0]), words[1], int(words[2]), int(words[4])
    except ValueError:
        return None


def trace_events(text: str) -> TraceEvents:
    """Parse a testbed completion into its steps, slips, checks and fixed slips."""
    events = TraceEvents()
    open_slips: set[tuple[int, str, int]] = set()
    thinking = text.split("</think>")[0]
    for segment in thinking.split(";"):
        words = segment.split()
        if words[:1] == ["check"]:
            events.checks += 1
            parsed = _operation(words[1:])
            if parsed and words[-1] == "fix":
                left, op, right, written = parsed
                if (left, op, right) in open_slips and written == apply_op(left, op, right):
                    open_slips.discard((left, op, right))
                    events.fixed += 1
            continue
        parsed = _operation(words)
        if parsed is None:
            continue
        left, op, right, written = parsed
        events.steps += 1
        if written != apply_op(left, op, right):
            events.slips += 1
            open_slips.add((left, op, right))
    return events


def phenomena_table(samples: pd.DataFrame) -> pd.DataFrame:
    """One row per difficulty (and `all`) from eval samples (columns difficulty, decoding, completion,
    tokens, truncated, correct, oracle_length; several runs may be stacked)."""
    sampled = samples[samples["decoding"] == "sample"].copy()
    greedy = samples[samples["decoding"] == "greedy"]
    events = [trace_events(text) for text in sampled["completion"].fillna("")]
    sampled["checks"] = [e.checks for e in events]
    sampled["slips"] = [e.slips for e in events]
    sampled["fixed"] = [e.fixed for e in events]
    sampled["ratio"] = sampled["tokens"] / sampled["oracle_length"]

    def row(part: pd.DataFrame, greedy_part: pd.DataFrame) -> dict[str, float]:
        correct, wrong = part[part["correct"]], part[~part["correct"]]
        return {
            "greedy_accuracy": float(greedy_part["correct"].mean()) if len(greedy_part) else float("nan"),
            "pass@1": float(part["correct"].mean()),
            "tokens_correct": float(correct["tokens"].mean()) if len(correct) else float("nan"),
            "tokens_wrong": float(wrong["tokens"].mean()) if len(wrong) else float("nan"),
            "oracle_ratio": float(part["ratio"].mean()),
            "truncation": float(part["truncated"].mean()),
            "checks": float(part["checks"].mean()),
            "slips_fixed": float(part["fixed"].sum() / part["slips"].sum()) if part["slips"].sum() else float("nan"),
        }

    rows = {int(k): row(part, greedy[greedy["difficulty"] == k]) for k, part in sampled.groupby("difficulty")}
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.loc["all"] = row(sampled, greedy)
    table.index.name = "k"
    return table


def wrong_to_correct_ratio(samples: pd.DataFrame) -> float:
    """Mean tokens of wrong over correct sampled completions at equal difficulty: the ratio per k,
    averaged with the number of wrong completions at that k as weights."""
    sampled = samples[samples["decoding"] == "sample"]
    ratios, weights = [], []
    for _, part in sampled.groupby("difficulty"):
        correct, wrong = part[part["correct"]], part[~part["correct"]]
        if len(correct) and len(wrong):
            ratios.append(wrong["tokens"].mean() / correct["tokens"].mean())
            weights.append(len(wrong))
    if not ratios:
        return float("nan")
    return float(sum(r * w for r, w in zip(ratios, weights, strict=True)) / sum(weights))


def main(argv: list[str] | None = None) -> int:
    from lenbench.report.reflection import load_samples
    from lenbench.report.runs import load_runs

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--uri", nargs="+", default=["sqlite:///mlflow.db"], help="MLflow store(s)")
    parser.add_argument("--experiment", default="lenbench")
    parser.add_argument("--method", default="base", help="whose eval samples to read (default base)")
    parser.add_argument("--dataset", default="arith")
    args = parser.parse_args(argv)
    try:
        runs = load_runs(args.uri, args.experiment, [args.method], args.dataset)
    except ConfigError as error:
        print(f"lenbench phenomena: {error}", file=sys.stderr)
        return 2
    samples, missing = load_samples(runs, pd.Series(runs["run_id"], index=runs.index))
    for line in missing:
        print(f"lenbench phenomena: {line}", file=sys.stderr)
    if samples.empty:
        print("lenbench phenomena: no eval samples to read", file=sys.stderr)
        return 2
    table = phenomena_table(samples)
    print(f"{args.method} on {args.dataset}: {len(runs)} run(s), {int((samples.decoding == 'sample').sum())} "
          "sampled completions")
    print(table.to_markdown(floatfmt=".3f"))
    print(f"wrong/correct tokens at equal difficulty: {wrong_to_correct_ratio(samples):.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
