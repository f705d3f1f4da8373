"""Rollout groups: the rows of a batch that share a prompt (GRPO's unit of comparison)."""

from __future__ import annotations

from collections.abc import Hashable, Sequence


def group_indices(prompt_ids: Sequence[Hashable]) -> list[list[int]]:
    """Row indices of each prompt's rollouts, prompts in first-seen order."""
    groups: dict[Hashable, list[int]] = {}
    for index, prompt_id in enumerate(prompt_ids):
        groups.setdefault(prompt_id, []).append(index)
    return list(groups.values())
