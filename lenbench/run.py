"""Hydra entry point: compose -> validate -> (build base) -> train -> evaluate -> log.

    python -m lenbench.run                          # one job, defaults from conf/config.yaml
    python -m lenbench.run -m method=base,grpo      # a multirun, one MLflow run per job

Returns (accuracy, mean tokens) so sweepers can optimize it. Thin: it wires, it does not compute.
"""

from __future__ import annotations

import errno
import logging
import os
import shutil
import signal
import sys
from pathlib import Path
from typing import NoReturn

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from lenbench.config import RunConfig
from lenbench.errors import ConfigError, StoreFailed
from lenbench.preflight import preflight
from lenbench.store_lock import output_dir_lock

log = logging.getLogger(__name__)  # Hydra's job log: the console and <job dir>/run.log


def run_name(run: RunConfig, overrides: list[str] = ()) -> str:
    """`method[knob=value,...]-dataset-sSEED`: the method knobs are the job's `method.*` overrides."""
    if run.tracking.run_name:
        return run.tracking.run_name
    knobs = [short_knob(o.removeprefix("method.")) for o in overrides if o.startswith("method.")]
    label = f"{run.method.name}[{','.join(knobs)}]" if knobs else run.method.name
    return f"{label}-{run.dataset.name}-s{run.seed}"


def short_knob(override: str) -> str:
    """`w_min=0.37183521486758875` -> `w_min=0.3718` (Optuna's sampled floats), anything else as is."""
    key, _, value = override.partition("=")
    try:
        number = float(value)
    except ValueError:
        return override
    return f"{key}={number:.4g}" if "." in value and len(value) > 6 else override


def job_overrides() -> list[str]:
    """The command-line overrides of this Hydra job (empty outside Hydra)."""
    return list(HydraConfig.get().overrides.task) if HydraConfig.initialized() else []


def job_output_dir() -> Path:
    if HydraConfig.initialized():
        return Path(HydraConfig.get().runtime.output_dir)
    return Path("outputs/standalone")


def launcher_cpus() -> int | None:
    """cpus_per_task of a Submitit launcher running this job (None otherwise)."""
    if not HydraConfig.initialized():
        return None
    launcher = HydraConfig.get().launcher
    return launcher.get("cpus_per_task") if launcher is not None else None


def sweep_tags(overrides: list[str]) -> dict[str, str]:
    """MLflow tags of a `+sweep=<name>` job: the sweep, its grid point (overrides but the seed)."""
    if not HydraConfig.initialized():
        return {}
    name = HydraConfig.get().runtime.choices.get("sweep")
    if not name:
        return {}
    skip = ("seed=", "+sweep=", "hydra/", "+experiment=", "+tracking.tags.", "tracking.tags.")
    point = [o for o in overrides if not o.startswith(skip)]
    return {"sweep": name, "grid_point": " ".join(sorted(point))}


def keep_policy(model, tokenizer, folder: Path, run: RunConfig) -> Path:
    """Save the trained policy into `folder` (a local model directory: model=local model.path=..., vLLM),
    record it as the MLflow run's model, and return the folder (vLLM's evaluation loads it from there)."""
    from lenbench.tracking import log_policy, set_tag

    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    model_id = log_policy(folder, step=0, copy_max_mb=run.tracking.model_copy_max_mb)
    set_tag("policy_dir", str(folder.resolve()))
    log.info("trained policy saved to %s (MLflow model %s)", folder, model_id)
    return folder


def run_job(cfg: DictConfig) -> tuple[float, float]:
    """One job end to end; every config error is raised by preflight, before any model is built."""
    from lenbench.process_group import export_task_environment, shared_output_dir

    task = export_task_environment()  # a Submitit job of several tasks: one process group, before any check
    if task:
        log.info("process group: %s", task)
    out_dir = shared_output_dir(job_output_dir())  # one directory for every process of a launch: rank 0's
    with output_dir_lock(out_dir):  # one job at a time in a directory (two resuming it would mix checkpoints)
        return train_evaluate_record(cfg, out_dir)


