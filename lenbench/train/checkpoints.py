"""Which checkpoint a run resumes from (`trainer.resume`), found and checked before any compute.

A checkpoint is a `checkpoint-<step>` folder written by transformers' Trainer, plus lenbench's
method-state file, written after everything of the Trainer's: a folder without it was cut short
(the job was killed while saving) and is not a checkpoint to resume from. `auto` takes the latest
complete checkpoint in the trainer folders of the job's output directory, in the order the method's
stages run; a path names one checkpoint folder. Either way a missing or incomplete checkpoint is a
ConfigError, raised before a model is built.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from transformers.trainer_utils import sort_checkpoints

from lenbench.errors import ConfigError

AUTO = "auto"
HOOK_STATE_FILE = "lenbench_method_state.json"
"""The method's state in a checkpoint (`{}` for a method without any); written last, so it marks a
checkpoint as complete."""
TRAINER_STATE_FILE = "trainer_state.json"  # transformers' TrainerState, with the global step

logger = logging.getLogger(__name__)


def is_complete(checkpoint: Path) -> bool:
    return (checkpoint / TRAINER_STATE_FILE).is_file() and (checkpoint / HOOK_STATE_FILE).is_file()


def complete_checkpoints(folders: list[Path]) -> list[Path]:
    """Complete checkpoints of the trainer folders, folder by folder in the given order, then by step;
    an incomplete one (a save cut short) is left out with a warning."""
    found = []
    for folder in folders:
        for checkpoint in map(Path, sort_checkpoints(str(folder))):
            if is_complete(checkpoint):
                found.append(checkpoint)
            else:
                logger.warning("skipping %s: incomplete (the job stopped while saving it)", checkpoint)
    return found


def checkpoint_step(checkpoint: Path) -> int:
    """The optimizer steps done when the checkpoint was saved (transformers' TrainerState)."""
    return int(json.loads((checkpoint / TRAINER_STATE_FILE).read_text())["global_step"])


def method_state(checkpoint: Path) -> dict:
    """The method's state saved in a complete checkpoint."""
    return json.loads((checkpoint / HOOK_STATE_FILE).read_text())


def resolve_resume(resume: str | None, folders: list[Path], num_iterations: int = 1) -> Path | None:
    """The checkpoint `trainer.resume` names (None: start fresh), or a ConfigError saying why there is none.

    `folders`: the run's trainer output folders in stage order (where `auto` looks). A checkpoint saved
    between two updates on one generation batch (step not a multiple of `num_iterations`) cannot be
    resumed exactly: TRL's generation buffer is not in checkpoints.
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
        if not is_complete(checkpoint):
            raise ConfigError(
                f"trainer.resume={resume!r} is not a complete checkpoint (it needs {TRAINER_STATE_FILE} and "
                f"{HOOK_STATE_FILE}; a save cut short lacks them): give a checkpoint-<step> folder of a lenbench run"
            )
    step = checkpoint_step(checkpoint)
    if step % num_iterations:
        raise ConfigError(
            f"trainer.resume: {checkpoint} was saved at step {step}, between two of the "
            f"trainer.num_iterations={num_iterations} updates on one generation batch, which checkpoints do not "
            f"hold; resume from a checkpoint whose step is a multiple of {num_iterations}"
        )
    return checkpoint
