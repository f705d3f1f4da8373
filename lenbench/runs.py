"""Runs whose process died: found and ended KILLED, so no run stays RUNNING forever.

A job's run carries the tags `host`, `pid`, `pid_started` (the process's start time, so a reused pid
is not mistaken for the job) and `heartbeat` (unix seconds, refreshed every
`tracking.heartbeat_seconds` by a background thread while the job runs). A RUNNING run is dead when
- it ran on this host and its process is gone (pid not running, or running but started at
  another time), or
- it ran on another host and its heartbeat is older than `tracking.stale_after_seconds`.
Each job ends the dead runs of its store when it starts (lenbench.tracking); the command does it
on demand:

    python -m lenbench.runs cleanup [--uri sqlite:///mlflow.db ...] [--experiment lenbench]
                                    [--stale-after 600] [--dry-run]

A dead run is ended KILLED at its last heartbeat, with the tag `killed_reason`. RUNNING runs without
a heartbeat tag (recorded before heartbeats existed, or not by lenbench) are left as they are and
listed.
"""

from __future__ import annotations

import argparse
import logging
import os
import socket
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import psutil

from lenbench.config import TrackingConfig
from lenbench.errors import ConfigError
from lenbench.store_lock import sqlite_path

HOST, PID, PID_STARTED, HEARTBEAT, KILLED_REASON = "host", "pid", "pid_started", "heartbeat", "killed_reason"


def liveness_tags() -> dict[str, str]:
    """The tags that let a later job tell whether this process still runs."""
    return {HOST: socket.gethostname(), PID: str(os.getpid()),
            PID_STARTED: f"{psutil.Process().create_time():.2f}", HEARTBEAT: f"{time.time():.0f}"}


def process_alive(pid: int, started: float | None) -> bool:
    """True if `pid` runs on this host (and, when `started` is given, is the process started then)."""
    try:
        process = psutil.Process(pid)
        return started is None or abs(process.create_time() - started) < 1.0
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:  # another user's process: it exists
        return True


def death_reason(tags: dict[str, str], now: float, stale_after: float, host: str | None = None) -> str | None:
    """Why a RUNNING run's process is dead, from its tags; None if it may still run (or cannot tell)."""
    if HEARTBEAT not in tags:
        return None
    beat = float(tags[HEARTBEAT])
    if tags.get(HOST) == (host or socket.gethostname()) and PID in tags:
        started = float(tags[PID_STARTED]) if PID_STARTED in tags else None
        if process_alive(int(tags[PID]), started):
            return None
        return f"its process (pid {tags[PID]} on {tags[HOST]}) is gone"
    age = now - beat
    if age > stale_after:
        return f"no heartbeat from {tags.get(HOST, 'an unknown host')} for {age:.0f} s (> {stale_after:.0f} s)"
    return None


@dataclass
class RunningRun:
    """A RUNNING run of a store and what is known about its process."""

    run_id: str
    name: str
    experiment: str
    heartbeat: float | None
    """Unix seconds of its last heartbeat; None without the tag."""
    dead: str | None
    """Why its process is dead; None while it may still run."""

    def describe(self) -> str:
        beat = "no heartbeat tag" if self.heartbeat is None else f"last heartbeat {_clock(self.heartbeat)}"
        return f"run {self.run_id} ({self.name}, experiment {self.experiment}; {beat})"


def running_runs(uri: str, experiment: str | None = None, stale_after: float | None = None) -> list[RunningRun]:
    """The RUNNING runs of a store (of one experiment, or all), each judged dead or not."""
    from mlflow import MlflowClient

    stale_after = TrackingConfig.stale_after_seconds if stale_after is None else stale_after
    client = MlflowClient(tracking_uri=uri)
    if experiment is None:
        experiments = {e.experiment_id: e.name for e in client.search_experiments()}
    else:
        found = client.get_experiment_by_name(experiment)
        if found is None:
            raise ConfigError(f"no MLflow experiment {experiment!r} in the store {uri}")
        experiments = {found.experiment_id: found.name}
    runs, token, now, host = [], None, time.time(), socket.gethostname()
    while experiments:
        page = client.search_runs(list(experiments), "attributes.status = 'RUNNING'", page_token=token)
        for run in page:
            tags = run.data.tags
            runs.append(RunningRun(
                run.info.run_id, run.info.run_name, experiments[run.info.experiment_id],
                float(tags[HEARTBEAT]) if HEARTBEAT in tags else None, death_reason(tags, now, stale_after, host),
            ))
        token = page.token
        if not token:
            break
    return runs


def end_dead_runs(uri: str, experiment: str | None = None, stale_after: float | None = None,
                  dry_run: bool = False) -> tuple[list[RunningRun], list[RunningRun]]:
    """End the dead RUNNING runs KILLED (at their last heartbeat); returns (ended, still running)."""
    from mlflow import MlflowClient

    runs = running_runs(uri, experiment, stale_after)
    dead = [run for run in runs if run.dead]
    client = MlflowClient(tracking_uri=uri)
    for run in [] if dry_run else dead:
        client.set_tag(run.run_id, KILLED_REASON, run.dead)
        client.set_terminated(run.run_id, status="KILLED", end_time=int(run.heartbeat * 1000))
    return dead, [run for run in runs if not run.dead]


@contextmanager
def heartbeat(uri: str, run_id: str, every: float) -> Iterator[None]:
    """Refresh the run's `heartbeat` tag every `every` seconds from a daemon thread while inside."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    client, stop = MlflowClient(tracking_uri=uri), threading.Event()

    def beat() -> None:
        while not stop.wait(every):
            try:
                client.set_tag(run_id, HEARTBEAT, f"{time.time():.0f}")
            except (MlflowException, OSError) as error:  # a busy store: the next beat tries again
                logging.getLogger(__name__).warning("heartbeat of run %s not recorded: %s", run_id, error)

    thread = threading.Thread(target=beat, name=f"heartbeat-{run_id[:8]}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def _clock(seconds: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(seconds))


def _check_store(uri: str) -> None:
    path = sqlite_path(uri)
    if path is not None and not path.is_file():
        raise ConfigError(f"no MLflow store at {uri} (file {path} does not exist)")


def cleanup(uris: list[str], experiment: str | None, stale_after: float, dry_run: bool) -> None:
    """Print what was (or, with dry_run, would be) ended, and the RUNNING runs left as they are."""
    from mlflow.exceptions import MlflowException

    for uri in uris:
        _check_store(uri)
        try:
            ended, alive = end_dead_runs(uri, experiment, stale_after, dry_run)
        except MlflowException as error:
            raise ConfigError(f"cannot read the store {uri}: {error.message.splitlines()[0]}") from None
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
