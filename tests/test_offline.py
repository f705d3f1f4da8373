"""Offline by default: importing lenbench switches the Hugging Face hub off, in one place."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "lenbench"
PROBE = "import lenbench.run, huggingface_hub.constants as hub; print(hub.HF_HUB_OFFLINE)"


@pytest.mark.parametrize("setting, offline", [(None, "True"), ("0", "False"), ("1", "True")])
def test_importing_lenbench_sets_hub_offline_unless_the_caller_chose(setting, offline):
    env = {k: v for k, v in os.environ.items() if k != "HF_HUB_OFFLINE"}
    if setting is not None:
        env["HF_HUB_OFFLINE"] = setting
    result = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == offline


def test_only_the_package_init_sets_it():
    setters = sorted(str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py") if "HF_HUB_OFFLINE" in p.read_text())
    assert setters == ["__init__.py"]
