"""Where the policy comes from and where it runs.

The cached testbed base model or a local model directory (never downloaded: every load is
`local_files_only`); the device it runs on; and the checks, before any compute, that the machine
can run what the config asks for (CUDA, bf16, vLLM: lenbench.vllm_runtime).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer
from transformers.utils import SAFE_WEIGHTS_INDEX_NAME, SAFE_WEIGHTS_NAME, WEIGHTS_INDEX_NAME, WEIGHTS_NAME

from lenbench.config import ModelConfig, RunConfig
from lenbench.errors import ConfigError, check_writable_dir
from lenbench.process_group import check_deepspeed, processes
from lenbench.testbed.base_model import MARKER, base_model_dir, check_cached_model, ensure_base_model


def check_model_source(run: RunConfig) -> None:
    """Fail fast (before any compute) on a missing local model or an unusable testbed cache."""
    if run.model.source == "gguf":
        from lenbench.gguf_models import gguf_path

        gguf_path(run.model.gguf_file)
        check_writable_dir("model.cache_dir", run.model.cache_dir, Path(run.model.cache_dir).expanduser())
        return
    if run.model.source == "path":
        path = Path(run.model.path).expanduser()
        if not (path / "config.json").is_file():
            raise ConfigError(f"model.path={run.model.path!r} is not a local model directory (no config.json)")
        check_weight_files(run.model.path, path)
        check_tokenizer(run)
        return
    cached = base_model_dir(run.dataset, run.model)
    if (cached / MARKER).exists():
        check_cached_model(cached)
        return
    if processes() > 1:
        raise ConfigError(
            f"the testbed base model for these dataset/model settings is not built yet ({cached}), and a "
            "multi-process launch cannot build it (its SFT would wait for the other processes); build it "
            "once with a single process, e.g. `python -m lenbench.run method=base` with the same overrides"
        )
    check_writable_dir("model.cache_dir", run.model.cache_dir, Path(run.model.cache_dir).expanduser())


def check_tokenizer(run: RunConfig) -> None:
    """ConfigError naming model.path unless its tokenizer loads and encodes text: without tokenizer
    files transformers may build an empty tokenizer (one token, no ids for any text) instead of failing."""
    try:
        tokenizer = policy_tokenizer(run)
        ids = tokenizer("Compute 1 + 1.")["input_ids"]
    except Exception as error:  # transformers raises OSError, ValueError or others for a missing tokenizer
        reason = f"{type(error).__name__}: {' '.join(str(error).split())[:300]}"
        raise ConfigError(f"model.path={run.model.path!r} has no loadable tokenizer ({reason})") from None
    if not ids:
        raise ConfigError(
            f"model.path={run.model.path!r} has no loadable tokenizer (the one loaded from it has {len(tokenizer)} "
            "token(s) and encodes text to nothing: tokenizer.json / tokenizer_config.json missing?)"
        )


WEIGHT_FILES = (SAFE_WEIGHTS_NAME, SAFE_WEIGHTS_INDEX_NAME, WEIGHTS_NAME, WEIGHTS_INDEX_NAME)
"""The files transformers loads a model's weights from: one file, or an index of shards."""


def check_weight_files(setting: str, path: Path) -> None:
    """ConfigError naming model.path unless `path` holds weights transformers can load (every shard
    an index names is there)."""
    found = next((name for name in WEIGHT_FILES if (path / name).is_file()), None)
    if found is None:
        raise ConfigError(
            f"model.path={setting!r} has no model weights (none of {', '.join(WEIGHT_FILES)})"
        )
    if found.endswith(".index.json"):
        try:
            shards = set(json.loads((path / found).read_text())["weight_map"].values())
        except (ValueError, KeyError, AttributeError, TypeError) as error:
            raise ConfigError(f"model.path={setting!r}: {found} is not a weight index ({error!r})") from None
        missing = sorted(shard for shard in shards if not (path / shard).is_file())
        if missing:
            raise ConfigError(
                f"model.path={setting!r}: {len(missing)} weight shard(s) named in {found} are missing "
                f"(first: {missing[0]})"
            )


def resolve_device(device: str) -> str:
    """`cuda[:LOCAL_RANK]` or `cpu` for a model.device setting (`auto`: cuda when available). Under
    `accelerate launch` each process takes its own GPU (LOCAL_RANK), not all of them GPU 0."""
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and "LOCAL_RANK" in os.environ:
        return f"cuda:{int(os.environ['LOCAL_RANK'])}"
    return device


def require_cuda(setting: str) -> None:
    """ConfigError naming `setting` (e.g. "trainer.bf16=true") unless a CUDA GPU is usable."""
    if not torch.cuda.is_available():
        build = f"CUDA {torch.version.cuda} build" if torch.version.cuda else "a CPU-only build"
        raise ConfigError(
            f"{setting} needs a CUDA GPU, but none is available (torch {torch.__version__}, {build}); "
            "run it on a GPU machine or drop the setting"
        )


