"""LAPO (arXiv 2507.15758) maths: stage-1 band reward, length table, stage-2 Gaussian reward.

Pure functions and a small state object; no TRL, no I/O. Follows shared/docs/methods.md and
avoids the reference code's defects:
- one reward per rollout (the reference returned two);
- the length table never lets a visit with no correct rollout overwrite a prompt's statistics
  (the reference wrote 0), and keeps a bounded history rather than only the last visit;
- prompts never solved have *no* target (None), never a magic 4096;
- the stage-2 length is counted after the plan sentence.
"""

from __future__ import annotations

import math
import re
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from statistics import correlation, mean, median
from typing import Optional

import numpy as np

from lenbench.errors import ConfigError, check_choice, check_range
from lenbench.methods.baselines import MethodConfig
from lenbench.methods.groups import prompt_groups

TARGET_STATS = ("median", "mean")
WINDOWS = ("group", "history")
STAGES = ("discovery", "internalization", "both")
PLAN_MODES = ("prompt", "self")


@dataclass
class LAPOMethodConfig(MethodConfig):
    """`method=lapo`: discovery (band reward) then internalization (plan + Gaussian length reward).

    Defaults are the testbed's (completions of 10-160 tokens), tuned on the dev split
    (conf/sweep/tune_lapo.yaml, 4 Optuna trials, seed 0; dev base 0.648 pass@1 / 54.1 tokens): the
    pick, trial 3, 0.764 / 46.8 (the others 0.726-0.761 / 47.2-48.7). The paper's values for real
    models (completions of thousands of tokens) are given per field and in method/lapo_reference.yaml.
    plan_mode=self needs a base model that has seen the plan sentence (model.plan_fraction > 0;
    model=arith has 0.2).
    """

    name: str = "lapo"
    stage: str = "both"
    """discovery, internalization (needs length_table) or both, back to back."""
    discovery_steps: Optional[int] = None
    """GRPO steps of stage 1; None: trainer.max_steps (testbed 60)."""
    internalization_steps: Optional[int] = None
    """GRPO steps of stage 2; None: trainer.max_steps (testbed 60)."""
    alpha: float = 1.72
    """Stage-1 weight of the band reward (paper 0.7)."""
    tau: float = 10.0
    """Stage-1 decay distance outside the band, tokens (paper 100)."""
    band_low_pct: float = 2.6
    """Lower band edge: percentile of correct lengths (paper 30)."""
    band_high_pct: float = 40.6
    """Upper band edge: percentile of correct lengths (paper 70)."""
    window: str = "group"
    """Band from the current group only (`group`, the reference) or the prompt's history."""
    history_size: int = 64
    """Correct lengths kept per prompt in the length table."""
    target_stat: str = "median"
    """n(q) = median (paper) or mean of the prompt's correct lengths."""
    beta: float = 1.65
    """Stage-2 weight of the Gaussian length reward (paper 0.8)."""
    sigma: float = 18.3
    """Stage-2 width of the Gaussian length reward, tokens (paper 120)."""
    plan_mode: str = "self"
    """`prompt`: the plan with n(q) is given in the prompt (reference); `self`: the model writes n."""
    plan_weight: float = 0.5
    """`self` mode: weight of the term pulling the declared n toward n(q)."""
    plan_sigma: float = 6.0
    """`self` mode: width of that term, tokens."""
    length_table: Optional[str] = None
    """Stage-1 length table (JSON) to start stage 2 from when stage=internalization."""

    def validate(self) -> None:
        check_choice("method.stage", self.stage, STAGES)
        check_choice("method.window", self.window, WINDOWS)
        check_choice("method.target_stat", self.target_stat, TARGET_STATS)
        check_choice("method.plan_mode", self.plan_mode, PLAN_MODES)
        for key in ("discovery_steps", "internalization_steps"):
            if getattr(self, key) is not None:
                check_range(f"method.{key}", getattr(self, key), low=1)
        for name in ("alpha", "beta", "plan_weight"):
            check_range(f"method.{name}", getattr(self, name), low=0.0)
        for name in ("tau", "sigma", "plan_sigma"):
            check_range(f"method.{name}", getattr(self, name), low=0.0, low_inclusive=False)
        check_range("method.band_low_pct", self.band_low_pct, low=0.0, high=100.0)
        check_range("method.band_high_pct", self.band_high_pct, low=0.0, high=100.0)
        if self.band_low_pct >= self.band_high_pct:
            raise ConfigError(
                f"method.band_low_pct={self.band_low_pct} must be below method.band_high_pct={self.band_high_pct}"
            )
        check_range("method.history_size", self.history_size, low=1)
        if self.stage == "internalization" and not self.length_table:
            raise ConfigError(
                "method.stage=internalization needs method.length_table: the stage-1 length table "
                "(JSON) of a discovery run on the same dataset"
            )

    def validate_with(self, model) -> None:
        if self.plan_mode == "self" and model.source == "testbed" and model.plan_fraction == 0:
            raise ConfigError(
                "method.plan_mode=self needs a testbed model that has seen the plan sentence, but "
                "model.plan_fraction=0.0; set model.plan_fraction > 0 (model=arith has 0.2) or use "
                "method.plan_mode=prompt"
            )


