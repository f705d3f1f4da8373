"""Evaluation generation with transformers' `model.generate` (CPU or GPU).

Prompts are tokenized by the policy's tokenizer without special tokens, left-padded, and generated
`batch_size` prompts at a time; a continuation ends at its first EOS (padding after it ignored).
"""

from __future__ import annotations

import torch
from tqdm.auto import tqdm

from lenbench.data.prompts import encode_prompts
from lenbench.eval.backend import Completion, Sampling


def completion_length(ids: list[int], eos_ids: set[int], max_new_tokens: int) -> tuple[int, bool]:
    """(tokens incl. EOS, truncated) of one generated continuation (padding after EOS ignored)."""
    for position, token in enumerate(ids):
        if token in eos_ids:
            return position + 1, False
    return max_new_tokens, True


class TransformersBackend:
    """The policy in memory, generating `batch_size` prompts per `generate` call."""

    def __init__(self, model, tokenizer, batch_size: int):
        self.model, self.tokenizer, self.batch_size = model, tokenizer, batch_size

    @torch.no_grad()
    def generate(self, prompts: list[str], sampling: Sampling, desc: str) -> list[list[Completion]]:
        model, tokenizer, n = self.model, self.tokenizer, sampling.num_samples
        model.eval()
        eos_ids = {tokenizer.eos_token_id}
        decoding = {"temperature": sampling.temperature, "top_p": sampling.top_p} if sampling.do_sample else {}
        results: list[list[Completion]] = []
        for start in tqdm(range(0, len(prompts), self.batch_size), desc=desc, unit="batch"):
            chunk = prompts[start : start + self.batch_size]
            ids = encode_prompts(tokenizer, chunk)
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
            for index in range(len(chunk)):
                row = []
                for ids in generated[index * n : (index + 1) * n]:
                    tokens, truncated = completion_length(ids, eos_ids, sampling.max_new_tokens)
                    kept = ids[:tokens]
                    row.append(Completion(tokenizer.decode(kept, skip_special_tokens=True), tokens, truncated,
                                          tuple(kept)))
                results.append(row)
        return results