def check_runtime(run: RunConfig) -> None:
    """Fail fast (before any compute) when this machine cannot run the config: model.device=cuda,
    trainer.bf16 (training methods only), vLLM rollouts and evaluation (the build for this machine,
    lenbench.vllm_runtime; on CPU only what the CPU build can do)."""
    from lenbench.registry import METHODS
    from lenbench.vllm_runtime import check_head_size, check_vllm, engine_on_cpu

    if run.model.device == "cuda":
        require_cuda("model.device=cuda")
    trains = METHODS[run.method.name].trains
    if trains:
        check_deepspeed()
    if trains and run.trainer.bf16:
        require_cuda("trainer.bf16=true")
        if run.model.device == "cpu":
            raise ConfigError("model.device=cpu cannot train with trainer.bf16=true (bf16 mixed precision runs on "
                              "GPUs); use model.device=auto or cuda, or trainer.bf16=false")
    vllm_settings = [s for s, on in (("trainer.use_vllm=true", trains and run.trainer.use_vllm),
                                     ("eval.backend=vllm", run.eval.backend == "vllm")) if on]
    if not vllm_settings:
        return
    check_vllm(vllm_settings[0])  # one build serves both: the first setting that asks for it is named
    check_head_size(vllm_settings[0], policy_head_size(run))
    if run.model.device == "cpu" and not engine_on_cpu():
        raise ConfigError(f"model.device=cpu with {vllm_settings[0]}: this machine has a CUDA GPU, where vLLM's "
                          "engine runs, so the policy and vLLM would sit on different devices; use model.device=auto")
    if engine_on_cpu() and trains and run.trainer.use_vllm:
        if run.trainer.vllm_mode == "server":
            raise ConfigError("trainer.vllm_mode=server needs a CUDA GPU (TRL sends the weights to the server over "
                              "NCCL); on CPU allowed: trainer.vllm_mode=colocate")
        if run.trainer.vllm_enable_sleep_mode:
            raise ConfigError("trainer.vllm_enable_sleep_mode=true needs a CUDA GPU (vLLM's CPU build has no sleep "
                              "mode); on CPU allowed: false")
        if run.trainer.vllm_tensor_parallel_size > 1:
            raise ConfigError(f"trainer.vllm_tensor_parallel_size={run.trainer.vllm_tensor_parallel_size} needs "
                              "CUDA GPUs; on CPU allowed: 1")
    if run.eval.backend == "vllm" and run.eval.vllm_tensor_parallel_size > 1 and processes() > 1:
        raise ConfigError(f"eval.vllm_tensor_parallel_size={run.eval.vllm_tensor_parallel_size} in a launch of "
                          f"{processes()} processes: each process evaluates a share of the problems on its own "
                          "device; allowed: 1 (tensor parallelism is for one process with several GPUs)")
    if engine_on_cpu() and run.eval.backend == "vllm" and run.eval.vllm_tensor_parallel_size > 1:
        raise ConfigError(f"eval.vllm_tensor_parallel_size={run.eval.vllm_tensor_parallel_size} needs CUDA GPUs; "
                          "on CPU allowed: 1")


def policy_head_size(run: RunConfig) -> int:
    """The policy's attention head size, read without loading weights (the testbed's from its settings)."""
    if run.model.source == "testbed":
        return run.model.hidden_size // run.model.num_heads
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(local_model_dir(run), local_files_only=True,
                                        trust_remote_code=run.model.trust_remote_code)
    config = getattr(config, "text_config", config)
    return getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads


def local_model_dir(run: RunConfig) -> Path:
    """The directory of a model that is not the testbed's: model.path, or the GGUF file's conversion
    (converted on first use: lenbench.gguf_models)."""
    if run.model.source == "gguf":
        from lenbench.gguf_models import ensure_converted

        return ensure_converted(run.model.gguf_file, run.model.cache_dir)
    return Path(run.model.path).expanduser()


def policy_path(run: RunConfig) -> Path:
    """Directory of the starting policy, building the testbed base model (or converting a GGUF file) on first use."""
    if run.model.source != "testbed":
        return local_model_dir(run)
    return ensure_base_model(run.dataset, run.model)


def policy_tokenizer(run: RunConfig):
    """The policy's tokenizer without building or loading the model (for checks before compute; a GGUF
    file is converted on its first use, once)."""
    if run.model.source != "testbed":
        return AutoTokenizer.from_pretrained(
            local_model_dir(run), local_files_only=True, trust_remote_code=run.model.trust_remote_code
        )
    from lenbench.testbed.tokenizer import build_tokenizer

    return build_tokenizer(run.dataset.number_max)


def load_model(path: Path, dtype: str = "float32", device: str = "auto", trust_remote_code: bool = False):
    """Model (in `dtype`, on `device`: auto, cpu or cuda) and tokenizer from a local directory, never
    from a hub; left padding for generation."""
    tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True, trust_remote_code=trust_remote_code)
    tokenizer.padding_side = "left"
    network = AutoModelForCausalLM.from_pretrained(
        path, local_files_only=True, dtype=getattr(torch, dtype), trust_remote_code=trust_remote_code
    )
    return network.to(resolve_device(device)), tokenizer


MASTER_DTYPE = "float32"
"""The dtype of weights being trained, whatever model.dtype: AdamW's updates at RL learning rates (1e-6)
are far below a bfloat16 weight's resolution (8 significant bits) and round away; with trainer.bf16 the
forward and backward passes still compute in bfloat16 (mixed precision autocast)."""


def load_policy(run: RunConfig, path: Path, training: bool = False):
    """The run's starting policy from `path` with model.device and model.trust_remote_code; in model.dtype,
    or in MASTER_DTYPE when `training` (cast to model.dtype for evaluation afterwards: serving_dtype)."""
    model: ModelConfig = run.model
    return load_model(path, MASTER_DTYPE if training else model.dtype, model.device, model.trust_remote_code)


def serving_dtype(run: RunConfig, network) -> None:
    """Cast a trained policy (MASTER_DTYPE) to model.dtype, in place, for evaluation."""
    network.to(getattr(torch, run.model.dtype))
