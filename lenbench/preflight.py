"""Checks of a composed job config that need no compute, run before a job (or a sweep) starts.

`run_job` calls `check_job` first; the sweepers in hydra_plugins/lenbench_sweepers call it on
every job of a sweep before launching any, so a bad grid value fails the command, not each job.
Checks of the machine itself (CUDA, the vLLM extra, a tracking server's reachability) are
`models.check_runtime` and `tracking.check_server`, run by the job on the machine that computes;
`check_task_data` checks the loaded problems against the config, before any model is loaded.
`OutputDirCheck`, a Hydra callback (conf/config.yaml), checks the output directory before Hydra
creates it.
"""

from __future__ import annotations

import os
from pathlib import Path

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from lenbench.config import RunConfig, load_run_config
from lenbench.errors import ConfigError, check_writable_dir


def check_job(cfg: DictConfig) -> RunConfig:
    """The typed RunConfig of a composed job config; raises ConfigError naming the bad field."""
    from lenbench.data.benchmarks import check_dataset_files
    from lenbench.models import check_model_source
    from lenbench.registry import METHODS
    from lenbench.tracking import check_store

    run = load_run_config(cfg)
    trains = METHODS[run.method.name].trains
    if trains and run.dataset.adapter == "file" and not run.dataset.train.path:
        raise ConfigError(
            f"method={run.method.name} trains, but dataset={run.dataset.name} has no train split "
            "(dataset.train.path is null); use a dataset with one (e.g. dataset=math_l3to5) or method=base"
        )
    if run.model.source == "testbed" and run.dataset.adapter != "arith":
        raise ConfigError(
            f"model.source=testbed (the arith testbed's own model) cannot read dataset={run.dataset.name} "
            f"(dataset.adapter={run.dataset.adapter}); use a local model (model=local model.path=..., or a "
            "preset such as model=qwen2_5_0_5b_instruct) or an arith dataset (dataset=arith)"
        )
    if trains and run.dataset.adapter == "arith":
        check_train_size(run, run.dataset.train_size, "dataset.train_size")
    if trains and run.trainer.extra:
        from lenbench.train.grpo import check_extra

        check_extra(run.trainer)
    check_dataset_files(run.dataset)
    check_model_source(run)
    check_store(run.tracking)
    return run


def processes() -> int:
    """Processes of this launch (WORLD_SIZE under `accelerate launch` or torchrun; 1 otherwise)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def check_train_size(run: RunConfig, problems: int, what: str) -> None:
    """ConfigError unless the train set fills one optimizer step: every process takes
    trainer.prompts_per_step distinct prompts per step, and with fewer GRPO trains 0 steps."""
    needed = run.trainer.prompts_per_step * processes()
    if problems < needed:
        step = f"trainer.prompts_per_step={run.trainer.prompts_per_step}"
        if processes() > 1:
            step += f" x {processes()} processes = {needed}"
        raise ConfigError(
            f"{what}: {problems} training problems, fewer than one optimizer step takes ({step}), so GRPO "
            "would train 0 steps; give the dataset more problems, lower trainer.prompts_per_step, or use method=base"
        )


def check_task_data(run: RunConfig, data, tokenizer) -> None:
    """The loaded problems against the config, before any model is loaded or run recorded: a
    training method needs a train set of at least one step's prompts; the testbed model's
    model.max_positions must hold the longest prompt plus the longest completion."""
    from lenbench.registry import METHODS

    trains = METHODS[run.method.name].trains
    if trains and run.dataset.adapter == "file":
        check_train_size(run, len(data.train), f"dataset.train.path={run.dataset.train.path!r}")
    if run.model.source != "testbed":
        return
    splits = [data.eval, data.train] if trains else [data.eval]
    prompt = max(len(tokenizer(text)["input_ids"]) for split in splits for text in split["prompt"])
    completion = max(run.trainer.max_completion_length, run.eval_max_new_tokens) if trains else run.eval_max_new_tokens
    if prompt + completion > run.model.max_positions:
        raise ConfigError(
            f"model.max_positions={run.model.max_positions} is shorter than the longest prompt ({prompt} tokens) "
            f"plus the longest completion ({completion} tokens: trainer.max_completion_length / "
            f"eval.max_new_tokens) = {prompt + completion}; raise model.max_positions or shorten the completions"
        )


class OutputDirCheck(Callback):
    """Hydra callback: a one-line error, before Hydra creates it, when the run (or sweep) directory
    cannot be written (Hydra would fail with a traceback)."""

    def on_run_start(self, config: DictConfig, **kwargs) -> None:
        _check_output_dir("hydra.run.dir", config)

    def on_multirun_start(self, config: DictConfig, **kwargs) -> None:
        _check_output_dir("hydra.sweep.dir", config)


def _check_output_dir(field: str, config: DictConfig) -> None:
    directory = Path(str(OmegaConf.select(config, field))).expanduser()
    try:
        check_writable_dir(field, str(directory), directory, create=False)  # Hydra creates it
    except ConfigError as error:
        raise SystemExit(f"lenbench: config error: {error}") from None
