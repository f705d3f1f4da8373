"""Errors that lenbench reports to the user as a message, not a traceback."""

from __future__ import annotations

import math
from collections.abc import Iterable
from pathlib import Path


class ConfigError(ValueError):
    """A config value (or an input it points to) is invalid; the message names the field."""


def check_choice(field: str, value: object, allowed: Iterable[object]) -> None:
    allowed = list(allowed)
    if value not in allowed:
        names = ", ".join(repr(a) for a in allowed)
        raise ConfigError(f"{field}={value!r} is not a known option; allowed: {names}")


def check_finite(field: str, value: object) -> None:
    """Raise ConfigError naming `field` when `value` is a NaN or infinite float (anything else passes)."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"{field}={value!r} is not a finite number; allowed: a finite number")


def check_range(
    field: str,
    value: float | int | None,
    *,
    low: float | None = None,
    high: float | None = None,
    low_inclusive: bool = True,
    high_inclusive: bool = True,
) -> None:
    """Raise ConfigError unless low <= value <= high (bounds optional, open or closed)."""
    if value is None:
        raise ConfigError(f"{field} must be set")
    check_finite(field, value)  # NaN compares false with every bound
    too_low = low is not None and (value < low if low_inclusive else value <= low)
    too_high = high is not None and (value > high if high_inclusive else value >= high)
    if too_low or too_high:
        left = "" if low is None else ("[" if low_inclusive else "(") + f"{low}, "
        right = "" if high is None else f"{high}" + ("]" if high_inclusive else ")")
        if low is None:
            allowed = f"<{'=' if high_inclusive else ''} {high}"
        elif high is None:
            allowed = f">{'=' if low_inclusive else ''} {low}"
        else:
            allowed = f"in {left}{right}"
        raise ConfigError(f"{field}={value!r} is out of range; allowed: {allowed}")


def check_writable_dir(field: str, value: object, directory: Path, create: bool = True) -> None:
    """ConfigError naming `field` unless a file can be written in `directory`, created first when
    `create` (else the nearest existing folder above it, where it would be created, is tried).

    A real write, not a permission test: root passes every permission test, yet cannot write /proc."""
    import tempfile

    for folder in (directory, *directory.parents):
        if folder.is_symlink() and not folder.exists():
            raise ConfigError(f"{field}={value!r}: {folder} is a dangling symlink or a symlink loop")
    try:
        if create:
            directory.mkdir(parents=True, exist_ok=True)
        existing = next(folder for folder in (directory, *directory.parents) if folder.exists())
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as error:
        reason = f"{type(error).__name__}: {error.strerror or error}"
        raise ConfigError(f"{field}={value!r}: {directory} is not writable ({reason})") from None


class StoreFailed(RuntimeError):
    """The tracking store failed during a job (a tracking server that went away); lenbench.run turns it
    into one line."""