def train_evaluate_record(cfg: DictConfig, out_dir: Path) -> tuple[float, float]:
    """run_job's work in its (locked) output directory."""
    from lenbench.models import load_policy, policy_path, serving_dtype
    from lenbench.registry import METHODS

    job = preflight(cfg, out_dir=out_dir)  # here, on the machine that computes
    run, data, recipe, checkpoint = job.run, job.data, job.recipe, job.checkpoint
    threads = run.trainer.torch_threads or launcher_cpus()
    if threads:
        import torch

        torch.set_num_threads(threads)

    from lenbench.eval import evaluate
    from lenbench.tracking import log_eval, log_metrics, set_tag, task_inputs, tracked_run

    resolved = OmegaConf.to_container(cfg, resolve=True)
    tags = {
        "method": run.method.name,
        "dataset": run.dataset.name,
        "seed": str(run.seed),
        "eval_hash": data.eval_hash,
        "output_dir": str(out_dir.resolve()),
    }
    if checkpoint is not None:
        tags["resumed_from"] = str(checkpoint.resolve())
    overrides = job_overrides()
    tags.update(sweep_tags(overrides))
    tags.update(run.tracking.tags)
    name = run_name(run, overrides)
    tags["mlflow.note.content"] = (  # the run's description in the MLflow UI
        f"{run.method.name} on {run.dataset.name}, seed {run.seed}; overrides: {' '.join(overrides) or 'none'}; "
        f"outputs in {out_dir.resolve()}"
    )
    yaml = OmegaConf.to_yaml(cfg, resolve=True)
    with tracked_run(run.tracking, name, resolved, tags, yaml, task_inputs(run.dataset, data)) as active:
        path = policy_path(run)
        trains = METHODS[run.method.name].trains
        model, tokenizer = load_policy(run, path, training=trains)
        if trains:
            model = recipe.train(model, tokenizer, out_dir)
        main = active is not None  # the other processes of a multi-GPU launch evaluate a share, record nothing
        saved = None
        if main:
            set_tag("base_model", str(path))
            if trains and run.trainer.save_model:
                saved = keep_policy(model, tokenizer, out_dir / "model", run)
            if data.skipped:
                log_metrics({"data/skipped_rows": data.skipped})
        if trains:  # kept as trained (float32 master weights); evaluated in model.dtype
            serving_dtype(run, model)
        prompts = recipe.eval_data()
        result = evaluate(
            model, tokenizer, prompts, data.grader, run.eval, run.eval_max_new_tokens, run.seed,
            model_dir=saved or (None if trains else path), trust_remote_code=run.model.trust_remote_code,
        )
        if not main:
            return float("nan"), float("nan")
        log_eval(result)
        extra = recipe.eval_metrics(result)
        if extra:
            log_metrics({f"eval/{key}": value for key, value in extra.items()})
            log.info("%s eval: %s", run.method.name, extra)
        accuracy, tokens = result.summary["accuracy"], result.summary["tokens_mean"]
        log.info("by difficulty:\n%s", result.by_difficulty.round(3).to_string(index=False))
        log.info("%s: pass@1=%.3f tokens=%.1f | MLflow run %s in experiment '%s' at %s", name, accuracy, tokens,
                 active.info.run_id, run.tracking.experiment, run.tracking.uri)
    return accuracy, tokens


@hydra.main(version_base="1.3", config_path="../conf", config_name="config")
def main(cfg: DictConfig) -> tuple[float, float]:
    try:
        return run_job(cfg)
    except ConfigError as error:
        if HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN:
            raise  # a failed job of a sweep: Hydra records it and the sweeper decides
        raise SystemExit(f"lenbench: config error: {error}") from None
    except KeyboardInterrupt as stop:  # Ctrl-C or SIGTERM: the run was ended KILLED on the way out
        signum = getattr(stop, "signum", signal.SIGINT)
        stop_mid_run(f"stopped by {signal.Signals(signum).name}; the job's MLflow run (if it had started) was ended "
                     "KILLED", 128 + signum)
    except StoreFailed as error:  # the store failed mid-job (a tracking server that went away)
        if HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN:
            raise
        stop_mid_run(str(error))
    except Exception as error:
        # a full disk: OSError ENOSPC from Python's own writes, other errors from libraries' (torch.save:
        # "RuntimeError: unexpected pos"), so the free space of the output directory decides
        no_space = isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT)
        out_dir = job_output_dir()
        if not (no_space or disk_full(out_dir)):
            raise
        stop_mid_run(f"no space left on the device of {out_dir} ({type(error).__name__}: "
                     f"{' '.join(str(error).split())[:200]}); the job's MLflow run (if it had started) was "
                     "ended FAILED")


def stop_mid_run(message: str, status: int = 1) -> NoReturn:
    """Exit with `status` and one line: on a line of its own, since a progress bar may hold the last one."""
    print(f"\nlenbench: {message}", file=sys.stderr, flush=True)
    raise SystemExit(status)


def disk_full(folder: Path, below_bytes: int = 1 << 20) -> bool:
    """Whether the file system holding `folder` (or its nearest existing parent) has under `below_bytes`
    free."""
    existing = next((p for p in (folder, *folder.parents) if p.exists()), None)
    return existing is not None and shutil.disk_usage(existing).free < below_bytes


def cli() -> None:
    """`python -m lenbench.run`: Hydra's main, with an error of composing the config (a value of the wrong
    type, an unknown key) as one line. Hydra prints those as several lines of its own; it hands them on
    with HYDRA_FULL_ERROR=1, which a user who sets it gets as Hydra's full trace instead. A sweep that
    cannot start (its sweeper's pre-launch checks refuse a job) is its message alone, no trace."""
    from hydra.errors import (
        CompactHydraException,
        ConfigCompositionException,
        MissingConfigException,
        OverrideParseException,
    )
    from omegaconf.errors import OmegaConfBaseException

    from lenbench.config import composition_error

    asked_full = "HYDRA_FULL_ERROR" in os.environ
    os.environ.setdefault("HYDRA_FULL_ERROR", "1")
    try:
        main()
    except (ConfigCompositionException, MissingConfigException, OverrideParseException,
            OmegaConfBaseException) as error:
        if asked_full:
            raise
        raise SystemExit(f"lenbench: config error: {composition_error(error)}") from None
    except CompactHydraException as error:  # lenbench's sweepers: SweepError, already worded for the user
        if asked_full:
            raise
        raise SystemExit(str(error)) from None
    except ConfigError as error:  # refused outside a job (a launcher or sweeper setting, a store)
        if asked_full:
            raise
        raise SystemExit(f"lenbench: config error: {error}") from None


if __name__ == "__main__":
    cli()
