"""Method registry: each method's config dataclass and whether it trains.

The maths of each method lives in its own module (pure functions, tensors or lists in and out).
"""

from __future__ import annotations

from dataclasses import dataclass

from lenbench.methods.baselines import BaseMethodConfig, GRPOMethodConfig, MethodConfig
from lenbench.methods.iapo import IAPOMethodConfig
from lenbench.methods.lapo import LAPOMethodConfig
from lenbench.methods.lead import LEADMethodConfig


@dataclass(frozen=True)
class MethodSpec:
    """How the runner treats a method."""

    config_class: type[MethodConfig]
    trains: bool
    """False for evaluation-only methods (`base`)."""


METHODS: dict[str, MethodSpec] = {
    "base": MethodSpec(BaseMethodConfig, trains=False),
    "grpo": MethodSpec(GRPOMethodConfig, trains=True),
    "lapo": MethodSpec(LAPOMethodConfig, trains=True),
    "lead": MethodSpec(LEADMethodConfig, trains=True),
    "iapo": MethodSpec(IAPOMethodConfig, trains=True),
}
