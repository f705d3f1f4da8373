"""Task data of a run: the arith testbed or math problems in local files, one entry point."""

from __future__ import annotations

from lenbench.config import DATASETS, DatasetConfig
from lenbench.data.task import TaskData
from lenbench.errors import check_choice


def load_task_data(cfg: DatasetConfig) -> TaskData:
    """Train and eval problems of `cfg`'s adapter: arith -> the testbed's (lenbench.testbed.data),
    file -> local files (lenbench.data.benchmarks)."""
    check_choice("dataset.adapter", cfg.adapter, DATASETS)
    if cfg.adapter == "arith":
        from lenbench.testbed.data import load_testbed

        return load_testbed(cfg)
    from lenbench.data.benchmarks import load_file_dataset

    return load_file_dataset(cfg)


__all__ = ["TaskData", "load_task_data"]
