"""Rollout groups as TRL lays them out: a prompt's num_generations rollouts are consecutive rows.

Groups are positions, not prompt ids: a prompt drawn twice into one batch is two groups (two visits).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from typing import TypeVar

T = TypeVar("T")


def rollout_groups(rows: int, group_size: int) -> list[range]:
    """Row indices of each group: `group_size` consecutive rows each, in batch order."""
    if group_size < 1 or rows % group_size:
        raise ValueError(f"{rows} rows do not form groups of {group_size} consecutive rollouts")
    return [range(start, start + group_size) for start in range(0, rows, group_size)]


def prompt_groups(prompt_ids: Sequence[Hashable], group_size: int) -> list[range]:
    """`rollout_groups` of a batch whose rows are labelled by prompt; each group must hold one prompt."""
    groups = rollout_groups(len(prompt_ids), group_size)
    for rows in groups:
        if len({prompt_ids[i] for i in rows}) != 1:
            raise ValueError(f"rows {rows.start}..{rows.stop - 1} are not one prompt's group: "
                             f"{[prompt_ids[i] for i in rows]}")
    return groups


def per_group(group_size: int, fn: Callable[..., Sequence[T]], *columns: Sequence) -> list[T]:
    """`fn` applied to each group's slice of every column, the results concatenated in row order.

    The one loop the group-level rewards and filters share: `fn(column_1_of_group, ...)` returns one
    value per row of the group.
    """
    rows = len(columns[0]) if columns else 0
    if any(len(column) != rows for column in columns):
        raise ValueError(f"columns of unequal length: {[len(column) for column in columns]}")
    out: list[T] = []
    for indices in rollout_groups(rows, group_size):
        values = fn(*(list(column[indices.start : indices.stop]) for column in columns))
        if len(values) != len(indices):
            raise ValueError(f"a group function returned {len(values)} values for {len(indices)} rows")
        out.extend(values)
    return out
