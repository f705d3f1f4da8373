"""Runs whose process died are found and ended KILLED (lenbench.tracking.liveness), by the next job or the
`lenbench.runs` command.

Processes here are real: a child opens a tracked run and is killed with SIGKILL, so it has no chance
to end its run; the liveness verdicts are read back from what MLflow holds.
"""

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time

import mlflow
import psutil
import pytest

from lenbench.config import TrackingConfig
from lenbench.errors import ConfigError
from lenbench.runs import main
from lenbench.tracking import death_reason, end_dead_runs, liveness_tags, tracked_run

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture
def store(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # MLflow puts a sqlite store's artifacts under ./mlruns
    return TrackingConfig(uri=f"sqlite:///{tmp_path / 'mlflow.db'}", experiment="stale-test",
                          heartbeat_seconds=0.5, stale_after_seconds=60)


def _run_info(store, run_id):
    return mlflow.MlflowClient(tracking_uri=store.uri).get_run(run_id)


def _killed_child(store) -> tuple[str, list[str]]:
    """A child process that opens a tracked run, lets its heartbeat beat, and is killed with SIGKILL;
    returns its run id and the heartbeat values seen while it ran."""
    code = textwrap.dedent(f"""
        import time
        from lenbench.config import TrackingConfig
        from lenbench.tracking import tracked_run
        cfg = TrackingConfig(uri={store.uri!r}, experiment={store.experiment!r}, heartbeat_seconds=0.5)
        with tracked_run(cfg, "doomed", {{"a": 1}}, {{"method": "grpo"}}, "a: 1\\n") as run:
            print(run.info.run_id, flush=True)
            time.sleep(600)
    """)
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, cwd=REPO,
                             env={**os.environ, "PYTHONPATH": REPO})
    run_id = child.stdout.readline().strip()
    beats = []
    for _ in range(40):  # until the heartbeat thread has refreshed the tag twice
        beats.append(_run_info(store, run_id).data.tags["heartbeat"])
        if len(set(beats)) >= 3:
            break
        time.sleep(0.25)
    os.kill(child.pid, signal.SIGKILL)
    child.wait(timeout=30)
    return run_id, beats


def test_death_reason_on_this_host_and_others():
    me = liveness_tags()
    now = time.time()
    assert death_reason(me, now, stale_after=60) is None  # this very process
    assert "is gone" in death_reason({**me, "pid_started": str(float(me["pid_started"]) - 100)}, now, 60)  # reused pid
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    gone = int(finished.stdout)
    if not psutil.pid_exists(gone):
        assert "is gone" in death_reason({**me, "pid": str(gone)}, now, 60)
    elsewhere = {**me, "host": "another-host", "pid": "1", "heartbeat": str(now - 100)}
    assert "no heartbeat from another-host for 100 s" in death_reason(elsewhere, now, stale_after=60)
    assert death_reason(elsewhere, now, stale_after=200) is None
    assert death_reason({"host": "another-host", "pid": "1"}, now, 60) is None  # no heartbeat: cannot tell


def test_a_run_killed_with_sigkill_is_ended_killed_by_the_next_job(store):
    run_id, beats = _killed_child(store)
    assert len(set(beats)) >= 2, f"the heartbeat tag was never refreshed: {beats}"
    info = _run_info(store, run_id).info
    assert info.status == "RUNNING" and info.end_time is None  # SIGKILL: nothing ended it

    with tracked_run(store, "next", {"a": 2}, {"method": "base"}, "a: 2\n") as run:
        next_id = run.info.run_id
    killed = _run_info(store, run_id)
    assert killed.info.status == "KILLED"
    assert killed.info.end_time == int(killed.data.tags["heartbeat"]) * 1000  # ended at its last heartbeat
    assert f"pid {killed.data.tags['pid']} on {socket.gethostname()}" in killed.data.tags["killed_reason"]
    assert _run_info(store, next_id).info.status == "FINISHED"


def test_cleanup_command_ends_only_dead_runs(store, capsys):
    client = mlflow.MlflowClient(tracking_uri=store.uri)
    experiment = client.create_experiment(store.experiment)
    now = int(time.time())
    lost = client.create_run(experiment, run_name="lost", tags={"host": "node7", "pid": "4242",
                                                                "heartbeat": str(now - 900)}).info.run_id
    busy = client.create_run(experiment, run_name="busy", tags={"host": "node8", "pid": "4242",
                                                                "heartbeat": str(now - 5)}).info.run_id
    legacy = client.create_run(experiment, run_name="legacy").info.run_id

    def statuses():
        return {name: client.get_run(rid).info.status for name, rid in [("lost", lost), ("busy", busy),
                                                                         ("legacy", legacy)]}

    assert main(["cleanup", "--uri", store.uri, "--dry-run"]) == 0
    assert "would end KILLED: run " + lost in capsys.readouterr().out
    assert set(statuses().values()) == {"RUNNING"}

    assert main(["cleanup", "--uri", store.uri, "--experiment", store.experiment]) == 0
    out = capsys.readouterr().out
    status = statuses()
    assert status == {"lost": "KILLED", "busy": "RUNNING", "legacy": "RUNNING"}
    assert f"ended KILLED: run {lost}" in out and "no heartbeat from node7" in out
    assert f"left RUNNING: run {legacy}" in out and "no heartbeat tag" in out
    assert client.get_run(lost).info.end_time == (now - 900) * 1000
    assert end_dead_runs(store.uri, stale_after=1)[0][0].run_id == busy  # a shorter threshold ends it too


def test_cleanup_command_bad_input_is_one_line(tmp_path, store, capsys):
    missing = tmp_path / "none.db"
    assert main(["cleanup", "--uri", f"sqlite:///{missing}"]) == 2
    assert "no MLflow store at" in capsys.readouterr().err and not missing.exists()
    mlflow.MlflowClient(tracking_uri=store.uri).create_experiment("other")
    assert main(["cleanup", "--uri", store.uri, "--experiment", "nope"]) == 2
    error = capsys.readouterr().err.splitlines()[-1]  # after MLflow's own log lines
    assert error == f"lenbench runs: no MLflow experiment 'nope' in the store {store.uri}"
    assert main(["cleanup", "--uri", store.uri, "--stale-after", "0"]) == 2
    with pytest.raises(ConfigError, match="tracking.stale_after_seconds"):
        TrackingConfig(heartbeat_seconds=30, stale_after_seconds=40).validate()
