"""LEAD maths: per-problem adaptive target length, efficiency reward, PSI weights, decoupled advantages.

Pure functions and a small state object; no TRL, no I/O. Follows shared/docs/methods.md:
- L*(q) aggregates the lengths of q's correct rollouts in the current batch, clamped to
  [L_min, L_max]; both bounds are config values (the reference hard-codes L_min = 1000).
- An unsolved prompt gets the sentinel L* = L_max (reference) or, with `unsolved=none`, no
  efficiency reward at all. Under `sym` the sentinel rewards *longer* rollouts of an unsolved
  prompt (up to L_max); `none` avoids that.
- PSI weights are computed from the raw rewards of the very batch they weight, smoothed by an
  EMA whose stored value is never floored; only the weight *used* is floored at w_min.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import mean, median, pvariance

import torch

from lenbench.errors import ConfigError, check_choice, check_range
from lenbench.methods.baselines import MethodConfig

EFFICIENCY_MODES = ("sym", "asym", "upper_only")
AGGREGATORS = ("mean_correct", "median_correct", "min_correct", "mean_all")
UNSOLVED = ("sentinel", "none")
WHITENINGS = ("sequence", "token")
WEIGHTINGS = ("psi", "static")
TRL_NORM_EPS = 1e-4
"""The eps TRL adds to the std in group normalization and batch whitening (the reference uses 1e-6)."""


@dataclass
class LEADMethodConfig(MethodConfig):
    """`method=lead`: correctness and efficiency rewards, normalized apart, combined by PSI weights.

    Defaults are the testbed's (completions of 10-160 tokens), tuned on the dev split
    (conf/sweep/tune_lead.yaml, seed 0; dev base 0.648 pass@1 / 54.1 tokens). Round 1 (4 trials: mode,
    aggregator, w_min, ema_lambda >= 0.8): 0.760-0.774 / 43.2-43.9. Round 2 (6 trials, faster EMA,
    sharpness): the pick, trial 1, 0.761 / 42.3 (the others 0.768-0.788 / 43.4-48.4). The paper's
    values for real models are given per field and in method/lead_reference.yaml.
    """

    name: str = "lead"
    efficiency_mode: str = "upper_only"
    """`sym` (paper): max(-1, 1 - |L - L*| / L*); `asym`; `upper_only` (penalize only L > L*).
    Testbed default `upper_only`: at pass@1 ~0.2 many prompts are unsolved and `sym` lengthened the
    policy (seed 0: 50.6 tokens vs base 40.8; 41.2 with unsolved=none); `upper_only` gave 26.4."""
    aggregator: str = "min_correct"
    """L*(q) from the batch: mean/median/min of correct lengths, or mean of all lengths."""
    length_min: float = 10.0
    """L_min, lower clamp of L*, tokens (reference 1000; testbed: the shortest correct trace, k=1)."""
    length_max: float = 160.0
    """L_max, upper clamp of L* and the unsolved sentinel, tokens (reference 8000; testbed: the cap)."""
    unsolved: str = "sentinel"
    """Prompt with no correct rollout: `sentinel` (L* = L_max, reference) or `none` (r_eff = 0)."""
    whiten: str = "sequence"
    """Batch whitening of the combined advantage: per sequence (TRL) or token-weighted (reference)."""
    weights: str = "psi"
    """`psi`: dynamic weights from the batch; `static`: fixed w_c (the static-weight ablation)."""
    static_w_c: float = 0.5
    """w_c when weights=static (w_e = 1 - w_c)."""
    ema_lambda: float = 0.34
    """EMA weight on the previous value, in [0, 1) (paper 0.95)."""
    sharpness: float = 0.38
    """Exponent a of the potentials P_c, P_e (paper 1)."""
    w_min: float = 0.28
    """Floor on the correctness weight used (paper 0.3); the stored EMA is not floored."""
    eps: float = 1e-8
    """eps in the CV, its normalization and the target weights (paper 1e-8)."""

    def validate(self) -> None:
        check_choice("method.efficiency_mode", self.efficiency_mode, EFFICIENCY_MODES)
        check_choice("method.aggregator", self.aggregator, AGGREGATORS)
        check_choice("method.unsolved", self.unsolved, UNSOLVED)
        check_choice("method.whiten", self.whiten, WHITENINGS)
        check_choice("method.weights", self.weights, WEIGHTINGS)
        check_range("method.length_min", self.length_min, low=0.0, low_inclusive=False)
        check_range("method.length_max", self.length_max, low=0.0, low_inclusive=False)
        if self.length_min > self.length_max:
            raise ConfigError(
                f"method.length_min={self.length_min} must not exceed method.length_max={self.length_max}"
            )
        check_range("method.static_w_c", self.static_w_c, low=0.0, high=1.0)
        check_range("method.w_min", self.w_min, low=0.0, high=1.0)
        check_range("method.ema_lambda", self.ema_lambda, low=0.0, high=1.0, high_inclusive=False)
        check_range("method.sharpness", self.sharpness, low=0.0, low_inclusive=False)
        check_range("method.eps", self.eps, low=0.0, low_inclusive=False)


def target_length(
    lengths: Sequence[int],
    correct: Sequence[bool],
    aggregator: str,
    length_min: float,
    length_max: float,
    unsolved: str = "sentinel",
) -> float | None:
    """L*(q) for one prompt's group; L_max (sentinel) or None (`unsolved=none`) when none is correct.

    A prompt counts as unsolved when no rollout of the group is correct, for every aggregator
    (`mean_all` included).
    """
    correct_lengths = [n for n, c in zip(lengths, correct, strict=True) if c]
    if not correct_lengths:
        if unsolved == "sentinel":
            return float(length_max)
        if unsolved == "none":
            return None
        raise ValueError(f"unknown unsolved policy {unsolved!r}; allowed: {', '.join(UNSOLVED)}")
    aggregate = {
        "mean_correct": lambda: mean(correct_lengths),
        "median_correct": lambda: median(correct_lengths),
        "min_correct": lambda: min(correct_lengths),
        "mean_all": lambda: mean(lengths),
    }
    if aggregator not in aggregate:
        raise ValueError(f"unknown aggregator {aggregator!r}; allowed: {', '.join(AGGREGATORS)}")
    return float(min(max(aggregate[aggregator](), length_min), length_max))


def efficiency_reward(length: float, target: float | None, correct: bool, mode: str = "sym") -> float:
    """r_eff of one rollout against its prompt's L* (0 when the prompt has no target)."""
    if target is None:
        return 0.0
    ratio = 1.0 - length / target
    if mode == "sym":
        return max(-1.0, 1.0 - abs(length - target) / target)
    if mode == "asym":
        return max(0.0, ratio) if correct else min(max(ratio, -1.0), 0.0)
    if mode == "upper_only":
        return max(-1.0, min(0.0, ratio))
    raise ValueError(f"unknown efficiency mode {mode!r}; allowed: {', '.join(EFFICIENCY_MODES)}")


