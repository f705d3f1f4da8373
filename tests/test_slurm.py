"""A real one-node Slurm cluster (scripts/slurm_cluster.py) runs a 2-job multirun via `hydra/launcher=slurm`.

Skipped, with the reason, where the slurm-wlm daemons are missing or the test is not root;
.ci/run installs them when it can (apt-get as root).
"""

import importlib.util
import math
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


# kimi from step 0, with room for lengths to differ: the micro model is never right, and kimi's length
# reward still spreads each group, so every step has advantages, a gradient and an all-reduce
TWO_PROCESS = ["+experiment=micro", "method=kimi", "method.warmup_steps=0", "trainer.max_steps=3",
               "trainer.max_completion_length=120"]
TIMING = ("train/step_time", "train/train_runtime", "train/train_samples_per_second", "train/train_steps_per_second",
          "eval_generation/seconds", "eval_generation/tokens_per_second")


def metric_histories(uri: str) -> tuple[object, dict[str, list[tuple[int, float]]]]:
    """(the store's only run, every metric's (step, value) history but the wall-clock ones)."""
    client = mlflow.MlflowClient(tracking_uri=uri)
    runs = client.search_runs([client.get_experiment_by_name("lenbench").experiment_id])
    assert len(runs) == 1, [r.info.run_name for r in runs]
    run = runs[0]
    return run, {key: [(m.step, m.value) for m in client.get_metric_history(run.info.run_id, key)]
                 for key in run.data.metrics if key not in TIMING}


def test_one_grid_point_of_two_slurm_tasks_trains_as_one_process_group(cluster, tmp_path, compose):
    """`hydra.launcher.tasks_per_node=2`: one Slurm job, two tasks (srun), one gloo process group.

    Its training is compared with a torchrun launch of the same 2 processes, which tests/test_distributed.py
    compares with one process: every logged figure of every step is the same."""
    from lenbench.config import load_run_config
    from lenbench.testbed.base_model import ensure_base_model

    run = load_run_config(compose(*TWO_PROCESS))
    ensure_base_model(run.dataset, run.model)  # a multi-process job refuses to build it
    env = {**cluster.env, "PYTHONUNBUFFERED": "1"}
    slurm = subprocess.run(
        [sys.executable, "-m", "lenbench.run", "-m", "hydra/launcher=slurm", *TWO_PROCESS,
         "hydra.launcher.tasks_per_node=2", "hydra.launcher.partition=debug", "hydra.launcher.gpus_per_node=null",
         "hydra.launcher.cpus_per_task=1", "hydra.launcher.mem_gb=2", "hydra.launcher.timeout_min=10",
         f"tracking.uri=sqlite:///{tmp_path / 'slurm.db'}"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600,
    )
    assert slurm.returncode == 0, slurm.stderr[-3000:] + cluster.logs()
    logs = sorted(tmp_path.glob("multirun/*/*/.submitit/*/*_log.out"))
    assert [path.name.split("_", 1)[1] for path in logs] == ["0_log.out", "1_log.out"], logs
    assert logs[0].name.split("_")[0].isdigit()  # a Slurm job id: the tasks ran under slurmd
    texts = [path.read_text() for path in logs]
    for rank, text in enumerate(texts):
        assert f"process group: task {rank} of 2 (node 0 of 1, local rank {rank}) of slurm job" in text, text[-2000:]
    assert "pass@1=" in texts[0] and "pass@1=" not in texts[1]  # rank 0 evaluates and records

    torchrun = subprocess.run(
        [str(Path(sys.executable).with_name("torchrun")), "--nproc_per_node", "2", "-m", "lenbench.run",
         *TWO_PROCESS, f"tracking.uri=sqlite:///{tmp_path / 'torchrun.db'}", f"hydra.run.dir={tmp_path / 'tr'}"],
        cwd=tmp_path, env={**os.environ, "PYTHONUNBUFFERED": "1"}, capture_output=True, text=True, timeout=600,
    )
    assert torchrun.returncode == 0, torchrun.stderr[-3000:]
    slurm_run, slurm_metrics = metric_histories(f"sqlite:///{tmp_path / 'slurm.db'}")
    _, torchrun_metrics = metric_histories(f"sqlite:///{tmp_path / 'torchrun.db'}")
    assert slurm_run.info.status == "FINISHED"
    assert [v for _, v in slurm_metrics["train/grad_norm"]] and all(v > 0 for _, v in slurm_metrics["train/grad_norm"])
    assert len(slurm_metrics["train/loss"]) == 3
    assert set(slurm_metrics) == set(torchrun_metrics)
    for key, history in slurm_metrics.items():
        other = torchrun_metrics[key]
        assert len(history) == len(other), key
        pairs = zip(history, other, strict=True)
        assert all(s == t and (a == b or math.isnan(a) and math.isnan(b)) for (s, a), (t, b) in pairs), key
