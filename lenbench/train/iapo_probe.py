"""IAPO probes: the policy's uncertainty about the answer after each prefix of a rollout.

For rollout i and prefix length t the probe reads prompt_i + o_i[:t] + answer-forcing suffix
(+ the rollout's own answer for `answer_logprob`). The rollouts are run once with a KV cache; all
probes then run as one block of queries per rollout against that cache, each masked to its
prefix with position ids continuing from it, so every probe sees exactly what an unpadded forward
of its sequence would. Memory is bounded by `probe_batch` probes per pass. No gradients.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from trl.trainer.utils import entropy_from_logits

from lenbench.methods.iapo import probe_positions


def find_answer(completion: Sequence[int], suffix: Sequence[int], eos_ids: set[int]) -> list[int] | None:
    """The rollout's own answer tokens: what follows the last answer-forcing suffix, EOS excluded."""
    n = len(suffix)
    for start in range(len(completion) - n, -1, -1):
        if list(completion[start : start + n]) == list(suffix):
            answer = [tok for tok in completion[start + n :] if tok not in eos_ids]
            return answer or None
    return None


def _probe_rows(model, sequences: list[list[int]], prefix_ends: list[list[int]], tails: list[list[int]]):
    """Logits of every probe of a few rollouts, in two forward passes and without copying any cache.

    Pass 1 runs the rollouts (right-padded) with a KV cache. Pass 2 feeds, per rollout, all its
    probes' tails one after the other as a single block of queries, with a 4D attention mask: a
    query of probe j sees the cached positions before its prefix end e_j and the earlier tokens of
    its own tail, nothing else; its position id is e_j + offset in the tail. So each probe computes
    what an unpadded forward of sequence[:e_j] + tail would. Returns logits (rows, queries, vocab),
    probe j's tail at queries [j * len(tail), (j + 1) * len(tail)).
    """
    device = next(model.parameters()).device
    rows, width = len(sequences), max(len(seq) for seq in sequences)
    ids = torch.zeros(rows, width, dtype=torch.long)
    keep = torch.zeros(rows, width, dtype=torch.long)
    for row, seq in enumerate(sequences):
        ids[row, : len(seq)] = torch.tensor(seq, dtype=torch.long)
        keep[row, : len(seq)] = 1
    with torch.no_grad():
        cache = model(input_ids=ids.to(device), attention_mask=keep.to(device), use_cache=True).past_key_values
    queries = max(len(ends) * len(tail) for ends, tail in zip(prefix_ends, tails, strict=True))
    query_ids = torch.zeros(rows, queries, dtype=torch.long)
    positions = torch.zeros(rows, queries, dtype=torch.long)
    allowed = torch.zeros(rows, queries, width + queries, dtype=torch.bool)
    allowed[:, :, 0] = True  # padding queries see one key (their output is never read; avoids NaN rows)
    for row, (ends, tail) in enumerate(zip(prefix_ends, tails, strict=True)):
        length = len(tail)
        for j, end in enumerate(ends):
            block = slice(j * length, (j + 1) * length)
            query_ids[row, block] = torch.tensor(tail, dtype=torch.long)
            positions[row, block] = end + torch.arange(length)
            allowed[row, block, :end] = True
            allowed[row, block, width + j * length : width + (j + 1) * length] = torch.tril(
                torch.ones(length, length, dtype=torch.bool))
    dtype = next(model.parameters()).dtype
    mask = torch.zeros(allowed.shape, dtype=dtype).masked_fill(~allowed, torch.finfo(dtype).min).unsqueeze(1)
    with torch.no_grad():
        logits = model(input_ids=query_ids.to(device), attention_mask=mask.to(device),
                       position_ids=positions.to(device), past_key_values=cache, use_cache=True).logits
    return logits.float()


def probe_uncertainty(
    model,
    prompts: Sequence[Sequence[int]],
    completions: Sequence[Sequence[int]],
    suffix: Sequence[int],
    estimator: str,
    *,
    stride: int = 1,
    probe_batch: int = 256,
    eos_ids: set[int] = frozenset(),
) -> list[list[tuple[int, float]]]:
    """(prefix length, uncertainty U) at each probed prefix of each rollout.

    `early_exit`: U = entropy of the first answer token after prefix + suffix.
    `answer_logprob`: U = -log p(own answer tokens | prefix + suffix); a rollout with no answer
    gets [] (no score). Prompts and completions are unpadded token lists. Rollouts are probed in
    groups of at most `probe_batch` probes (at least one rollout per group), two passes per group.
    """
    results: list[list[tuple[int, float]]] = [[] for _ in prompts]
    answers = [(find_answer(c, suffix, eos_ids) or []) if estimator == "answer_logprob" else [] for c in completions]
    rows = [r for r in range(len(prompts)) if estimator != "answer_logprob" or answers[r]]
    groups, current, size = [], [], 0
    for row in rows:
        count = len(probe_positions(len(completions[row]), stride))
        if current and size + count > probe_batch:
            groups.append(current)
            current, size = [], 0
        current.append(row)
        size += count
    if current:
        groups.append(current)
    for group in groups:
        probed = [probe_positions(len(completions[r]), stride) for r in group]
        tails = [list(suffix) + answers[r][:-1] for r in group]
        logits = _probe_rows(model, [list(prompts[r]) + list(completions[r]) for r in group],
                             [[len(prompts[r]) + t for t in ts] for r, ts in zip(group, probed, strict=True)], tails)
        device = logits.device  # every index on the logits' device (a GPU's, in training)
        for slot, (row, ts, tail) in enumerate(zip(group, probed, tails, strict=True)):
            length = len(tail)
            starts = torch.arange(len(ts), device=device) * length
            if estimator == "early_exit":
                values = entropy_from_logits(logits[slot, starts + length - 1].float()).tolist()
            else:
                answer = torch.tensor(answers[row], device=device)
                # probe j: query j * length + len(suffix) - 1 + a predicts answer token a
                index = starts.unsqueeze(1) + len(suffix) - 1 + torch.arange(len(answer), device=device).unsqueeze(0)
                logp = torch.log_softmax(logits[slot, index.flatten()], dim=-1)
                picked = logp.gather(1, answer.repeat(len(ts)).unsqueeze(1)).view(len(ts), len(answer))
                values = (-picked.sum(dim=1)).tolist()
            results[row] = list(zip(ts, values, strict=True))
    return results
