"""A real one-node Slurm cluster (scripts/slurm_cluster.py) runs a 2-job multirun via `hydra/launcher=slurm`.

Skipped, with the reason, where the slurm-wlm daemons are missing or the test is not root;
.ci/run installs them when it can (apt-get as root).
"""

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import mlflow
import pytest

REPO = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("slurm_cluster", REPO / "scripts" / "slurm_cluster.py")
slurm_cluster = importlib.util.module_from_spec(spec)
spec.loader.exec_module(slurm_cluster)

missing = slurm_cluster.missing_programs()
pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(bool(missing), reason=f"slurm-wlm not installed (missing {', '.join(missing)}): "
                       "apt-get install slurmctld slurmd slurm-client munge"),
    pytest.mark.skipif(os.geteuid() != 0, reason="the local Slurm cluster runs slurmd as root"),
]


@pytest.fixture
def cluster(tmp_path_factory):
    local = slurm_cluster.LocalSlurm(tmp_path_factory.mktemp("slurm"), memory_mb=4096)
    local.start()
    yield local
    local.stop()


def test_two_job_multirun_through_the_slurm_preset(cluster, tmp_path):
    env = {**cluster.env, "PYTHONUNBUFFERED": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "lenbench.run", "-m", "hydra/launcher=slurm", "+experiment=micro",
         "method=base,grpo", "hydra.launcher.partition=debug", "hydra.launcher.gpus_per_node=null",
         "hydra.launcher.cpus_per_task=1", "hydra.launcher.mem_gb=1", "hydra.launcher.timeout_min=10"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:] + cluster.logs()
    # the jobs ran under slurmd: submitit wrote one folder per Slurm job id, with the job's log
    job_logs = sorted(tmp_path.glob("multirun/*/*/.submitit/*/*_0_log.out"))
    assert len(job_logs) == 2, list(tmp_path.rglob(".submitit/*"))
    slurm_ids = {path.parent.name for path in job_logs}
    assert all(name.split("_")[0].isdigit() for name in slurm_ids)
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    runs = mlflow.search_runs(experiment_names=["lenbench"]).sort_values("tags.method")
    assert list(runs["tags.method"]) == ["base", "grpo"]
    assert list(runs["status"]) == ["FINISHED", "FINISHED"]
    assert runs["metrics.eval/accuracy"].notna().all()
