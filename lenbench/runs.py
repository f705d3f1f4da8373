"""Runs whose process died, ended KILLED on demand (lenbench.tracking.liveness says how they are found):

    python -m lenbench.runs cleanup [--uri sqlite:///mlflow.db ...] [--experiment lenbench]
                                    [--stale-after 600] [--dry-run]

A dead run is ended KILLED at its last heartbeat, with the tag `killed_reason`. RUNNING runs without
a heartbeat tag (recorded before heartbeats existed, or not by lenbench) are left as they are and
listed.
"""

from __future__ import annotations

import argparse
import sys

from lenbench.config import TrackingConfig
from lenbench.errors import ConfigError


def cleanup(uris: list[str], experiment: str | None, stale_after: float, dry_run: bool) -> None:
    """Print what was (or, with dry_run, would be) ended, and the RUNNING runs left as they are."""
    from lenbench.tracking import check_existing_store, end_dead_runs, store_errors

    for uri in uris:
        check_existing_store(uri)
        with store_errors(uri):
            ended, alive = end_dead_runs(uri, experiment, stale_after, dry_run)
        verb = "would end" if dry_run else "ended"
        print(f"{uri}: {len(ended)} dead RUNNING run(s) {verb} KILLED, {len(alive)} RUNNING run(s) left as they are")
        for run in ended:
            print(f"  {verb} KILLED: {run.describe()}: {run.dead}")
        for run in alive:
            why = "no heartbeat tag: cannot tell" if run.heartbeat is None else "its process may still run"
            print(f"  left RUNNING: {run.describe()}: {why}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    clean = commands.add_parser("cleanup", help="end KILLED the RUNNING runs whose process died")
    clean.add_argument("--uri", nargs="+", default=[TrackingConfig.uri],
                       help=f"MLflow store(s) (default {TrackingConfig.uri})")
    clean.add_argument("--experiment", help="only this experiment (default: every experiment of the store)")
    clean.add_argument("--stale-after", type=float, default=TrackingConfig.stale_after_seconds,
                       help="seconds without a heartbeat after which a run of another host is dead "
                            f"(default {TrackingConfig.stale_after_seconds:.0f})")
    clean.add_argument("--dry-run", action="store_true", help="only list what would be ended")
    args = parser.parse_args(argv)
    try:
        if args.stale_after <= 0:
            raise ConfigError(f"--stale-after={args.stale_after} is out of range; allowed: > 0")
        cleanup(args.uri, args.experiment, args.stale_after, args.dry_run)
    except ConfigError as error:
        print(f"lenbench runs: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