def pooled_moments(groups: Sequence[Sequence[float]]) -> tuple[float, float] | None:
    """(mu, sigma) over groups weighted equally, by the law of total variance.

    mu = mean of the group means; sigma^2 = mean of the (population) group variances + the
    (population) variance of the group means. Empty groups are skipped; None when all are empty.
    """
    groups = [list(g) for g in groups if len(g)]
    if not groups:
        return None
    means = [mean(g) for g in groups]
    within = mean(pvariance(g) for g in groups)
    return mean(means), math.sqrt(within + pvariance(means))


@dataclass
class PSITargets:
    """The PSI quantities of one batch (what the trainer logs each step)."""

    cv_c: float
    """Normalized CV of the correctness reward."""
    cv_e: float
    """Normalized CV of the efficiency reward (0 when no rollout of the batch is correct)."""
    potential_c: float
    """(1 - clamp(mu_c, 0, 1))^a."""
    potential_e: float
    """((1 - clamp(mu_e, -1, 1)) / 2)^a (0 when no rollout of the batch is correct)."""
    target_c: float
    """D_c / (D_c + D_e + eps)."""
    target_e: float
    """D_e / (D_c + D_e + eps)."""


def psi_targets(
    correctness_groups: Sequence[Sequence[float]],
    efficiency_groups: Sequence[Sequence[float]],
    sharpness: float = 1.0,
    eps: float = 1e-8,
) -> PSITargets:
    """Target weights from one batch's raw rewards, grouped by prompt.

    `efficiency_groups` hold the efficiency rewards of the *correct* rollouts only (a group with
    none is empty and does not count); with no correct rollout in the batch D_e = 0.
    """
    mu_c, sigma_c = pooled_moments(correctness_groups) or (0.0, 0.0)
    efficiency = pooled_moments(efficiency_groups)
    raw_cv_c = sigma_c / (abs(mu_c) + eps)
    raw_cv_e = efficiency[1] / (abs(efficiency[0]) + eps) if efficiency else 0.0
    norm = raw_cv_c + raw_cv_e + eps
    cv_c, cv_e = raw_cv_c / norm, raw_cv_e / norm
    potential_c = (1.0 - min(max(mu_c, 0.0), 1.0)) ** sharpness
    potential_e = ((1.0 - min(max(efficiency[0], -1.0), 1.0)) / 2.0) ** sharpness if efficiency else 0.0
    drive_c, drive_e = cv_c * potential_c, cv_e * potential_e
    total = drive_c + drive_e + eps
    return PSITargets(cv_c, cv_e, potential_c, potential_e, drive_c / total, drive_e / total)


