"""How many processes one job runs as, and the process group of a job Submitit starts as several tasks.

A job is one process, or several started by `torchrun` / `accelerate launch` (which export RANK,
WORLD_SIZE, MASTER_ADDR...), or several Submitit tasks: `hydra/launcher=slurm` (or `local`) with
`hydra.launcher.nodes=N hydra.launcher.tasks_per_node=G` runs the job as N x G tasks, one per GPU.
Slurm gives each task SLURM_PROCID and the node list, not the variables torch.distributed's env://
rendezvous reads; `export_task_environment` derives them (submitit's own helper), so accelerate, TRL
and lenbench see the tasks as one launch: rank 0 on the first node records the MLflow run.
"""

from __future__ import annotations

import os
from pathlib import Path

from lenbench.errors import ConfigError


def launcher_tasks() -> int:
    """Tasks per job of the Hydra launcher that runs this job (nodes x tasks_per_node; 1 for others).
    ConfigError for a count below 1, or several nodes on the local launcher (this machine only)."""
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return 1
    launcher = HydraConfig.get().launcher
    if launcher is None:
        return 1
    counts = {key: launcher.get(key) for key in ("nodes", "tasks_per_node")}
    for key, value in counts.items():
        if value is not None and (not isinstance(value, int) or value < 1):
            raise ConfigError(f"hydra.launcher.{key}={value!r}: must be a whole number >= 1")
    nodes, per_node = counts["nodes"] or 1, counts["tasks_per_node"] or 1
    if nodes > 1 and "LocalLauncher" in str(launcher.get("_target_", "")):
        raise ConfigError(f"hydra.launcher.nodes={nodes}: the local launcher runs on this machine only (nodes=1); "
                          "several nodes need hydra/launcher=slurm")
    return nodes * per_node


def process_seed(seed: int, group: int) -> int:
    """The random seed of one process (or tensor-parallel group) of a run: distinct for every (run seed,
    group) pair, unlike seed + group (seed 1's second process would draw as seed 2's first)."""
    import numpy as np

    return int(np.random.SeedSequence([seed, group]).generate_state(1)[0])


def is_main_process() -> bool:
    """False in the other processes of a multi-process launch (torchrun, `accelerate launch`, a Submitit job
    of several tasks: RANK > 0); they share the main process's MLflow run and output directory."""
    return int(os.environ.get("RANK", "0")) == 0


def check_deepspeed() -> None:
    """ConfigError when `accelerate launch` runs this job under DeepSpeed (conf/accelerate/zero2.yaml,
    zero3.yaml export ACCELERATE_USE_DEEPSPEED=true) and DeepSpeed is not installed: accelerate would
    fail only when the trainer is built, after the model is loaded."""
    import importlib.util

    if os.environ.get("ACCELERATE_USE_DEEPSPEED", "false").lower() != "true":
        return
    if importlib.util.find_spec("deepspeed") is None:
        raise ConfigError("accelerate launch with a DeepSpeed config (distributed_type: DEEPSPEED, e.g. "
                          "conf/accelerate/zero2.yaml or zero3.yaml) needs DeepSpeed, which is not installed: "
                          "pip install 'lenbench[deepspeed]', or launch with conf/accelerate/ddp.yaml")


def shared_output_dir(resolved: Path) -> Path:
    """The job's output directory, one for every process of a launch: the main process's.

    Under torchrun / `accelerate launch` each process composes the config itself, so a run directory
    with a time stamp (Hydra's default) resolves separately per process and may differ across them
    (a second ticking over between their starts): checkpoints would split (transformers writes each
    process's RNG state into its own output directory) and `trainer.resume=auto` in the other processes
    would look for checkpoints where there are none. The process group is set up here (accelerate's
    PartialState, which the trainer uses later) and the main process's directory broadcast."""
    if "RANK" not in os.environ or int(os.environ.get("WORLD_SIZE", "1")) < 2:
        return resolved
    import torch
    from accelerate import PartialState
    from accelerate.utils import broadcast_object_list

    check_deepspeed()  # a DeepSpeed launch sets the group up through DeepSpeed
    PartialState(cpu=not torch.cuda.is_available())  # on CPU, as transformers sets it up: gloo (else no group)
    chosen = broadcast_object_list([str(resolved)], from_process=0)[0]
    return Path(chosen)


def processes() -> int:
    """Processes of this job: WORLD_SIZE inside a launch (torchrun, accelerate, exported Submitit
    tasks), else the tasks its Hydra launcher will start (so checks made before submitting count them)."""
    if "WORLD_SIZE" in os.environ:
        return int(os.environ["WORLD_SIZE"])
    return launcher_tasks()


def export_task_environment() -> str | None:
    """In a Submitit job of several tasks, export MASTER_ADDR/PORT, RANK, WORLD_SIZE, LOCAL_RANK and
    LOCAL_WORLD_SIZE for this task (first node's host, a port drawn from the job id) and return a
    one-line description; None, exporting nothing, elsewhere or when a launcher already exported them
    (RANK is set). Leftovers of another process group without RANK are replaced.
    Every task keeps all its node's GPUs visible: accelerate picks cuda:LOCAL_RANK."""
    if "SUBMITIT_EXECUTOR" not in os.environ or "RANK" in os.environ:
        return None
    import submitit

    job = submitit.JobEnvironment()
    if job.num_tasks <= 1:
        return None
    # no RANK: no launcher set a group up, so any other of these variables is stale (vLLM's CPU platform
    # and accelerate set LOCAL_WORLD_SIZE in the process that submitted, and the job inherits it)
    group = submitit.helpers.TorchDistributedEnvironment().export(set_cuda_visible_devices=False, overwrite=True)
    return (f"task {group.rank} of {group.world_size} (node {job.node} of {job.num_nodes}, local rank "
            f"{group.local_rank}) of {job.cluster} job {job.job_id}; "
            f"rendezvous {group.master_addr}:{group.master_port}")