def stage_steps(method: LAPOMethodConfig, max_steps: int) -> tuple[int, int]:
    """(stage-1 steps, stage-2 steps): each stage's own count when set, else trainer.max_steps."""
    return method.discovery_steps or max_steps, method.internalization_steps or max_steps


def length_band(
    correct_lengths: Sequence[int], low_pct: float = 30.0, high_pct: float = 70.0
) -> tuple[float, float] | None:
    """[L_lo, L_hi] = percentiles of the correct lengths; None when < 2 lengths or L_lo == L_hi."""
    if len(correct_lengths) < 2:
        return None
    low, high = (float(edge) for edge in np.percentile(correct_lengths, [low_pct, high_pct], method="linear"))
    return None if low == high else (low, high)


def band_reward(length: float, band: tuple[float, float], tau: float) -> float:
    """1 inside [L_lo, L_hi], else max(0, 1 - d / tau) with d the distance to the nearer edge."""
    low, high = band
    if low <= length <= high:
        return 1.0
    distance = low - length if length < low else length - high
    return max(0.0, 1.0 - distance / tau)


def stage1_rewards(
    lengths: Sequence[int],
    correct: Sequence[bool],
    band_lengths: Sequence[int],
    alpha: float,
    tau: float,
    low_pct: float = 30.0,
    high_pct: float = 70.0,
) -> list[float]:
    """R1 = c + alpha * c * r_len1 for each rollout of one prompt.

    `band_lengths` are the correct lengths the band is computed from: the current group's
    (window `group`, the reference) or the prompt's history (window `history`).
    """
    return _band_rewards(lengths, correct, length_band(band_lengths, low_pct, high_pct), alpha, tau)


def _band_rewards(
    lengths: Sequence[int], correct: Sequence[bool], band: tuple[float, float] | None, alpha: float, tau: float
) -> list[float]:
    """R1 given the band (None: no length term)."""
    return [
        float(c) + alpha * float(c) * (band_reward(length, band, tau) if (c and band is not None) else 0.0)
        for length, c in zip(lengths, correct, strict=True)
    ]


def gaussian_length_reward(length: float, target: float, sigma: float) -> float:
    """r_len2 = exp(-(L - n)^2 / (2 sigma^2))."""
    return math.exp(-((length - target) ** 2) / (2.0 * sigma**2))


def stage2_rewards(
    lengths: Sequence[int], correct: Sequence[bool], target: float | None, beta: float, sigma: float
) -> list[float]:
    """R2 = c + beta * c * r_len2; lengths counted after the plan sentence.

    A prompt with no target (never solved in stage 1) gets correctness only: the documented
    fallback, instead of the reference's magic n = 4096.
    """
    return [
        float(c) + (beta * gaussian_length_reward(length, target, sigma) if (c and target is not None) else 0.0)
        for length, c in zip(lengths, correct, strict=True)
    ]


