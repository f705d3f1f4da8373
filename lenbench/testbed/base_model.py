"""The testbed base model: a small Llama trained from scratch by SFT on traces of the trace policy.

The default model ships with the package (`lenbench/testbed/shipped/<hash>`), so a fresh clone
trains and evaluates with no build and every machine starts from the same weights;
`python -m lenbench.testbed.build --ship` rebuilds it from scratch. Any other setting is built on
first use and cached under `model.cache_dir/testbed/<hash>`, the hash covering every
setting that changes the model (testbed generator, architecture, SFT). A build writes into a
temporary directory and renames it into place, under a file lock, so concurrent jobs build once
and a crashed build never leaves a half-written model behind (the scratch of a build killed with
-9 is removed by the next build of the entry). A finished build carries a
`lenbench_base.json` marker; a cache directory with the marker but unreadable files is an error
the user must resolve (the message says how), never silently rebuilt.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

from filelock import FileLock
from transformers import AutoTokenizer

from lenbench.config import DatasetConfig, ModelConfig
from lenbench.errors import ConfigError
from lenbench.model_builders import causal_lm

log = logging.getLogger(__name__)
MARKER = "lenbench_base.json"
FORMAT_VERSION = 2
# Settings that do not change the base model (RL data sizes, where the cache lives, dtype at load).
# The settings that shape the SFT model: the arith generator and the Llama/SFT recipe. An allowlist,
# so run-time fields added to the configs later (device, file-dataset paths...) keep the key.
_DATASET_KEY = ("name", "min_difficulty", "max_difficulty", "value_max", "operand_max", "number_max",
                "p_slip", "p_check", "p_check_slip", "p_check_last", "p_recheck", "p_fix", "loop_tokens", "seed")
_MODEL_KEY = ("hidden_size", "num_layers", "num_heads", "intermediate_size", "max_positions", "sft_examples",
              "sft_epochs", "sft_learning_rate", "sft_batch_size", "plan_fraction", "sft_seed")
# SFT settings that became config fields after models were built and shipped: each is in the key only
# when it differs from its default (what every earlier build used), so those models keep their keys.
_MODEL_KEY_IF_CHANGED = ("sft_lr_scheduler_type", "sft_warmup_steps", "sft_weight_decay", "sft_train_sampling",
                         "sft_completion_only_loss")


def cache_key(dataset: DatasetConfig, model: ModelConfig) -> str:
    defaults = ModelConfig()
    model_settings = {k: getattr(model, k) for k in _MODEL_KEY}
    model_settings.update({k: getattr(model, k) for k in _MODEL_KEY_IF_CHANGED
                           if getattr(model, k) != getattr(defaults, k)})
    settings = {
        "format": FORMAT_VERSION,
        "dataset": {k: getattr(dataset, k) for k in _DATASET_KEY},
        "model": model_settings,
    }
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]


SHIPPED_DIR = Path(__file__).parent / "shipped"


def shipped_model_dir(dataset: DatasetConfig, model: ModelConfig) -> Path | None:
    """The model shipped with the package for these settings (same hash), or None."""
    path = SHIPPED_DIR / cache_key(dataset, model)
    return path if (path / MARKER).is_file() else None


def base_model_dir(dataset: DatasetConfig, model: ModelConfig) -> Path:
    """Where the base model for these settings is: the shipped one, else the cache entry (maybe unbuilt)."""
    return shipped_model_dir(dataset, model) or Path(model.cache_dir).expanduser() / "testbed" / cache_key(
        dataset, model
    )


def check_cached_model(path: Path) -> None:
    """Raise ConfigError if a finished build at `path` cannot be read back."""
    hint = f"delete {path} to rebuild it, or point model.cache_dir elsewhere"
    try:
        json.loads((path / MARKER).read_text())
        json.loads((path / "config.json").read_text())
        AutoTokenizer.from_pretrained(path, local_files_only=True)
        weights = path / "model.safetensors"
        if not weights.is_file():
            raise FileNotFoundError(weights)
        from safetensors import safe_open

        with safe_open(str(weights), framework="pt") as handle:
            list(handle.keys())
    except Exception as error:  # any unreadable piece makes the whole cache entry unusable
        reason = f"{type(error).__name__}: {error}"
        raise ConfigError(f"base model cache at {path} is unreadable ({reason}); {hint}") from None


def new_model(model: ModelConfig, tokenizer):
    """The untrained base model: a random-init Llama of model.* size (one KV head per head), seeded by
    model.sft_seed."""
    return causal_lm("llama", tokenizer, hidden=model.hidden_size, layers=model.num_layers, heads=model.num_heads,
                     kv_heads=model.num_heads, intermediate=model.intermediate_size,
                     max_positions=model.max_positions, seed=model.sft_seed)


def scratch_prefix(target: Path) -> str:
    """Name prefix of the scratch directories (beside `target`) that builds of `target` write into."""
    return f".build-{target.name}-"


def remove_stale_scratch(target: Path) -> list[Path]:
    """Remove the scratch directories that earlier builds of `target` left (a build killed with -9
    cannot clean up); returns them. Call it holding `target`'s build lock: then no other build of
    `target` is running, so every such directory is stale. Other entries' scratch is left alone."""
    stale = sorted(target.parent.glob(scratch_prefix(target) + "*"))
    for path in stale:
        shutil.rmtree(path, ignore_errors=True)
    return stale


