"""A run's train and eval sets as MLflow dataset inputs: name, digest and source, never the rows.

The digest is lenbench's own hash of the set (TaskData.eval_hash, the run's `eval_hash` tag, and
TaskData.train_hash), so the UI's Dataset column tells runs on different problems apart exactly as
the report does. The source is the dataset file, or the settings the testbed generates the set from.
Logged as metadata only (mlflow.data MetaDataset): about 30 ms a run on a sqlite store; a pandas
dataset of the default testbed's two sets (2000 + 1294 rows) took 0.37 s more, for a schema and a row count.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import mlflow
from mlflow.data.code_dataset_source import CodeDatasetSource
from mlflow.data.dataset_source_registry import resolve_dataset_source
from mlflow.data.meta_dataset import MetaDataset

from lenbench.config import DatasetConfig

if TYPE_CHECKING:
    from lenbench.data import TaskData

TESTBED_GENERATOR = "lenbench.testbed.arith"
"""The `generator` entry of a testbed set's source."""


@dataclass(frozen=True)
class DataInput:
    """One set a run uses, as MLflow records it."""

    name: str
    """`<dataset.name>-<split>`: arith-train, arith-eval (arith-dev when evaluating on the dev split)."""
    digest: str
    """lenbench's hash of the set's problems."""
    context: str
    """train or eval."""
    source: str | dict[str, Any]
    """The file the set is read from (absolute path), or the testbed generator's settings."""


def task_inputs(cfg: DatasetConfig, data: TaskData) -> list[DataInput]:
    """The eval set and, when there is one (a file dataset may be evaluation only), the train set."""
    dev = cfg.eval_split == "dev"
    inputs = [DataInput(f"{cfg.name}-{'dev' if dev else 'eval'}", data.eval_hash, "eval",
                        _source(cfg, "dev" if dev else "eval"))]
    if len(data.train):
        inputs.append(DataInput(f"{cfg.name}-train", data.train_hash, "train",
                                _source(cfg, "train_minus_dev" if dev else "train")))
    return inputs


def _source(cfg: DatasetConfig, split: str) -> str | dict[str, Any]:
    if cfg.adapter == "file":  # the dev split is carved from the train file
        path = cfg.eval.path if split == "eval" else cfg.train.path
        return str(Path(path).expanduser().resolve())
    size = {"train_size": cfg.train_size} if split.startswith("train") else {
        "eval_per_difficulty": cfg.eval_per_difficulty}
    return {"generator": TESTBED_GENERATOR, "split": split, "seed": cfg.seed, "min_difficulty": cfg.min_difficulty,
            "max_difficulty": cfg.max_difficulty, "value_max": cfg.value_max, "operand_max": cfg.operand_max, **size}


def log_inputs(inputs: list[DataInput] | tuple[DataInput, ...]) -> None:
    """The sets as dataset inputs of the active run, each with its context (the input tag
    `mlflow.data.context`)."""
    if inputs:
        datasets = [MetaDataset(_mlflow_source(i.source), name=i.name, digest=i.digest) for i in inputs]
        mlflow.log_inputs(datasets, [i.context for i in inputs], [None] * len(inputs))


def _mlflow_source(source: str | dict[str, Any]):
    if isinstance(source, dict):
        return CodeDatasetSource(tags=source)
    with warnings.catch_warnings():  # a local path matches two registered schemes ("" and file), one class
        warnings.simplefilter("ignore", UserWarning)
        return resolve_dataset_source(source)
