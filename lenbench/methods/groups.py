"""Rollout groups as TRL lays them out: a prompt's num_generations rollouts are consecutive rows.

Groups are positions, not prompt ids: a prompt drawn twice into one batch is two groups (two visits).
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence


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
