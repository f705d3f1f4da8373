"""Evaluation generation with transformers' `model.generate` (CPU or GPU).

Prompts are tokenized by the policy's tokenizer without special tokens, left-padded, and generated
`batch_size` prompts at a time; a continuation ends at its first EOS (padding after it ignored).
With `decode_loop` (eval.decode_loop) the loop of lenbench.decoding decodes instead of `generate`:
a finished completion leaves the batch.
"""

from __future__ import annotations

import torch
from tqdm.auto import tqdm

from lenbench.data.prompts import encode_prompts
from lenbench.decoding import decode
from lenbench.eval.backend import Completion, Sampling


def completion_length(ids: list[int], eos_ids: set[int], max_new_tokens: int) -> tuple[int, bool]:
    """(tokens incl. EOS, truncated) of one generated continuation (padding after EOS ignored)."""
    for position, token in enumerate(ids):
        if token in eos_ids:
            return position + 1, False
    return max_new_tokens, True


class TransformersBackend:
    """The policy in memory, generating `batch_size` prompts per `generate` call."""

    def __init__(self, model, tokenizer, batch_size: int, decode_loop: bool = False):
        self.model, self.tokenizer, self.batch_size, self.decode_loop = model, tokenizer, batch_size, decode_loop

    @torch.no_grad()
    def generate(self, prompts: list[str], sampling: Sampling, desc: str) -> list[list[Completion]]:
        tokenizer = self.tokenizer
        self.model.eval()
        eos_ids = {tokenizer.eos_token_id}
        results: list[list[Completion]] = []
        for start in tqdm(range(0, len(prompts), self.batch_size), desc=desc, unit="batch"):
            for row in self._continuations(encode_prompts(tokenizer, prompts[start : start + self.batch_size]),
                                           sampling, eos_ids):
                results.append([self._completion(ids, eos_ids, sampling.max_new_tokens) for ids in row])
        return results

    def _continuations(self, ids: list[list[int]], sampling: Sampling, eos_ids: set[int]) -> list[list[list[int]]]:
        """`sampling.num_samples` generated token lists per prompt (padding after an EOS included with generate)."""
        model, tokenizer, n = self.model, self.tokenizer, sampling.num_samples
        if self.decode_loop:
            return decode(model, ids, num_samples=n, do_sample=sampling.do_sample, temperature=sampling.temperature,
                          top_p=sampling.top_p, max_new_tokens=sampling.max_new_tokens, eos_ids=eos_ids,
                          pad_id=tokenizer.pad_token_id)
        decoding = {"temperature": sampling.temperature, "top_p": sampling.top_p} if sampling.do_sample else {}
        encoded = tokenizer.pad({"input_ids": ids}, return_tensors="pt").to(model.device)
        output = model.generate(
            **encoded,
            do_sample=sampling.do_sample,
            num_return_sequences=n,
            max_new_tokens=sampling.max_new_tokens,
            pad_token_id=tokenizer.pad_token_id,
            eos_token_id=tokenizer.eos_token_id,
            **decoding,
        )
        generated = output[:, encoded["input_ids"].shape[1] :].tolist()
        return [generated[index * n : (index + 1) * n] for index in range(len(ids))]

    def _completion(self, ids: list[int], eos_ids: set[int], max_new_tokens: int) -> Completion:
        tokens, truncated = completion_length(ids, eos_ids, max_new_tokens)
        kept = ids[:tokens]
        return Completion(self.tokenizer.decode(kept, skip_special_tokens=True), tokens, truncated, tuple(kept))
