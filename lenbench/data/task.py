"""TaskData: what a run trains and evaluates on, whichever adapter loaded it (testbed or files)."""

from __future__ import annotations

from dataclasses import dataclass

from datasets import Dataset

from lenbench.data.prompts import PLAN_SENTENCE
from lenbench.grading import Grader


@dataclass
class TaskData:
    """What a run trains and evaluates on."""

    train: Dataset
    """Columns: prompt, answer, difficulty, oracle_length, problem_id (file datasets add unit)."""
    eval: Dataset
    """Same columns; problems disjoint from train."""
    grader: Grader
    """How completions are graded (lenbench.grading.Grader: exact or math, with its settings)."""
    eval_hash: str
    """Hash of the eval problems: runs are comparable only when it matches."""
    train_hash: str
    """Hash of the train problems: a stage-1 length table belongs to one train set."""
    skipped: int = 0
    """Malformed rows skipped while loading (file datasets with dataset.skip_invalid=true)."""
    plan: tuple[str, str] = PLAN_SENTENCE
    """LAPO's plan sentence as (opening, closing) text around the number n, in this dataset's words."""
