"""Agreement of `math` grading with a careful human, by category (tests/grading_cases.py).

    python scripts/grading_audit.py            # the table; --disagreements lists each case graded otherwise

Each case is graded as the dataset presets would (its extraction strategies, unit field, and the
</think> marker of a thinking model); `agree` counts the verdicts equal to the human's. Cases marked
`known` are documented limitations. Prints figures; asserts nothing (tests/test_grading_cases.py does).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))


def verdict(case) -> tuple[bool, str]:
    """(correct, reason) of one case under lenbench's grading. On an older lenbench (PYTHONPATH at a
    checkout from before verdicts, to measure a change) it grades as that one did: boxes only, a
    list gold joined into one multi-part answer, no think marker; the reason is then `n/a`."""
    try:
        from lenbench.config import GradingConfig
        from lenbench.grading import Grader, judge
    except ImportError:
        from lenbench.grading import grade

        gold = ", ".join(case.gold) if isinstance(case.gold, list) else case.gold
        return grade(case.completion, gold, "math", unit=case.unit), "n/a"

    config = GradingConfig(extract=list(case.extract)) if case.extract else GradingConfig()
    result = judge(case.completion, case.gold, Grader("math", config, "</think>" if case.think else None),
                   unit=case.unit)
    return result.correct, result.reason


def agreement_table(cases):
    """One row per category: cases, right per the human, agreeing verdicts, agreement rate."""
    import pandas as pd

    rows = []
    for case in cases:
        correct, reason = verdict(case)
        rows.append({"category": case.category, "human_right": case.correct, "agree": correct == case.correct,
                     "known": bool(case.known), "reason": reason, "case": case})
    frame = pd.DataFrame(rows)
    table = frame.groupby("category", sort=False).agg(cases=("agree", "size"), human_right=("human_right", "sum"),
                                                      agree=("agree", "sum"), known_limits=("known", "sum"))
    table.loc["all"] = table.sum()
    table = table.astype(int)
    table["agreement"] = table["agree"] / table["cases"]
    return table, frame


def main(argv: list[str] | None = None) -> int:
    from grading_cases import CASES

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--disagreements", action="store_true", help="list every case graded unlike the human")
    args = parser.parse_args(argv)
    table, frame = agreement_table(CASES)
    print(table.to_markdown(floatfmt=["", "g", "g", "g", "g", ".3f"]))
    if args.disagreements:
        for row in frame[~frame.agree].itertuples():
            print(f"- [{row.category}] {row.case.answer!r} vs {row.case.gold!r}: human {row.human_right}, "
                  f"grader {row.reason}{' (known: ' + row.case.known + ')' if row.case.known else ''}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
