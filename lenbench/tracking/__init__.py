"""MLflow, and only here: the one package of lenbench that imports mlflow (tests/test_imports.py).

    store     can a store be written, does its server answer; model-training experiments
    job       one run per job: params, config, dataset inputs, metrics, artifacts, status
    datasets  the train and eval sets as MLflow dataset inputs
    liveness  heartbeats, and the RUNNING runs of dead processes ended KILLED
    read      runs, metric histories and artifacts read back (the report), a report's own run
    steps     trainer callbacks: step times and the trainer's logs as metric curves

Everything else records through these functions. `steps` imports transformers, so its two
callbacks load on first use: reading a store (the report, `lenbench.runs cleanup`) stays light.
"""

from lenbench.tracking.datasets import DataInput, log_inputs, task_inputs
from lenbench.tracking.job import (
    flatten,
    is_main_process,
    log_artifact,
    log_eval,
    log_metrics,
    log_policy,
    log_table,
    set_tag,
    tracked_run,
)
from lenbench.tracking.liveness import RunningRun, death_reason, end_dead_runs, heartbeat, liveness_tags, running_runs
from lenbench.tracking.read import (
    check_existing_store,
    download_artifact,
    has_experiment,
    log_folder_run,
    metric_history,
    run_table,
)
from lenbench.tracking.stop_signals import Terminated
from lenbench.tracking.store import (
    KIND_TAG,
    TRAINING_KIND,
    check_experiment,
    check_server,
    check_store,
    local_store_dir,
    store_errors,
    use_experiment,
)

_STEPS = ("MlflowStepLogger",)


def __getattr__(name: str):
    if name in _STEPS:
        from lenbench.tracking import steps

        return getattr(steps, name)
    raise AttributeError(f"module 'lenbench.tracking' has no attribute {name!r}")


__all__ = [
    "KIND_TAG", "TRAINING_KIND", "DataInput", "RunningRun", "Terminated", *_STEPS, "check_experiment",
    "check_existing_store", "check_server", "check_store", "death_reason", "download_artifact", "end_dead_runs",
    "flatten", "has_experiment", "heartbeat", "is_main_process", "liveness_tags", "local_store_dir", "log_artifact",
    "log_eval", "log_folder_run", "log_inputs", "log_metrics", "log_policy", "log_table", "metric_history", "run_table",
    "running_runs", "set_tag", "store_errors", "task_inputs", "tracked_run", "use_experiment",
]