@dataclass
class PSIWeights:
    """The EMA of the target weights: the state a LEAD run carries from step to step (and checkpoint)."""

    ema_c: float = 0.5
    ema_e: float = 0.5

    def update(self, targets: PSITargets, ema_lambda: float) -> None:
        """w <- lambda * w_prev + (1 - lambda) * target (stored unfloored)."""
        self.ema_c = ema_lambda * self.ema_c + (1.0 - ema_lambda) * targets.target_c
        self.ema_e = ema_lambda * self.ema_e + (1.0 - ema_lambda) * targets.target_e

    def used(self, w_min: float) -> tuple[float, float]:
        """(w_c, w_e) applied to the advantages: w_c = max(ema_c, w_min), w_e = 1 - w_c."""
        w_c = max(self.ema_c, w_min)
        return w_c, 1.0 - w_c


def group_normalize(values: torch.Tensor, group_size: int, eps: float = TRL_NORM_EPS) -> torch.Tensor:
    """(x - group mean) / (unbiased group std + eps), groups of consecutive rows."""
    grouped = values.view(-1, group_size)
    std = grouped.std(dim=1, keepdim=True) if group_size > 1 else torch.zeros_like(grouped[:, :1])
    return ((grouped - grouped.mean(dim=1, keepdim=True)) / (std + eps)).view(-1)


def token_whiten(advantages: torch.Tensor, lengths: torch.Tensor, eps: float = TRL_NORM_EPS) -> torch.Tensor:
    """Whiten sequence advantages over all response tokens: each sequence weighs its token count.

    mean = sum(T_i A_i) / sum(T_i); var = sum(T_i (A_i - mean)^2) / (sum(T_i) - 1).
    """
    weights = lengths.to(advantages.dtype)
    total = weights.sum()
    centre = (weights * advantages).sum() / total
    var = (weights * (advantages - centre) ** 2).sum() / (total - 1).clamp(min=1.0)
    return (advantages - centre) / (var.sqrt() + eps)


def sequence_whiten(advantages: torch.Tensor, eps: float = TRL_NORM_EPS) -> torch.Tensor:
    """(A - mean) / (unbiased std + eps) over the batch's sequences."""
    std = advantages.std() if advantages.numel() > 1 else torch.zeros(())
    return (advantages - advantages.mean()) / (std + eps)


def decoupled_advantages(
    correctness: torch.Tensor,
    efficiency: torch.Tensor,
    group_size: int,
    w_c: float,
    w_e: float,
    whiten: str = "sequence",
    lengths: torch.Tensor | None = None,
    eps: float = TRL_NORM_EPS,
) -> torch.Tensor:
    """A = whiten(w_c * gnorm(correctness) + w_e * gnorm(efficiency)), one value per rollout.

    `token` whitening is applied to the sequence-whitened values, as the engine does (TRL whitens
    per sequence, the LEAD hook re-whitens). Whitening is affine-invariant, so this equals token
    whitening of the combined value, except that eps then acts on a unit-scale std.
    """
    combined = w_c * group_normalize(correctness, group_size, eps) + w_e * group_normalize(efficiency, group_size, eps)
    if whiten not in WHITENINGS:
        raise ValueError(f"unknown whitening {whiten!r}; allowed: {', '.join(WHITENINGS)}")
    whitened = sequence_whiten(combined, eps)
    if whiten == "sequence":
        return whitened
    if lengths is None:
        raise ValueError("whiten='token' needs the completion lengths")
    return token_whiten(whitened, lengths, eps)
    raise ValueError(f"unknown whitening {whiten!r}; allowed: {', '.join(WHITENINGS)}")
