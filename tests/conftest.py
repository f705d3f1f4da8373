"""Test environment: offline, one torch thread, a private base-model cache per session."""

import os
import sys
from pathlib import Path

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["OMP_NUM_THREADS"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parents[1]
CONF = REPO / "conf"


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
