"""Held-out evaluation: generation behind one backend protocol, grading, metrics.

    backend.py               the protocol every backend meets (Sampling, Completion, Backend)
    transformers_backend.py  `model.generate`, CPU or GPU, batched over left-padded prompts
    vllm_backend.py          vLLM (its GPU wheel or its CPU build, lenbench.vllm_runtime; vllm imported lazily)
    grade.py                 one graded row per completion
    summary.py               the headline metrics of a table of graded completions
    budgets.py               budget curve and area, tokens by outcome, thinking/answer tokens
    evaluate.py              generate -> grade -> summarize, on the backend eval.backend names

No backend imports another; only evaluate.py chooses between them.
"""

from lenbench.eval.evaluate import EvalResult, evaluate

__all__ = ["EvalResult", "evaluate"]
