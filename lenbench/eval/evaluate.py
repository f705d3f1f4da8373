"""Held-out evaluation: generate, grade, and compute the metrics of shared/docs/methods.md.

Per problem: `samples_per_problem` sampled completions (pass@1 as avg@k) and, optionally, one
greedy completion, on the backend eval.backend names (`transformers` or `vllm`). The budget metrics
(budget curve over eval.budget_points budgets up to max_new_tokens, its area, tokens of correct and
wrong completions, thinking/answer tokens) come from the same completions.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import torch
from datasets import Dataset

from lenbench.budget_metrics import budget_grid
from lenbench.config import EvalConfig
from lenbench.eval.backend import Backend, Sampling
from lenbench.eval.budgets import budget_summary, marker_ids, think_counts
from lenbench.eval.grade import graded_rows
from lenbench.eval.shares import SharedBackend, launch_size
from lenbench.eval.summary import summarize
from lenbench.eval.transformers_backend import TransformersBackend
from lenbench.grading import Grader
from lenbench.process_group import process_seed


@dataclass
class EvalResult:
    samples: pd.DataFrame
    """One row per completion: problem_id, difficulty, answer (gold), decoding, sample, completion, tokens,
    truncated, extracted (the answer read from the completion, empty when none), reason (why it graded
    as it did: lenbench.grading.REASONS), correct; with a think-close marker also thinking_tokens,
    answer_tokens, think_closed."""
    by_difficulty: pd.DataFrame
    """One row per difficulty level."""
    summary: dict[str, float]
    """Headline metrics (accuracy = pass@1 over sampled completions, tokens_mean, ...)."""
    generation: dict[str, float] = field(default_factory=dict)
    """How fast the completions were generated: seconds (engine start-up included) and generated tokens/s
    (all processes of a launch together). Machine figures, not results: apart from `summary`."""


@contextmanager
def open_backend(
    model, tokenizer, cfg: EvalConfig, seed: int, model_dir: Path | None = None, trust_remote_code: bool = False
) -> Iterator[Backend]:
    """The backend eval.backend names, on the policy, for the duration of the block; in a launch of several
    processes, each generates its share of the prompts (lenbench.eval.shares)."""
    rank, processes = launch_size()
    if cfg.backend == "vllm":
        from lenbench.eval.vllm_backend import vllm_backend

        with vllm_backend(model, tokenizer, cfg, seed, model_dir, trust_remote_code) as backend:
            yield SharedBackend(backend, rank, processes) if processes > 1 else backend
    else:
        backend = TransformersBackend(model, tokenizer, cfg.batch_size, cfg.decode_loop)
        yield SharedBackend(backend, rank, processes) if processes > 1 else backend


def evaluate(
    model,
    tokenizer,
    data: Dataset,
    grader: str | Grader,
    cfg: EvalConfig,
    max_new_tokens: int,
    seed: int,
    *,
    model_dir: Path | None = None,
    trust_remote_code: bool = False,
) -> EvalResult:
    """Generate, grade and summarize on `data`. `model_dir`/`trust_remote_code`: vLLM backend only
    (the policy's directory when the model is unchanged from it; None saves the model for vLLM).
    Thinking and answer tokens are split at the grader's think-close marker (model.think_close)."""
    prompts = list(data["prompt"])
    rank, processes = launch_size()
    torch.manual_seed(process_seed(seed, rank) if processes > 1 else seed)
    sampled_settings = Sampling(cfg.samples_per_problem, True, cfg.temperature, cfg.top_p, max_new_tokens)
    greedy_settings = Sampling(1, False, 1.0, cfg.top_p, max_new_tokens)
    started = time.perf_counter()
    with open_backend(model, tokenizer, cfg, seed, model_dir, trust_remote_code) as backend:
        sampled = backend.generate(prompts, sampled_settings, f"eval: {cfg.samples_per_problem} samples/problem")
        greedy = backend.generate(prompts, greedy_settings, "eval: greedy") if cfg.greedy else None
    seconds = time.perf_counter() - started
    generated = sum(c.tokens for per_problem in [*sampled, *(greedy or [])] for c in per_problem)
    rows = graded_rows(data, sampled, "sample", grader)
    if greedy is not None:
        rows += graded_rows(data, greedy, "greedy", grader)
    think_close = getattr(grader, "think_close", None)
    if think_close:
        marker = marker_ids(tokenizer, think_close)
        completions = [c for per_problem in [*sampled, *(greedy or [])] for c in per_problem]  # rows' order
        for row, completion in zip(rows, completions, strict=True):
            row.update(think_counts(completion, marker))
    samples = pd.DataFrame(rows)
    budgets = budget_grid(max_new_tokens, cfg.budget_points)
    by_difficulty = pd.DataFrame(
        [{"difficulty": k, **summarize(group), **budget_summary(group, budgets, curve=False)}
         for k, group in samples.groupby("difficulty")]
    )
    return EvalResult(samples, by_difficulty, {**summarize(samples), **budget_summary(samples, budgets)},
                      {"seconds": seconds, "tokens_per_second": generated / seconds if seconds > 0 else 0.0})
