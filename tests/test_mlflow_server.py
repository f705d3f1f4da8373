"""The MLflow UI as users open it: `mlflow server` on loopback serves lenbench's runs over REST."""

import socket
import subprocess
import sys
import time

import pytest

import lenbench.run as entry

pytestmark = pytest.mark.e2e


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_mlflow_server_serves_the_runs(compose, tmp_path, monkeypatch):
    from mlflow import MlflowClient

    monkeypatch.chdir(tmp_path)
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    entry.run_job(compose("+experiment=micro", "method=base", f"tracking.uri={store}"))
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", store, "--host", "127.0.0.1",
         "--port", str(port), "--workers", "1"],
        cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        client = MlflowClient(tracking_uri=f"http://127.0.0.1:{port}")
        deadline = time.time() + 90
        while True:
            try:
                experiment = client.get_experiment_by_name("lenbench")
                break
            except Exception:
                if time.time() > deadline or server.poll() is not None:
                    raise
                time.sleep(1)
        runs = client.search_runs([experiment.experiment_id])
        assert len(runs) == 1
        run = runs[0]
        assert run.info.status == "FINISHED" and run.info.run_name == "base-arith-s0"
        assert run.data.tags["method"] == "base" and "eval/accuracy" in run.data.metrics
        assert run.data.tags["mlflow.note.content"].startswith("base on arith, seed 0")
    finally:
        server.terminate()
        server.wait(timeout=30)
