"""Evaluation across the processes of a launch: each generates a contiguous share of the prompts on its
own device, and every process gathers all completions, in prompt order.

Under torchrun / `accelerate launch` every process evaluates (not only the first, leaving N - 1 GPUs
idle); the main process grades and records. One process: the backend as it is.
"""

from __future__ import annotations

import logging

import torch.distributed as dist

from lenbench.eval.backend import Backend, Completion, Sampling

log = logging.getLogger(__name__)


def launch_size() -> tuple[int, int]:
    """(this process's rank, processes) of the process group; (0, 1) without one."""
    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def share(count: int, rank: int, processes: int) -> slice:
    """Process `rank`'s contiguous share of `count` items: the first count % processes shares one longer."""
    base, extra = divmod(count, processes)
    start = rank * base + min(rank, extra)
    return slice(start, start + base + (rank < extra))


class SharedBackend:
    """A backend generating this process's share of every prompt list; all processes gather the whole."""

    def __init__(self, backend: Backend, rank: int, processes: int):
        self.backend, self.rank, self.processes = backend, rank, processes

    def generate(self, prompts: list[str], sampling: Sampling, desc: str) -> list[list[Completion]]:
        mine = share(len(prompts), self.rank, self.processes)
        log.info("%s: process %d of %d generates prompts %d-%d of %d", desc, self.rank, self.processes,
                 mine.start, mine.stop - 1, len(prompts))
        part = self.backend.generate(prompts[mine], sampling, desc) if mine.stop > mine.start else []
        parts: list = [None] * self.processes
        dist.all_gather_object(parts, part)
        return [row for each in parts for row in each]