def plan_pattern(suffix: str) -> re.Pattern:
    """The plan's number and closing words, as a model may write them after the forced opening.

    Whitespace is optional before punctuation ("523 tokens." and "523 tokens ." both match) and
    required between words; the number may carry thousands separators ("1,234").
    """
    pieces = re.findall(r"\w+|[^\w\s]", suffix)
    if not pieces:
        raise ValueError(f"plan suffix {suffix!r} has no words")
    pattern, after_word = r"\s*(\d{1,3}(?:,\d{3})+|\d+)", True
    for piece in pieces:
        word = bool(re.match(r"\w", piece))
        pattern += (r"\s+" if word and after_word else r"\s*") + re.escape(piece)
        after_word = word
    return re.compile(pattern + (r"(?!\w)" if after_word else ""))


@dataclass(frozen=True)
class Plan:
    """A plan found at the start of a completion."""

    declared: int
    """The n the model wrote."""
    end: int
    """Characters of the completion text the plan spans (leading whitespace included)."""


def parse_plan(text: str, suffix: str) -> Plan | None:
    """The plan `n suffix` at the start of `text` (the forced opening words are in the prompt).

    None when the completion does not open with a well-formed plan: then the whole completion
    counts as reasoning. Text, not tokens: a BPE tokenizer splits "523 tokens." differently from
    the testbed's word tokens; the caller counts the plan's tokens from `end`.
    """
    found = plan_pattern(suffix).match(text)
    if found is None:
        return None
    return Plan(int(found.group(1).replace(",", "")), found.end())


@dataclass
class LengthTable:
    """Per-prompt lengths of correct rollouts, across visits, with a bounded history."""

    history_size: int = 64
    """Most recent correct lengths kept per prompt."""
    lengths: dict[str, deque] = field(default_factory=dict)

    def update(self, prompt_id: str, correct_lengths: Sequence[int]) -> None:
        """Record a visit; a visit with no correct rollout changes nothing."""
        if not correct_lengths:
            return
        self.lengths.setdefault(prompt_id, deque(maxlen=self.history_size)).extend(int(n) for n in correct_lengths)

    def band_lengths(self, prompt_id: str, group_correct_lengths: Sequence[int], window: str) -> list[int]:
        """The lengths the band is computed from (call after `update` for this visit)."""
        if window == "group":
            return list(group_correct_lengths)
        if window == "history":
            return list(self.lengths.get(prompt_id, ()))
        raise ValueError(f"unknown window {window!r}; allowed: {', '.join(WINDOWS)}")

    def target(self, prompt_id: str, stat: str = "median") -> float | None:
        """n(q): median (or mean) of the prompt's correct lengths; None if never solved."""
        stored = self.lengths.get(prompt_id)
        if not stored:
            return None
        if stat == "median":
            return float(median(stored))
        if stat == "mean":
            return float(mean(stored))
        raise ValueError(f"unknown target statistic {stat!r}; allowed: {', '.join(TARGET_STATS)}")

    def targets(self, stat: str = "median") -> dict[str, float]:
        """n(q) for every prompt solved at least once."""
        return {prompt_id: self.target(prompt_id, stat) for prompt_id in self.lengths}


@dataclass
class Stage1Batch:
    """Stage-1 rewards of one batch, with what the trainer logs about them."""

    rewards: list[float]
    band_hit_rate: float | None
    """Fraction of correct rollouts inside their prompt's band (None: no band in the batch)."""


