"""Where the policy comes from: the cached testbed base model, or a local model directory."""

from __future__ import annotations

from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from lenbench.config import RunConfig
from lenbench.errors import ConfigError
from lenbench.testbed.base_model import MARKER, base_model_dir, check_cached_model, ensure_base_model


def check_model_source(run: RunConfig) -> None:
    """Fail fast (before any compute) on a missing local model or an unusable testbed cache."""
    if run.model.source == "path":
        path = Path(run.model.path).expanduser()
        if not (path / "config.json").is_file():
            raise ConfigError(f"model.path={run.model.path!r} is not a local model directory (no config.json)")
        return
    cached = base_model_dir(run.dataset, run.model)
    if (cached / MARKER).exists():
        check_cached_model(cached)
        return
    root = Path(run.model.cache_dir).expanduser()
    try:
        root.mkdir(parents=True, exist_ok=True)
        probe = root / ".write-test"
        probe.touch()
        probe.unlink()
    except OSError as error:
        raise ConfigError(f"model.cache_dir={run.model.cache_dir!r} is not writable ({error})") from None


def policy_path(run: RunConfig) -> Path:
    """Directory of the starting policy, building the testbed base model on first use."""
    if run.model.source == "path":
        return Path(run.model.path).expanduser()
    return ensure_base_model(run.dataset, run.model)


def policy_tokenizer(run: RunConfig):
    """The policy's tokenizer without building or loading the model (for checks before compute)."""
    if run.model.source == "path":
        return AutoTokenizer.from_pretrained(Path(run.model.path).expanduser(), local_files_only=True)
    from lenbench.testbed.tokenizer import build_tokenizer

    return build_tokenizer(run.dataset.number_max)


def load_model(path: Path, dtype: str = "float32"):
    """Model and tokenizer from a local directory, never from a hub; left padding for generation."""
    tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    tokenizer.padding_side = "left"
    network = AutoModelForCausalLM.from_pretrained(path, local_files_only=True, dtype=getattr(torch, dtype))
    return network, tokenizer
