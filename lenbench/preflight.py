"""Checks of a composed job config that need no compute, run before a job (or a sweep) starts.

`run_job` calls `check_job` first; the sweepers in hydra_plugins/lenbench_sweepers call it on
every job of a sweep before launching any, so a bad grid value fails the command, not each job.
Checks of the machine itself (CUDA, the vLLM extra) are `models.check_runtime`, run by the job on
the machine that computes.
"""

from __future__ import annotations

from omegaconf import DictConfig

from lenbench.config import RunConfig, load_run_config
from lenbench.errors import ConfigError


def check_job(cfg: DictConfig) -> RunConfig:
    """The typed RunConfig of a composed job config; raises ConfigError naming the bad field."""
    from lenbench.data.benchmarks import check_dataset_files
    from lenbench.methods import METHODS
    from lenbench.models import check_model_source

    run = load_run_config(cfg)
    if METHODS[run.method.name].trains and run.dataset.adapter == "file" and not run.dataset.train.path:
        raise ConfigError(
            f"method={run.method.name} trains, but dataset={run.dataset.name} has no train split "
            "(dataset.train.path is null); use a dataset with one (e.g. dataset=math_l3to5) or method=base"
        )
    check_dataset_files(run.dataset)
    check_model_source(run)
    return run
