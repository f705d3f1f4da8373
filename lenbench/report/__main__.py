"""`python -m lenbench.report`: the comparison table of MLflow runs, printed as Markdown and saved as CSV.

    python -m lenbench.report [--uri sqlite:///mlflow.db ...] [--experiment lenbench] [--methods base lapo]
                              [--dataset arith] [--out report]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from lenbench.errors import ConfigError


def main(argv: list[str] | None = None) -> int:
    from lenbench.report.runs import load_runs
    from lenbench.report.tables import compare

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--uri", nargs="+", default=["sqlite:///mlflow.db"],
                        help="MLflow store(s), read together (default sqlite:///mlflow.db)")
    parser.add_argument("--experiment", default="lenbench")
    parser.add_argument("--methods", nargs="*", help="only these methods (base is always needed)")
    parser.add_argument("--dataset", help="only runs on this dataset")
    parser.add_argument("--out", default="report", help="directory for the CSV files (default report/)")
    args = parser.parse_args(argv)
    try:
        methods = sorted(set(args.methods) | {"base"}) if args.methods else None
        result = compare(load_runs(args.uri, args.experiment, methods, args.dataset))
    except ConfigError as error:
        print(f"lenbench report: {error}", file=sys.stderr)
        return 2
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    result.table.to_csv(out / "comparison.csv", index=False)
    result.by_difficulty.to_csv(out / "by_difficulty.csv")
    shown = result.table.drop(columns=["method", "eval_hash"])
    print(shown.to_markdown(index=False, floatfmt=".3f"))
    if not result.by_difficulty.empty:
        print()
        print(result.by_difficulty.to_markdown(floatfmt=".3f"))
    for reason in result.excluded:
        print(f"excluded: {reason}")
    print(f"\nwritten: {out / 'comparison.csv'}, {out / 'by_difficulty.csv'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
