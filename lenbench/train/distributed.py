"""A batch across the processes of a launch, as TRL lays it out.

TRL generates on every process and gathers the rewards (`_calculate_rewards`), so the batch a method
reasons about is the global one: process r holds its rows r*B:(r+1)*B, and a reward function or hook
sees only those. These helpers give a process the whole batch and its own slice of it; with one
process they are the identity. Every process must call them, in the same order.
"""

from __future__ import annotations

from accelerate import PartialState
from accelerate.utils import gather_object


def all_rows(local: list) -> tuple[list, slice]:
    """(every process's rows, in process order; this process's slice of them)."""
    state = PartialState()
    if state.num_processes == 1:
        return list(local), slice(0, len(local))
    rows = gather_object(list(local))
    start = state.process_index * len(local)
    return rows, slice(start, start + len(local))


def local_slice(trainer, rows: int) -> slice:
    """This process's rows of a gathered batch whose local part has `rows` rows."""
    start = trainer.accelerator.process_index * rows
    return slice(start, start + rows)


def is_main_process() -> bool:
    """True in the one process of a launch that writes files (global rank 0)."""
    return PartialState().is_main_process
