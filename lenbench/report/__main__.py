"""`python -m lenbench.report`: compare MLflow runs; writes CSV, PNG plots, Markdown and HTML reports.

    python -m lenbench.report [--uri sqlite:///mlflow.db ...] [--experiment lenbench] [--methods base lapo]
                              [--dataset arith] [--sweep lead_floor] [--out report]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from lenbench.errors import ConfigError


def log_report(uri: str, experiment: str, out: Path, table) -> str:
    """The report as an MLflow run of its own: every file as an artifact, the compared configs as a tag."""
    from lenbench.tracking import log_folder_run

    return log_folder_run(uri, experiment, "report", {"kind": "report", "configs": ", ".join(table["config"])}, out)


def main(argv: list[str] | None = None) -> int:
    from lenbench.report.runs import load_runs, unfinished_runs
    from lenbench.report.tables import compare, reason_counts

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--uri", nargs="+", default=["sqlite:///mlflow.db"],
                        help="MLflow store(s), read together (default sqlite:///mlflow.db)")
    parser.add_argument("--experiment", default="lenbench")
    parser.add_argument("--methods", nargs="*", help="only these methods (base is always needed)")
    parser.add_argument("--dataset", help="only runs on this dataset")
    parser.add_argument("--sweep", help="only runs of this sweep (tag `sweep`), plus the base runs")
    parser.add_argument("--out", default="report", help="directory for the report files (default report/)")
    parser.add_argument("--aes", nargs=3, type=float, default=[1.0, 3.0, 5.0], metavar=("A", "B", "G"),
                        help="AES constants a, b, g (default 1 3 5): a*dL + b*|dA| if dA >= 0 else a*dL - g*|dA|")
    parser.add_argument("--keywords", nargs="+", default=["check", "fix"],
                        help="reflection markers counted per completion (testbed: check fix; real models e.g. "
                             "wait alternatively check)")
    parser.add_argument("--no-log", action="store_true",
                        help="do not log the report to MLflow (default: a run in experiment '<experiment>-reports' "
                             "of the first store, with every file as an artifact)")
    args = parser.parse_args(argv)
    try:
        methods = sorted(set(args.methods) | {"base"}) if args.methods else None
        result = compare(load_runs(args.uri, args.experiment, methods, args.dataset, args.sweep), *args.aes)
        result.excluded.extend(note for uri in args.uri if (note := unfinished_runs(uri, args.experiment)))
    except ConfigError as error:
        print(f"lenbench report: {error}", file=sys.stderr)
        return 2
    from lenbench.report.budgets import budget_curves, budget_plot
    from lenbench.report.documents import html_report, markdown_report
    from lenbench.report.dynamics import curves, dynamics_plot
    from lenbench.report.plots import difficulty_plot, pareto_plot
    from lenbench.report.reflection import load_samples, reflection_table

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    table = result.table.drop(columns=["method", "eval_hash"]).set_index("config")
    table.to_csv(out / "comparison.csv")
    budgets = budget_curves(result.runs)
    budgets.to_csv(out / "budget_curves.csv")
    images = [pareto_plot(result.table, out / "pareto.png"),
              budget_plot(budgets, result.table, out / "budget_curves.png")]
    if not result.by_difficulty.empty:
        result.by_difficulty.to_csv(out / "by_difficulty.csv")
        images.append(difficulty_plot(result.by_difficulty, out / "by_difficulty.png"))
    configs = result.runs["config"]
    dynamics = curves(result.runs, configs)
    dynamics.to_csv(out / "dynamics.csv", index=False)
    images.append(dynamics_plot(dynamics, out / "dynamics.png"))
    samples, no_samples = load_samples(result.runs, configs)
    result.excluded.extend(no_samples)
    reflection = reflection_table(samples, args.keywords)
    reflection.to_csv(out / "reflection.csv")
    reasons = reason_counts(samples)
    reasons.to_csv(out / "reasons.csv")
    images = [image for image in images if image is not None]
    sections = [("Comparison with base (same eval set)", table),
                ("Accuracy under token budgets: pass@1 when a completion longer than B counts as wrong", budgets),
                ("By difficulty", result.by_difficulty),
                (f"Reflection: mean {', '.join(args.keywords)} per completion", reflection),
                ("Grading reasons: completions per verdict reason (eval/samples.csv)", reasons)]
    (out / "report.md").write_text(markdown_report(sections, result.excluded, images))
    (out / "report.html").write_text(html_report(sections, result.excluded, images))
    for title, section in sections:
        if not section.empty:
            print(f"## {title}\n\n{section.to_markdown(floatfmt='.3f')}\n")
    for reason in result.excluded:
        print(f"excluded: {reason}")
    if not args.no_log:
        run_id = log_report(args.uri[0], f"{args.experiment}-reports", out, result.table)
        print(f"logged as MLflow run {run_id} in experiment '{args.experiment}-reports' at {args.uri[0]}")
    print(f"written to {out}/: comparison.csv, budget_curves.csv, by_difficulty.csv, dynamics.csv, reflection.csv, "
          f"reasons.csv, {', '.join(i.name for i in images)}, report.md, report.html")
    return 0


if __name__ == "__main__":
    sys.exit(main())
