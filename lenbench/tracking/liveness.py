"""Liveness of runs: tags that tell whether a run's process still runs, and the dead RUNNING runs
found and ended KILLED, so no run stays RUNNING forever.

A job's run carries the tags `host`, `pid`, `pid_started` (the process's start time, so a reused pid
is not mistaken for the job) and `heartbeat` (unix seconds, refreshed every
`tracking.heartbeat_seconds` by a background thread while the job runs). A RUNNING run is dead when
- it ran on this host and its process is gone (pid not running, or running but started at
  another time), or
- it ran on another host and its heartbeat is older than `tracking.stale_after_seconds`.
Each job ends the dead runs of its store when it starts (lenbench.tracking.job); `python -m
lenbench.runs cleanup` does it on demand. A dead run is ended KILLED at its last heartbeat, with the
tag `killed_reason`.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import psutil
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from lenbench.config import TrackingConfig
from lenbench.errors import ConfigError

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
