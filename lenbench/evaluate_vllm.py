"""Evaluation generation on vLLM (`eval.backend=vllm`; GPU machines with the `gpu` extra only).

`vllm_generator` opens a vllm.LLM on the policy (the model directory, or the in-memory policy
saved to a scratch directory first) and yields a function with the signature of
`lenbench.evaluate.generate` minus model, tokenizer and batch size: n samples per prompt through
SamplingParams(n=...), returned as list[list[Completion]] in prompt order, so grading and metrics
are shared with the transformers backend. Prompts are tokenized by the policy's own tokenizer
(no special tokens added) and passed as token ids, as the transformers backend does; completions
are decoded by that tokenizer too. Token counts follow evaluate.py: vLLM keeps the EOS (or stop)
token in `token_ids`, and a completion cut by the length limit counts as `max_new_tokens`.

vllm is imported only here, lazily; without it the error names eval.backend and the extra.
"""

from __future__ import annotations

import gc
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import torch

from lenbench.config import EvalConfig
from lenbench.evaluate import Completion
from lenbench.models import require_vllm


def _import_vllm():
    require_vllm("eval.backend=vllm")
    import vllm

    return vllm


def completions_from_outputs(outputs, tokenizer, max_new_tokens: int) -> list[list[Completion]]:
    """Completions of vLLM RequestOutputs (one per prompt, each with n CompletionOutputs)."""
    rows = []
    for request in outputs:
        row = []
        for output in request.outputs:
            ids = list(output.token_ids)
            truncated = output.finish_reason == "length"
            tokens = max_new_tokens if truncated else len(ids)
            row.append(Completion(tokenizer.decode(ids, skip_special_tokens=True), tokens, truncated))
        rows.append(row)
    return rows


def generate_vllm(
    llm,
    tokenizer,
    prompts: list[str],
    *,
    num_samples: int,
    do_sample: bool,
    temperature: float,
    top_p: float,
    max_new_tokens: int,
    desc: str,
) -> list[list[Completion]]:
    """`num_samples` completions for each prompt, in prompt order (greedy when not do_sample)."""
    from vllm import SamplingParams

    params = SamplingParams(
        n=num_samples,
        temperature=temperature if do_sample else 0.0,
        top_p=top_p if do_sample else 1.0,
        max_tokens=max_new_tokens,
    )
    requests = [{"prompt_token_ids": tokenizer(p, add_special_tokens=False)["input_ids"]} for p in prompts]
    print(f"[lenbench] {desc}: {len(requests)} prompts on vLLM")
    outputs = llm.generate(requests, sampling_params=params, use_tqdm=True)
    return completions_from_outputs(outputs, tokenizer, max_new_tokens)


@contextmanager
def vllm_generator(
    model, tokenizer, cfg: EvalConfig, seed: int, model_dir: Path | None = None, trust_remote_code: bool = False
) -> Iterator[Callable[..., list[list[Completion]]]]:
    """A vLLM engine on the policy for the duration of the block, yielding the generate function.

    `model_dir`: the policy's directory when the in-memory model is unchanged from it (an untrained
    base model); None saves `model` and `tokenizer` to a scratch directory. The policy is moved to
    CPU while vLLM holds the GPU, and back afterwards.
    """
    vllm = _import_vllm()
    device = next(model.parameters()).device
    with tempfile.TemporaryDirectory(prefix="lenbench-vllm-") as scratch:
        if model_dir is None:
            model_dir = Path(scratch)
            model.save_pretrained(model_dir)
            tokenizer.save_pretrained(model_dir)
        model.to("cpu")
        torch.cuda.empty_cache()
        engine = [  # held in a list so that closing the block releases it
            vllm.LLM(
                model=str(model_dir),
                tokenizer=str(model_dir),
                dtype=str(model.dtype).removeprefix("torch."),
                seed=seed,
                gpu_memory_utilization=cfg.vllm_gpu_memory_utilization,
                tensor_parallel_size=cfg.vllm_tensor_parallel_size,
                max_model_len=cfg.vllm_max_model_length,
                trust_remote_code=trust_remote_code,
            )
        ]
        try:
            yield lambda prompts, **kwargs: generate_vllm(engine[0], tokenizer, prompts, **kwargs)
        finally:
            engine.clear()
            gc.collect()
            torch.cuda.empty_cache()
            model.to(device)
