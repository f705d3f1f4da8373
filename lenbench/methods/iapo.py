"""IAPO maths: information scores from probe values, smoothing, token-level advantages.

Pure tensor functions; no TRL, no model calls (the probe that produces the values lives in
lenbench.train.iapo_probe). Follows shared/docs/methods.md and avoids the reference's defects:
- z-scores are (x - mean) / std (the reference computed x - mean / std);
- statistics use valid completion tokens only (the reference included padding after EOS).

Shapes: B rollouts, T completion positions; `mask` (B, T) is 1 on valid completion tokens.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch

from lenbench.errors import check_choice, check_range
from lenbench.methods.baselines import MethodConfig

ESTIMATORS = ("early_exit", "answer_logprob", "next_token")


@dataclass
class IAPOMethodConfig(MethodConfig):
    """`method=iapo`: GRPO whose advantages are shaped per token by an information score.

    Defaults are the testbed's, tuned on the dev split (conf/sweep/tune_iapo.yaml, 4 Optuna trials,
    seed 0; dev base 0.648 / 54.1): the pick, trial 0, 0.772 pass@1 / 49.1 tokens; early_exit with
    w_s 0.26-1.6 and w_c 0.22-0.78 fell to 0.46-0.70 / 52.9-71.2. The reference's settings are in
    method/iapo_reference.yaml (its weights grid is {1e-6, 1e-4, 1e-2, 1}).
    """

    name: str = "iapo"
    estimator: str = "answer_logprob"
    """Information score: `early_exit` (entropy of the first answer token after each prefix plus the
    answer-forcing suffix; reference), `answer_logprob` (uncertainty of the rollout's own answer after
    each prefix), `next_token` (policy next-token entropy; the cheap ablation)."""
    decay: float = 0.42
    """s_t = dI_t + decay * dI_(t-1) (reference 0.5)."""
    score_weight: float = 0.31
    """w_s, weight of z(score) in the token advantage (reference grid 1e-6, 1e-4, 1e-2, 1)."""
    entropy_weight: float = 0.043
    """w_c, weight of z(policy entropy), signed by correctness (reference grid as w_s)."""
    sqrt_length_scale: bool = False
    """Divide the z-scores by sqrt(T_i), the reference's unit-L2 scale."""
    answer_suffix: Optional[str] = None
    """Answer-forcing text appended to each prefix by the probes; None: the model's own
    (model.answer_suffix), so a model preset carries the text its model writes."""
    stride: int = 1
    """Probe every stride-th prefix; the gain between two probed prefixes is spread evenly over the
    tokens between them (1: every prefix)."""
    probe_batch: int = 256
    """Probe sequences per forward pass (bounds probe memory)."""
    logits_per_pass: int = 2**28
    """Most logits (rollouts x positions x vocabulary) one no-grad pass of the policy may produce when the
    policy entropies are computed: as many rollouts at a time as fit, at least one (2**28 = 1 GiB of
    float32; 64 rollouts of 4,097 positions over a 151,936-token vocabulary would need 40e9 at once)."""
    eps: float = 1e-8
    """eps in the z-score denominators."""

    def validate(self) -> None:
        check_choice("method.estimator", self.estimator, ESTIMATORS)
        check_range("method.decay", self.decay, low=0.0)
        check_range("method.score_weight", self.score_weight, low=0.0)
        check_range("method.entropy_weight", self.entropy_weight, low=0.0)
        check_range("method.stride", self.stride, low=1)
        check_range("method.probe_batch", self.probe_batch, low=1)
        check_range("method.logits_per_pass", self.logits_per_pass, low=1)
        check_range("method.eps", self.eps, low=0.0, low_inclusive=False)


def masked_zscore(values: torch.Tensor, mask: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Per-row (x - mean) / (std + eps) over the valid tokens (population std); 0 at padding."""
    mask = mask.to(values.dtype)
    count = mask.sum(dim=1, keepdim=True).clamp(min=1.0)
    centre = (values * mask).sum(dim=1, keepdim=True) / count
    var = (((values - centre) * mask) ** 2).sum(dim=1, keepdim=True) / count
    return (values - centre) / (var.sqrt() + eps) * mask


def probe_positions(length: int, stride: int) -> list[int]:
    """Prefix lengths to probe for a completion of `length` tokens: 0, stride, 2*stride, ..., length."""
    positions = list(range(0, length, stride))
    return positions + [length]


def information_gains(probed: list[tuple[int, float]], length: int) -> list[float]:
    """dI_t = U_t - U_(t+1) for t < length, from (prefix length, uncertainty U) pairs.

    With stride > 1 the drop between two probed prefixes a < b is spread evenly: each token in
    [a, b) gets (U_a - U_b) / (b - a).
    """
    gains = [0.0] * length
    for (start, before), (end, after) in zip(probed, probed[1:], strict=False):
        for t in range(start, end):
            gains[t] = (before - after) / (end - start)
    return gains


def smooth_scores(gains: torch.Tensor, decay: float, mask: torch.Tensor) -> torch.Tensor:
    """s_t = dI_t + decay * dI_(t-1), dI_(-1) = 0; zero at padding."""
    previous = torch.zeros_like(gains)
    previous[:, 1:] = gains[:, :-1]
    return (gains + decay * previous) * mask.to(gains.dtype)


def token_advantages(
    advantages: torch.Tensor,
    scores: torch.Tensor,
    entropies: torch.Tensor,
    mask: torch.Tensor,
    correct: torch.Tensor,
    score_weight: float,
    entropy_weight: float,
    sqrt_length_scale: bool = False,
    eps: float = 1e-8,
) -> torch.Tensor:
    """A_(i,t) = A_i + w_s z(s)_(i,t) - sign(correct_i) w_c z(h)_(i,t); 0 at padding.

    sign(correct) is +1 for a correct rollout and -1 for a wrong one, so high-entropy tokens are
    damped in correct rollouts and their penalty softened in wrong ones.
    """
    z_scores, z_entropy = masked_zscore(scores, mask, eps), masked_zscore(entropies, mask, eps)
    if sqrt_length_scale:
        lengths = mask.to(scores.dtype).sum(dim=1, keepdim=True).clamp(min=1.0)
        z_scores, z_entropy = z_scores / lengths.sqrt(), z_entropy / lengths.sqrt()
    sign = correct.to(scores.dtype).mul(2.0).sub(1.0).unsqueeze(1)
    shaped = advantages.unsqueeze(1) + score_weight * z_scores - sign * entropy_weight * z_entropy
    return shaped * mask.to(scores.dtype)

