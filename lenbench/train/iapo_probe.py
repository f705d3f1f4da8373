"""IAPO probes: the policy's uncertainty about the answer after each prefix of a rollout.

For rollout i and prefix length t the probe sequence is prompt_i + o_i[:t] + answer-forcing suffix
(+ the rollout's own answer for `answer_logprob`). Probe sequences are built unpadded, then batched
`probe_batch` at a time with left padding, an attention mask and position ids counted from the first
real token, so every probe sees exactly what an unpadded forward pass would. No gradients.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from lenbench.methods.iapo import entropy_from_logits, probe_positions


def find_answer(completion: Sequence[int], suffix: Sequence[int], eos_ids: set[int]) -> list[int] | None:
    """The rollout's own answer tokens: what follows the last answer-forcing suffix, EOS excluded."""
    n = len(suffix)
    for start in range(len(completion) - n, -1, -1):
        if list(completion[start : start + n]) == list(suffix):
            answer = [tok for tok in completion[start + n :] if tok not in eos_ids]
            return answer or None
    return None


def _forward_last(model, sequences: list[list[int]], pad_id: int, keep: int) -> torch.Tensor:
    """Logits of the last `keep` positions of each sequence (left-padded batch), shape (N, keep, V)."""
    width = max(len(s) for s in sequences)
    device = next(model.parameters()).device
    ids = torch.full((len(sequences), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(sequences), width), dtype=torch.long)
    for row, seq in enumerate(sequences):
        ids[row, width - len(seq) :] = torch.tensor(seq, dtype=torch.long)
        mask[row, width - len(seq) :] = 1
    positions = (mask.cumsum(dim=1) - 1).clamp(min=0)
    with torch.no_grad():
        logits = model(input_ids=ids.to(device), attention_mask=mask.to(device),
                       position_ids=positions.to(device), logits_to_keep=keep).logits
    return logits[:, -keep:].float()


def probe_uncertainty(
    model,
    prompts: Sequence[Sequence[int]],
    completions: Sequence[Sequence[int]],
    suffix: Sequence[int],
    estimator: str,
    *,
    stride: int = 1,
    probe_batch: int = 256,
    pad_id: int = 0,
    eos_ids: set[int] = frozenset(),
) -> list[list[tuple[int, float]]]:
    """(prefix length, uncertainty U) at each probed prefix of each rollout.

    `early_exit`: U = entropy of the first answer token after prefix + suffix.
    `answer_logprob`: U = -log p(own answer tokens | prefix + suffix); a rollout with no answer
    gets [] (no score). Prompts and completions are unpadded token lists.
    """
    jobs: list[tuple[int, int, list[int], list[int]]] = []  # (row, prefix length, sequence, answer scored)
    for row, (prompt, completion) in enumerate(zip(prompts, completions, strict=True)):
        answer: list[int] = []
        if estimator == "answer_logprob":
            answer = find_answer(completion, suffix, eos_ids) or []
            if not answer:
                continue
        for t in probe_positions(len(completion), stride):
            jobs.append((row, t, list(prompt) + list(completion[:t]) + list(suffix) + answer[:-1], answer))
    results: list[list[tuple[int, float]]] = [[] for _ in prompts]
    for start in range(0, len(jobs), probe_batch):
        chunk = jobs[start : start + probe_batch]
        keep = max(1, max(len(answer) for *_, answer in chunk))
        logits = _forward_last(model, [seq for _, _, seq, _ in chunk], pad_id, keep)
        for (row, t, _, answer), row_logits in zip(chunk, logits, strict=True):
            if estimator == "early_exit":
                value = entropy_from_logits(row_logits[-1]).item()
            else:
                logp = torch.log_softmax(row_logits[keep - len(answer) :], dim=-1)
                value = -logp.gather(1, torch.tensor(answer).unsqueeze(1).to(logp.device)).sum().item()
            results[row].append((t, value))
    return results