def build(dataset: DatasetConfig, model: ModelConfig, target: Path) -> None:
    """Train the base model for these settings from scratch into `target` (must not exist), holding
    its build lock (the shipped copy, which no job builds, excepted)."""
    from lenbench.testbed.data import sft_dataset
    from lenbench.testbed.tokenizer import build_tokenizer
    from lenbench.train.sft import train_sft

    tokenizer = build_tokenizer(dataset.number_max)
    network = new_model(model, tokenizer)
    traces = sft_dataset(dataset, model.sft_examples, model.plan_fraction, model.sft_seed)
    params = sum(p.numel() for p in network.parameters())
    log.info("building testbed base model (%.2fM params, %d traces) -> %s", params / 1e6, len(traces), target)
    start = time.perf_counter()
    for path in remove_stale_scratch(target):
        log.info("removed %s, left by an interrupted build", path)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=scratch_prefix(target)) as scratch:
        stage = Path(scratch) / "model"
        metrics = train_sft(
            network,
            tokenizer,
            traces,
            Path(scratch) / "sft",
            epochs=model.sft_epochs,
            learning_rate=model.sft_learning_rate,
            batch_size=model.sft_batch_size,
            max_length=model.max_positions,
            seed=model.sft_seed,
            lr_scheduler_type=model.sft_lr_scheduler_type,
            warmup_steps=model.sft_warmup_steps,
            weight_decay=model.sft_weight_decay,
            train_sampling=model.sft_train_sampling,
            completion_only_loss=model.sft_completion_only_loss,
        )
        network.generation_config.eos_token_id = tokenizer.eos_token_id
        network.generation_config.pad_token_id = tokenizer.pad_token_id
        network.save_pretrained(stage)
        tokenizer.save_pretrained(stage)
        marker = {
            "key": target.name,
            "parameters": params,
            "build_seconds": round(time.perf_counter() - start, 1),
            "sft_metrics": metrics,
            "dataset": asdict(dataset),
            "model": asdict(model),
        }
        (stage / MARKER).write_text(json.dumps(marker, indent=2))
        stage.rename(target)
    log.info("base model built in %s s", marker["build_seconds"])


def ensure_base_model(dataset: DatasetConfig, model: ModelConfig) -> Path:
    """Path of the base model for these settings: the shipped one, else the cache entry, built first if needed."""
    shipped = shipped_model_dir(dataset, model)
    if shipped is not None:
        check_cached_model(shipped)
        return shipped
    target = base_model_dir(dataset, model)
    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target) + ".lock"):
        if target.exists() and not (target / MARKER).exists():
            shutil.rmtree(target)  # an interrupted build from an older layout: start over
        if not target.exists():
            build(dataset, model, target)
    check_cached_model(target)
    return target
