"""Task data of a run: the arith testbed or math problems in local files, one entry point."""

from __future__ import annotations

from lenbench.config import DATASETS, DatasetConfig
from lenbench.data.benchmarks import load_file_dataset
from lenbench.data.testbed import TaskData, load_testbed
from lenbench.errors import check_choice


def load_task_data(cfg: DatasetConfig) -> TaskData:
    """Train and eval problems of `cfg`'s adapter: arith -> the testbed, file -> local files."""
    check_choice("dataset.adapter", cfg.adapter, DATASETS)
    return load_testbed(cfg) if cfg.adapter == "arith" else load_file_dataset(cfg)


__all__ = ["TaskData", "load_task_data"]
