"""Grading calls of an evaluation: one row per completion, with its verdict and why."""

from __future__ import annotations

from datasets import Dataset

from lenbench.eval.backend import Completion
from lenbench.grading import Grader, judge


def graded_rows(data: Dataset, completions: list[list[Completion]], decoding: str, grader: str | Grader) -> list[dict]:
    """One row per completion of `data`'s problems (in order): problem_id, difficulty, answer (gold),
    oracle_length, decoding, sample, completion, tokens, truncated, extracted, reason, correct."""
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