def stage1_batch(
    table: LengthTable,
    prompt_ids: Sequence[str],
    lengths: Sequence[int],
    correct: Sequence[bool],
    *,
    group_size: int,
    alpha: float,
    tau: float,
    window: str,
    low_pct: float = 30.0,
    high_pct: float = 70.0,
) -> Stage1Batch:
    """R1 for a whole batch: groups of `group_size` consecutive rows (TRL's layout), the table
    updated once per group, so a prompt drawn twice into one batch counts as two visits."""
    rewards = [0.0] * len(prompt_ids)
    hits = in_band_checked = 0
    for indices in prompt_groups(prompt_ids, group_size):
        prompt_id = prompt_ids[indices[0]]
        group_lengths = [lengths[i] for i in indices]
        group_correct = [bool(correct[i]) for i in indices]
        correct_lengths = [n for n, c in zip(group_lengths, group_correct, strict=True) if c]
        table.update(prompt_id, correct_lengths)
        band = length_band(table.band_lengths(prompt_id, correct_lengths, window), low_pct, high_pct)
        for i, reward in zip(indices, _band_rewards(group_lengths, group_correct, band, alpha, tau), strict=True):
            rewards[i] = reward
        if band is not None:
            hits += sum(band[0] <= n <= band[1] for n in correct_lengths)
            in_band_checked += len(correct_lengths)
    return Stage1Batch(rewards, hits / in_band_checked if in_band_checked else None)


def stage2_prompt(prompt: str, plan_mode: str, target: float | None, prefix: str, suffix: str) -> str | None:
    """The stage-2 prompt (the prompt ends with the think marker); `prefix n suffix` is the dataset's
    plan sentence ("I will answer the question with n tokens.").

    `prompt` mode (reference): the whole plan sentence with n = round(n(q)) follows the marker;
    a prompt with no target has no plan to state and is left out of stage 2 (returns None).
    `self` mode: only the plan's opening words are forced; the model writes n itself.
    """
    opening = f"{prompt}{'' if prompt[-1:].isspace() else ' '}{prefix}"
    if plan_mode == "self":
        return opening
    if plan_mode == "prompt":
        if target is None:
            return None
        return f"{opening} {round(target)} {suffix}"
    raise ValueError(f"unknown plan mode {plan_mode!r}; allowed: {', '.join(PLAN_MODES)}")


def self_plan_reward(
    declared: int | None,
    reasoning_length: int,
    correct: bool,
    target: float | None,
    *,
    beta: float,
    sigma: float,
    plan_weight: float,
    plan_sigma: float,
) -> float:
    """R = c + beta * c * g(L' - n_declared; sigma) + plan_weight * c * g(n_declared - n(q); plan_sigma).

    g(x; s) = exp(-x^2 / (2 s^2)). Both length terms are gated by correctness, as in R1 and R2, so
    a wrong answer earns nothing for a well-aimed plan. `declared` is the n the model wrote (None:
    no well-formed plan, so neither length term applies), L' = `reasoning_length` the completion's
    tokens after the plan, EOS included. Without a target (prompt never solved in stage 1) the plan
    term does not apply.
    """
    reward = float(correct)
    if declared is not None and correct:
        reward += beta * gaussian_length_reward(reasoning_length, declared, sigma)
        if target is not None:
            reward += plan_weight * gaussian_length_reward(declared, target, plan_sigma)
    return reward


def plan_fidelity(declared: Sequence[int | None], actual: Sequence[int]) -> dict[str, float]:
    """How well declared plans predict the reasoning that follows them.

    plan_rate: fraction of completions with a well-formed plan; on those, plan_corr (Pearson
    correlation of declared n with the tokens after the plan; NaN when either is constant) and
    plan_median_abs_error (median |declared - actual|).
    """
    pairs = [(d, a) for d, a in zip(declared, actual, strict=True) if d is not None]
    result = {"plan_rate": len(pairs) / len(declared) if declared else 0.0}
    if not pairs:
        return result
    xs, ys = [float(d) for d, _ in pairs], [float(a) for _, a in pairs]
    result["plan_median_abs_error"] = float(median(abs(x - y) for x, y in pairs))
    if len(pairs) >= 2 and len(set(xs)) > 1 and len(set(ys)) > 1:
        result["plan_corr"] = correlation(xs, ys)
    else:
        result["plan_corr"] = float("nan")
    return result
