"""ThinkPrune (arXiv 2504.01296): train under a length limit that shrinks stage by stage.

A rollout that reaches the limit without finishing earns 0 (the paper's intent); the official code
grades whatever the cut text contains, offered as `truncated: grade`. The stage schedule maps a
training step to the limit in force. Pure functions; no TRL, no I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from lenbench.errors import ConfigError, check_choice, check_range
from lenbench.methods.baselines import MethodConfig

TRUNCATED = ("zero", "grade")


@dataclass
class ThinkPruneMethodConfig(MethodConfig):
    """`method=thinkprune`: reward c, 0 for a cut rollout; limits shrink over the stages of one run.

    Defaults are the testbed's (completions of 10-160 tokens); the reference's values are given per
    field.
    """

    name: str = "thinkprune"
    limits: list[int] = field(default_factory=lambda: [160, 120, 80])
    """Length limit B of each stage, tokens, non-increasing (reference 4000 -> 3000 -> 2000;
    testbed 160 -> 120 -> 80). Each stage starts from the policy the last one left."""
    stage_steps: list[int] = field(default_factory=lambda: [20, 20, 20])
    """Training steps of each stage, one per limit; after the last stage its limit stays
    (methods.md gives no step counts; 20 each fills the testbed's 60 steps)."""
    truncated: str = "zero"
    """A rollout cut at the limit: `zero` reward (paper) or `grade` its cut text (official code)."""

    def validate(self) -> None:
        check_choice("method.truncated", self.truncated, TRUNCATED)
        if not self.limits:
            raise ConfigError("method.limits must list at least one length limit")
        for i, limit in enumerate(self.limits):
            check_range(f"method.limits[{i}]", limit, low=1)
        if any(later > earlier for earlier, later in zip(self.limits, self.limits[1:], strict=False)):
            raise ConfigError(f"method.limits={list(self.limits)} must not increase from stage to stage")
        if len(self.stage_steps) != len(self.limits):
            raise ConfigError(
                f"method.stage_steps has {len(self.stage_steps)} entries; it needs one per limit ({len(self.limits)})"
            )
        for i, steps in enumerate(self.stage_steps):
            check_range(f"method.stage_steps[{i}]", steps, low=1)


def stage_at(step: int, stage_steps: Sequence[int]) -> int:
    """0-based stage of 0-based global `step`: stage s covers the stage_steps[s] steps after stage s-1.

    Steps past the last stage stay in the last stage.
    """
    if step < 0:
        raise ValueError(f"step must be >= 0, got {step}")
    end = 0
    for stage, steps in enumerate(stage_steps):
        end += steps
        if step < end:
            return stage
    return len(stage_steps) - 1


def limit_at(step: int, limits: Sequence[int], stage_steps: Sequence[int]) -> int:
    """The length limit in force at 0-based global `step`."""
    if len(limits) != len(stage_steps) or not limits:
        raise ValueError(f"{len(limits)} limits for {len(stage_steps)} stages")
    return limits[stage_at(step, stage_steps)]


def cut(length: int, finished: bool, limit: int) -> bool:
    """Whether a rollout hit the limit without finishing: unfinished at L >= limit, or longer than it.

    L counts EOS, so a rollout that ends with EOS exactly at the limit is within it; one generated
    past the limit (the engine's cap above the stage's) counts as cut even if it finished later.
    """
    return length > limit or (length >= limit and not finished)


def rewards(correct: Sequence[bool], was_cut: Sequence[bool], *, truncated: str = "zero") -> list[float]:
    """R = c, except 0 for a cut rollout under `zero`; `grade` keeps the grade of the cut text."""
    if truncated not in TRUNCATED:
        raise ValueError(f"unknown truncated policy {truncated!r}; allowed: {', '.join(TRUNCATED)}")
    return [0.0 if (t and truncated == "zero") else float(c) for c, t in zip(correct, was_cut, strict=True)]
