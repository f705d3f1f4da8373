"""The trainer callback that sends the trainer's logs (TRL's `step_time` among them) to the active MLflow run.

Apart from the rest of lenbench.tracking because it imports transformers (seconds): the report and
the cleanup command read stores without it.
"""

from __future__ import annotations

import mlflow
from transformers import TrainerCallback


class MlflowStepLogger(TrainerCallback):
    """Logs the trainer's numeric logs (reward, length, loss, TRL's step_time...) to the active run."""

    def __init__(self, prefix: str = "train/", step_offset: int = 0):
        self.prefix = prefix
        self.step_offset = step_offset
        """Added to the trainer's step, so a second training stage continues the curves."""

    def on_log(self, args, state, control, logs=None, **kwargs):
        metrics = {
            f"{self.prefix}{key}".replace("(", "_").replace(")", "_"): float(value)
            for key, value in (logs or {}).items()
            if isinstance(value, (int, float)) and not isinstance(value, bool)
        }
        if metrics and state.is_world_process_zero:
            mlflow.log_metrics(metrics, step=self.step_offset + state.global_step)
