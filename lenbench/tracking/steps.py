"""Trainer callbacks that time optimizer steps and send the trainer's logs to the active MLflow run.

Apart from the rest of lenbench.tracking because they import transformers (seconds): the report and
the cleanup command read stores without it.
"""

from __future__ import annotations

import time

import mlflow
from transformers import TrainerCallback


class StepTimer(TrainerCallback):
    """Wall-clock seconds of every optimizer step, in order."""

    def __init__(self):
        self.seconds: list[float] = []
        self._started = 0.0

    def on_step_begin(self, args, state, control, **kwargs):
        self._started = time.perf_counter()

    def on_step_end(self, args, state, control, **kwargs):
        self.seconds.append(time.perf_counter() - self._started)


class MlflowStepLogger(StepTimer):
    """Logs the trainer's numeric logs (reward, length, loss...) and step time to the active run."""

    def __init__(self, prefix: str = "train/", step_offset: int = 0):
        super().__init__()
        self.prefix = prefix
        self.step_offset = step_offset
        """Added to the trainer's step, so a second training stage continues the curves."""
        self._logged_steps = 0

    def on_log(self, args, state, control, logs=None, **kwargs):
        metrics = {
            f"{self.prefix}{key}".replace("(", "_").replace(")", "_"): float(value)
            for key, value in (logs or {}).items()
            if isinstance(value, (int, float)) and not isinstance(value, bool)
        }
        recent = self.seconds[self._logged_steps :]
        if recent:
            metrics[f"{self.prefix}step_seconds"] = sum(recent) / len(recent)
            self._logged_steps = len(self.seconds)
        if metrics and state.is_world_process_zero:
            mlflow.log_metrics(metrics, step=self.step_offset + state.global_step)
