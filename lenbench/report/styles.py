"""How a configuration looks in the report's plots: a fixed marker per method name (the same in every
report, so a method is recognized at a glance) and a color per configuration, shared by the plots."""

from __future__ import annotations

import zlib
from collections.abc import Iterable

METHOD_MARKERS = {
    "base": "o", "grpo": "s", "lapo": "^", "lead": "v", "iapo": "D",
    "kimi": "P", "dapo_overlong": "X", "shorterbetter": "*", "efficient": "p", "thinkprune": "h",
    "l1": "<", "gfpo": ">", "dler": "d",
}
"""The methods of shared/docs/methods.md (LAPO, LEAD, IAPO, the baselines) and base/grpo."""
SPARE_MARKERS = ("H", "8", (7, 0, 0), (7, 1, 0), (8, 1, 0), (9, 0, 0), (3, 1, 0), (4, 1, 45))
"""For a method not named above: chosen by a checksum of its name (stable across reports and processes).
All markers are filled ones (a hollow marker marks a configuration off the Pareto front)."""


def method_marker(method: str) -> str | tuple[int, int, int]:
    """The matplotlib marker of a method."""
    if method in METHOD_MARKERS:
        return METHOD_MARKERS[method]
    return SPARE_MARKERS[zlib.crc32(method.encode()) % len(SPARE_MARKERS)]


def config_colors(configs: Iterable[str]) -> dict[str, str]:
    """A color of matplotlib's cycle per configuration, in order (the comparison table's)."""
    return {config: f"C{position % 10}" for position, config in enumerate(configs)}
