"""Held-out evaluation: generate, grade, and compute the metrics of shared/docs/methods.md.

Backends (eval.backend): `transformers` `generate` (CPU or GPU), batched over left-padded
prompts; `vllm` (GPU only, lenbench.evaluate_vllm), returning the same completions.
Per problem: `samples_per_problem` sampled completions (pass@1 as avg@k) and, optionally,
one greedy completion. Completion tokens include the EOS token; a completion that never emits
EOS is truncated and counts as `max_new_tokens` long.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import pandas as pd
import torch
from datasets import Dataset
from tqdm.auto import tqdm

from lenbench.config import EvalConfig
from lenbench.grading import Grader, judge
from lenbench.metrics import oracle_ratio, pass_at_1, token_stats


@dataclass
class Completion:
    text: str
    tokens: int
    truncated: bool


@dataclass
class EvalResult:
    samples: pd.DataFrame
    """One row per completion: problem_id, difficulty, answer (gold), decoding, sample, completion, tokens,
    truncated, extracted (the answer read from the completion, empty when none), reason (why it graded
    as it did: lenbench.grading.REASONS), correct."""
    by_difficulty: pd.DataFrame
    """One row per difficulty level."""
    summary: dict[str, float]
    """Headline metrics (accuracy = pass@1 over sampled completions, tokens_mean, ...)."""


def completion_length(ids: list[int], eos_ids: set[int], max_new_tokens: int) -> tuple[int, bool]:
    """(tokens incl. EOS, truncated) of one generated continuation (padding after EOS ignored)."""
    for position, token in enumerate(ids):
        if token in eos_ids:
            return position + 1, False
    return max_new_tokens, True


@torch.no_grad()
def generate(
    model,
    tokenizer,
    prompts: list[str],
    *,
    num_samples: int,
    do_sample: bool,
    temperature: float,
    top_p: float,
    max_new_tokens: int,
    batch_size: int,
    desc: str,
) -> list[list[Completion]]:
    """`num_samples` completions for each prompt, in prompt order."""
    model.eval()
    eos_ids = {tokenizer.eos_token_id}
    results: list[list[Completion]] = []
    for start in tqdm(range(0, len(prompts), batch_size), desc=desc, unit="batch"):
        chunk = prompts[start : start + batch_size]
        encoded = tokenizer(chunk, return_tensors="pt", padding=True, add_special_tokens=False).to(model.device)
        sampling = {"temperature": temperature, "top_p": top_p} if do_sample else {}
        output = model.generate(
            **encoded,
            do_sample=do_sample,
            num_return_sequences=num_samples,
            max_new_tokens=max_new_tokens,
            pad_token_id=tokenizer.pad_token_id,
            eos_token_id=tokenizer.eos_token_id,
            **sampling,
        )
        generated = output[:, encoded["input_ids"].shape[1] :].tolist()
        for index in range(len(chunk)):
            row = []
            for ids in generated[index * num_samples : (index + 1) * num_samples]:
                tokens, truncated = completion_length(ids, eos_ids, max_new_tokens)
                text = tokenizer.decode(ids[:tokens], skip_special_tokens=True)
                row.append(Completion(text, tokens, truncated))
            results.append(row)
    return results


def _decode_rows(data: Dataset, completions: list[list[Completion]], decoding: str, grader: str | Grader) -> list[dict]:
    rows = []
    for item, samples in zip(data, completions, strict=True):
        for sample_index, completion in enumerate(samples):
            verdict = judge(completion.text, item.get("alternatives") or item["answer"], grader,
                            unit=item.get("unit") or "")
            rows.append(
                {
                    "problem_id": item["problem_id"],
                    "difficulty": item["difficulty"],
                    "answer": item["answer"],
                    "oracle_length": item.get("oracle_length"),
                    "decoding": decoding,
                    "sample": sample_index,
                    "completion": completion.text,
                    "tokens": completion.tokens,
                    "truncated": completion.truncated,
                    "extracted": verdict.answer or "",
                    "reason": verdict.reason,
                    "correct": verdict.correct,
                }
            )
    return rows


def summarize(samples: pd.DataFrame) -> dict[str, float]:
    """Headline metrics of one group of completions (all problems, or one difficulty)."""
    sampled = samples[samples.decoding == "sample"]
    summary = {
        "accuracy": pass_at_1([group.correct.tolist() for _, group in sampled.groupby("problem_id", sort=False)]),
        **token_stats(sampled.tokens.tolist(), sampled.truncated.tolist()),
        "problems": float(sampled.problem_id.nunique()),
    }
    if sampled.oracle_length.notna().all():
        summary["oracle_ratio"] = oracle_ratio(sampled.tokens.tolist(), sampled.oracle_length.tolist())
    greedy = samples[samples.decoding == "greedy"]
    if len(greedy):
        summary["greedy_accuracy"] = float(greedy.correct.mean())
        summary["greedy_tokens_mean"] = float(greedy.tokens.mean())
    return summary


@contextmanager
def generator(
    model, tokenizer, cfg: EvalConfig, seed: int, model_dir: Path | None = None, trust_remote_code: bool = False
) -> Iterator:
    """`generate` of the configured backend, bound to the policy (prompts and decoding settings left)."""
    if cfg.backend == "vllm":
        from lenbench.evaluate_vllm import vllm_generator

        with vllm_generator(model, tokenizer, cfg, seed, model_dir, trust_remote_code) as generate_fn:
            yield generate_fn
    else:
        yield partial(generate, model, tokenizer, batch_size=cfg.batch_size)


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
    (the policy's directory when the model is unchanged from it; None saves the model for vLLM)."""
    prompts = list(data["prompt"])
    torch.manual_seed(seed)
    shared = {"max_new_tokens": max_new_tokens, "top_p": cfg.top_p}
    with generator(model, tokenizer, cfg, seed, model_dir, trust_remote_code) as generate_fn:
        sampled = generate_fn(
            prompts, num_samples=cfg.samples_per_problem, do_sample=True,
            temperature=cfg.temperature, desc=f"eval: {cfg.samples_per_problem} samples/problem", **shared,
        )
        greedy = (
            generate_fn(prompts, num_samples=1, do_sample=False, temperature=1.0, desc="eval: greedy", **shared)
            if cfg.greedy
            else None
        )
    rows = _decode_rows(data, sampled, "sample", grader)
    if greedy is not None:
        rows += _decode_rows(data, greedy, "greedy", grader)
    samples = pd.DataFrame(rows)
    by_difficulty = pd.DataFrame(
        [{"difficulty": k, **summarize(group)} for k, group in samples.groupby("difficulty")]
    )
    return EvalResult(samples, by_difficulty, summarize(samples))
