#!/usr/bin/env bash
# Create .venv (if missing) and install lenbench with its dev tools. Idempotent; CPU-only.
# torch goes first, pinned: `pip install torch==2.13.0` takes the CPU build; a bare `torch`
# requirement would pull a multi-GB CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet torch==2.13.0
.venv/bin/python -m pip install --quiet -e ".[dev]"
