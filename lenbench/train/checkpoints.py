"""Which checkpoint a run resumes from (`trainer.resume`), found and checked before any compute.

A checkpoint is a `checkpoint-<step>` folder written by transformers' Trainer (weights, optimizer
and scheduler state, TrainerState), plus two lenbench files written after everything of the
Trainer's, each atomically (a temporary file renamed): the job's settings that change results
(`lenbench_job.json`: method, seed, model, trainer, the train set's hash) and the method's state
(`lenbench_method_state.json`, last). A folder missing any of these, or whose method state is not a
JSON object, was cut short (the job was killed while saving) and is not a checkpoint to resume
from: `auto` falls back to the one before. `auto` takes the latest complete checkpoint in the
trainer folders of the job's output directory, in the order the method's stages run; a path names
one checkpoint folder. Either way a missing or incomplete checkpoint, or one written by a job with
other settings (another method, seed, learning rate, group size, train set...: they would win over
the ones MLflow records), is a ConfigError naming what differs, raised before a model is built.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from transformers.trainer_utils import sort_checkpoints

from lenbench.errors import ConfigError
from lenbench.models import WEIGHT_FILES

AUTO = "auto"
HOOK_STATE_FILE = "lenbench_method_state.json"
"""The method's state in a checkpoint (`{}` for a method without any); written last, so it marks a
checkpoint as complete."""
TRAINER_STATE_FILE = "trainer_state.json"  # transformers' TrainerState, with the global step

logger = logging.getLogger(__name__)


JOB_FILE = "lenbench_job.json"
"""The settings of the job that wrote a checkpoint, those that change results (`job_settings`)."""
OPTIMIZER_FILES = ("optimizer.pt", "optimizer.bin")  # transformers' Trainer; DeepSpeed: global_step*/
NOT_RESULTS = {
    "trainer": {"max_steps", "save_steps", "save_total_limit", "save_model", "resume", "torch_threads", "logging_steps",
                "vllm_server_host", "vllm_server_port", "vllm_server_timeout", "vllm_gpu_memory_utilization",
                "vllm_enforce_eager", "vllm_cpu_kv_cache_gib", "vllm_enable_sleep_mode"},
    "model": {"cache_dir", "device"},
}
"""Settings a resumed job may change: where and how fast it runs, how it saves, and max_steps (to train
on past the first run's end)."""


def job_settings(run, train_hash: str) -> dict[str, str]:
    """The settings of a job that change what it trains, flattened (`trainer.learning_rate` -> "3e-05"):
    method, seed, model, trainer (less NOT_RESULTS) and the train set's hash."""
    from dataclasses import asdict

    settings = {"seed": str(run.seed), "dataset.train_hash": train_hash}
    for section in ("method", "model", "trainer"):
        skip = NOT_RESULTS.get(section, set())
        for key, value in asdict(getattr(run, section)).items():
            if key not in skip:
                settings[f"{section}.{key}"] = json.dumps(value, sort_keys=True, default=str)
    return settings


def write_json_atomic(path: Path, value) -> None:
    """Write `value` as JSON to a temporary file beside `path`, then rename it into place: a reader never
    sees half a file."""
    scratch = path.with_name(f".{path.name}.tmp")
    scratch.write_text(json.dumps(value))
    os.replace(scratch, path)


def _json_object(path: Path) -> dict | None:
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def missing_parts(checkpoint: Path) -> list[str]:
    """What a checkpoint folder lacks to be resumed from (empty: complete)."""
    missing = [name for name in (TRAINER_STATE_FILE, JOB_FILE) if not (checkpoint / name).is_file()]
    if not any((checkpoint / name).is_file() for name in WEIGHT_FILES):
        missing.append("the model weights")
    if not any((checkpoint / name).is_file() for name in OPTIMIZER_FILES) and not list(checkpoint.glob("global_step*")):
        missing.append("the optimizer state (optimizer.pt)")
    if _json_object(checkpoint / HOOK_STATE_FILE) is None:
        missing.append(f"{HOOK_STATE_FILE} (a JSON object)")
    return missing


def settings_differences(checkpoint: Path, settings: dict[str, str]) -> list[str]:
    """`key: checkpoint's value -> this job's` for each result-changing setting that differs."""
    saved = _json_object(checkpoint / JOB_FILE) or {}
    differ = [key for key in set(saved) | set(settings) if saved.get(key) != settings.get(key)]
    first = ("method.name", "seed", "dataset.train_hash")  # the most telling first, then changed values, then the rest
    differ.sort(key=lambda key: (key not in first, key not in saved or key not in settings, key))
    return [f"{key}: {saved.get(key, '(unset)')} -> {settings.get(key, '(unset)')}" for key in differ]


def complete_checkpoints(folders: list[Path]) -> list[Path]:
    """Complete checkpoints of the trainer folders, folder by folder in the given order, then by step;
    an incomplete one (a save cut short) is left out with a warning."""
    found = []
    for folder in folders:
        for checkpoint in map(Path, sort_checkpoints(str(folder))):
            if missing := missing_parts(checkpoint):
                logger.warning("skipping %s: incomplete (no %s; the job stopped while saving it)", checkpoint,
                               ", no ".join(missing))
            else:
                found.append(checkpoint)
    return found


def checkpoint_step(checkpoint: Path) -> int:
    """The optimizer steps done when the checkpoint was saved (transformers' TrainerState)."""
    return int(json.loads((checkpoint / TRAINER_STATE_FILE).read_text())["global_step"])


def method_state(checkpoint: Path) -> dict:
    """The method's state saved in a complete checkpoint."""
    return json.loads((checkpoint / HOOK_STATE_FILE).read_text())


def resolve_resume(resume: str | None, folders: list[Path], num_iterations: int = 1,
                   settings: dict[str, str] | None = None) -> Path | None:
    """The checkpoint `trainer.resume` names (None: start fresh), or a ConfigError saying why there is none.

    `folders`: the run's trainer output folders in stage order (where `auto` looks). A checkpoint saved
    between two updates on one generation batch (step not a multiple of `num_iterations`) cannot be
    resumed exactly: TRL's generation buffer is not in checkpoints. `settings`: this job's
    (`job_settings`); a checkpoint written with other values of them is refused.
    """
    if resume is None:
        return None
    if resume == AUTO:
        found = complete_checkpoints(folders)
        if not found:
            where = ", ".join(str(folder) for folder in folders)
            raise ConfigError(
                f"trainer.resume=auto found no complete checkpoint in {where}; auto looks in this job's output "
                "directory: rerun with hydra.run.dir=<the interrupted job's directory> (and trainer.save_steps > 0 "
                "there), or give trainer.resume=<checkpoint folder>"
            )
        checkpoint = found[-1]
    else:
        checkpoint = Path(resume).expanduser()
        if not checkpoint.is_dir():
            raise ConfigError(f"trainer.resume={resume!r}: no such checkpoint folder")
        if missing := missing_parts(checkpoint):
            raise ConfigError(
                f"trainer.resume={resume!r} is not a complete checkpoint (no {', no '.join(missing)}; a save cut "
                "short lacks them): give a checkpoint-<step> folder of a lenbench run"
            )
    if settings is not None and (differences := settings_differences(checkpoint, settings)):
        shown = "; ".join(differences[:4]) + (f"; ... {len(differences) - 4} more" if len(differences) > 4 else "")
        raise ConfigError(
            f"trainer.resume={resume!r}: {checkpoint} was written by a job with other settings ({shown}); resume "
            "with the settings it was written with, or start fresh in another directory (hydra.run.dir)"
        )
    step = checkpoint_step(checkpoint)
    if step % num_iterations:
        raise ConfigError(
            f"trainer.resume: {checkpoint} was saved at step {step}, between two of the "
            f"trainer.num_iterations={num_iterations} updates on one generation batch, which checkpoints do not "
            f"hold; resume from a checkpoint whose step is a multiple of {num_iterations}"
        )
    return checkpoint
