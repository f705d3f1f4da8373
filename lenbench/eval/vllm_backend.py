"""Evaluation generation on vLLM (`eval.backend=vllm`): vLLM's wheel on GPUs, its CPU build on CPU.

`vllm_backend` opens a vllm.LLM on the policy (the model directory, or the in-memory policy saved
to a scratch directory first) for the duration of a block. Its `generate` draws n samples per
prompt through SamplingParams(n=...). Prompts are tokenized by the policy's own tokenizer (no
special tokens added) and passed as token ids, as the transformers backend does; completions are
decoded by that tokenizer too. vLLM keeps the EOS (or stop) token in `token_ids`, and a
completion cut by the length limit counts as `max_new_tokens` (lenbench.eval.backend).

vllm is imported only here, lazily (pre-flight checks the build: lenbench.vllm_runtime). On CPU the
engine runs in this process, eagerly by default, with a KV cache of eval.vllm_cpu_kv_cache_gib; the
engine is released (lenbench.vllm_runtime.release_engine) when the block ends.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch

from lenbench.config import EvalConfig
from lenbench.data.prompts import encode_prompts
from lenbench.eval.backend import Completion, Sampling
from lenbench.eval.shares import launch_size
from lenbench.process_group import process_seed
from lenbench.vllm_runtime import check_vllm, eager, log_memory, prepare_engine, release_engine

log = logging.getLogger(__name__)


def completions_from_outputs(outputs, tokenizer, max_new_tokens: int) -> list[list[Completion]]:
    """Completions of vLLM RequestOutputs (one per prompt, each with n CompletionOutputs)."""
    rows = []
    for request in outputs:
        row = []
        for output in request.outputs:
            ids = list(output.token_ids)
            truncated = output.finish_reason == "length"
            tokens = max_new_tokens if truncated else len(ids)
            row.append(Completion(tokenizer.decode(ids, skip_special_tokens=True), tokens, truncated, tuple(ids)))
        rows.append(row)
    return rows


class VLLMBackend:
    """A vLLM engine and the policy's tokenizer."""

    def __init__(self, llm, tokenizer):
        self.llm, self.tokenizer = llm, tokenizer

    def generate(self, prompts: list[str], sampling: Sampling, desc: str) -> list[list[Completion]]:
        from vllm import SamplingParams

        params = SamplingParams(
            n=sampling.num_samples,
            temperature=sampling.temperature if sampling.do_sample else 0.0,
            top_p=sampling.top_p if sampling.do_sample else 1.0,
            max_tokens=sampling.max_new_tokens,
        )
        requests = [{"prompt_token_ids": ids} for ids in encode_prompts(self.tokenizer, prompts)]
        log.info("%s: %d prompts on vLLM", desc, len(requests))
        outputs = self.llm.generate(requests, sampling_params=params, use_tqdm=True)
        return completions_from_outputs(outputs, self.tokenizer, sampling.max_new_tokens)


@contextmanager
def vllm_backend(
    model, tokenizer, cfg: EvalConfig, seed: int, model_dir: Path | None = None, trust_remote_code: bool = False
) -> Iterator[VLLMBackend]:
    """A vLLM engine on the policy for the duration of the block.

    `model_dir`: the policy's directory when the in-memory model is unchanged from it (an untrained
    base model); None saves `model` and `tokenizer` to a scratch directory. The policy is moved to
    CPU while vLLM holds the GPU, and back afterwards.
    """
    check_vllm("eval.backend=vllm")
    prepare_engine(cfg)
    import vllm

    device = next(model.parameters()).device
    rank, processes = launch_size()
    # several processes: one engine per process on its own device, in the launch's process group (as TRL's
    # colocated rollouts), each sampling with its own seed
    launch = {"distributed_executor_backend": "external_launcher"} if processes > 1 else {}
    with tempfile.TemporaryDirectory(prefix="lenbench-vllm-") as scratch:
        if model_dir is None:
            model_dir = Path(scratch)
            model.save_pretrained(model_dir)
            tokenizer.save_pretrained(model_dir)
        model.to("cpu")
        torch.cuda.empty_cache()
        log_memory("evaluation engine starting")
        backend = VLLMBackend(
            vllm.LLM(
                model=str(model_dir),
                tokenizer=str(model_dir),
                dtype=str(model.dtype).removeprefix("torch."),
                seed=process_seed(seed, rank) if processes > 1 else seed,
                gpu_memory_utilization=cfg.vllm_gpu_memory_utilization,
                tensor_parallel_size=cfg.vllm_tensor_parallel_size,
                max_model_len=cfg.vllm_max_model_length,
                trust_remote_code=trust_remote_code,
                enforce_eager=eager(cfg.vllm_enforce_eager),
                **launch,
            ),
            tokenizer,
        )
        log_memory("evaluation engine up")
        try:
            yield backend
        finally:
            log_memory("evaluation engine released", release_engine(backend))
            model.to(device)
