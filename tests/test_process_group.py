"""One job as several processes: the process-group environment of a Submitit job of several tasks
(lenbench.process_group), and the checks that count a launcher's tasks before anything is launched.
The Slurm job of two tasks itself runs in tests/test_slurm.py."""

import socket

import pytest

from lenbench.process_group import export_task_environment, processes

GROUP = ("MASTER_ADDR", "MASTER_PORT", "RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE")


@pytest.fixture
def local_task(monkeypatch):
    """The variables submitit's local executor gives task `rank` of a job of `tasks` (submitit's own names);
    what the code under test exports is removed afterwards."""
    for key in (*GROUP, "SUBMITIT_EXECUTOR", "SLURM_JOB_ID"):
        monkeypatch.setenv(key, "")  # recorded, so that teardown restores the value before the test
        monkeypatch.delenv(key)

    def _task(rank: int, tasks: int) -> None:
        monkeypatch.setenv("SUBMITIT_EXECUTOR", "local")
        for key, value in {"JOB_ID": "4242", "NTASKS": str(tasks), "GLOBALID": str(rank), "LOCALID": str(rank),
                           "NODEID": "0", "JOB_NUM_NODES": "1"}.items():
            monkeypatch.setenv(f"SUBMITIT_LOCAL_{key}", value)

    return _task


def test_a_task_of_a_two_task_job_exports_its_rank_and_a_shared_rendezvous(local_task, monkeypatch):
    import os

    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")
    seen = []
    for rank in (0, 1):
        local_task(rank, 2)
        for key in GROUP:
            monkeypatch.delenv(key, raising=False)
        monkeypatch.setenv("LOCAL_WORLD_SIZE", "7")  # a leftover (vLLM's CPU platform sets it in-process)
        said = export_task_environment()
        assert said and said.startswith(f"task {rank} of 2 ") and "job 4242" in said
        seen.append({key: os.environ[key] for key in GROUP})
        assert processes() == 2
    assert [s["RANK"] for s in seen] == ["0", "1"] and [s["LOCAL_RANK"] for s in seen] == ["0", "1"]
    assert {s["WORLD_SIZE"] for s in seen} == {"2"} and {s["LOCAL_WORLD_SIZE"] for s in seen} == {"2"}
    assert {s["MASTER_ADDR"] for s in seen} == {socket.gethostname()}
    assert len({s["MASTER_PORT"] for s in seen}) == 1  # drawn from the job id: the same for every task
    assert os.environ["CUDA_VISIBLE_DEVICES"] == "0,1"  # every task sees its node's GPUs (cuda:LOCAL_RANK)


def test_nothing_is_exported_for_one_task_outside_submitit_or_under_torchrun(local_task, monkeypatch):
    import os

    assert export_task_environment() is None and "RANK" not in os.environ  # not a Submitit job
    local_task(0, 1)
    assert export_task_environment() is None and "RANK" not in os.environ  # a job of one task
    local_task(1, 2)
    monkeypatch.setenv("RANK", "7")  # torchrun inside the job already set the group up
    assert export_task_environment() is None and os.environ["RANK"] == "7"


@pytest.mark.parametrize("overrides, message", [
    (["hydra.launcher.tasks_per_node=2", "dataset.train_size=3"],
     "dataset.train_size: 3 training problems, fewer than one optimizer step takes "
     "(trainer.prompts_per_step=2 x 2 processes = 4)"),
    (["hydra.launcher.tasks_per_node=2", "model.sft_seed=4711"], "a multi-process launch cannot build it"),
    (["hydra.launcher.tasks_per_node=0"], "hydra.launcher.tasks_per_node=0: must be a whole number >= 1"),
    (["hydra.launcher.nodes=2"], "hydra.launcher.nodes=2: the local launcher runs on this machine only"),
])
def test_a_launchers_tasks_are_counted_before_any_job_is_launched(cli, tmp_path, overrides, message):
    result = cli("-m", "hydra/launcher=local", "+experiment=micro", "method=grpo", *overrides,
                 f"tracking.uri=sqlite:///{tmp_path / 'mlflow.db'}")
    assert result.returncode != 0
    assert "no job was launched" in result.stderr and message in result.stderr, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    assert not list(tmp_path.glob("multirun/*/*/.submitit"))  # nothing was submitted
