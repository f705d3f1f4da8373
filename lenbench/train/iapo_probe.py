"""IAPO probes: the policy's uncertainty about the answer after each prefix of a rollout.

For rollout i and prefix length t the probe reads prompt_i + o_i[:t] + answer-forcing suffix
(+ the rollout's own answer for `answer_logprob`). The rollouts are run once with a KV cache; all
probes then run as blocks of queries per rollout against that cache, each masked to its prefix
with position ids continuing from it, so every probe sees exactly what an unpadded forward of its
sequence would. Memory is bounded by `probe_batch` probes per pass (a long rollout's probes take
several passes, the cache cropped back between them) and by logits kept only where they are read.
No gradients.
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


def _rollout_cache(model, sequences: list[list[int]]):
    """(KV cache of the rollouts, right-padded to their longest, width): one forward whose logits are kept
    at one position only (`logits_to_keep=1`), not over every token of every rollout (16k-token rollouts x
    a 151,936-token vocabulary would be ~10 GB of float32 per rollout, never read)."""
    device = next(model.parameters()).device
    rows, width = len(sequences), max(len(seq) for seq in sequences)
    ids = torch.zeros(rows, width, dtype=torch.long)
    keep = torch.zeros(rows, width, dtype=torch.long)
    for row, seq in enumerate(sequences):
        ids[row, : len(seq)] = torch.tensor(seq, dtype=torch.long)
        keep[row, : len(seq)] = 1
    with torch.no_grad():
        out = model(input_ids=ids.to(device), attention_mask=keep.to(device), use_cache=True, logits_to_keep=1)
    return out.past_key_values, width


def _probe_pass(model, cache, width: int, prefix_ends: list[list[int]], tails: list[list[int]],
                first_read: list[int]) -> list[torch.Tensor]:
    """Logits of a few probes per rollout against the rollouts' cache, at the tail offsets that are read.

    Each rollout's probes are fed one tail after the other as a single block of queries, with a 4D
    attention mask: a query of probe j sees the cached positions before its prefix end e_j and the
    earlier tokens of its own tail, nothing else; its position id is e_j + offset in the tail. So each
    probe computes what an unpadded forward of sequence[:e_j] + tail would. Logits are produced only
    at offsets first_read[row] ... len(tail) - 1 of each probe (`logits_to_keep`), and the queries are
    cropped from the cache afterwards, so the next pass sees the rollouts alone. Returns, per rollout,
    float32 logits (probes * read offsets, vocab), probe by probe.
    """
    device = next(model.parameters()).device
    rows = len(tails)
    queries = max(1, max(len(ends) * len(tail) for ends, tail in zip(prefix_ends, tails, strict=True)))
    query_ids = torch.zeros(rows, queries, dtype=torch.long)
    positions = torch.zeros(rows, queries, dtype=torch.long)
    allowed = torch.zeros(rows, queries, width + queries, dtype=torch.bool)
    allowed[:, :, 0] = True  # padding queries see one key (their output is never read; avoids NaN rows)
    reads = []
    for row, (ends, tail) in enumerate(zip(prefix_ends, tails, strict=True)):
        length = len(tail)
        for j, end in enumerate(ends):
            block = slice(j * length, (j + 1) * length)
            query_ids[row, block] = torch.tensor(tail, dtype=torch.long)
            positions[row, block] = end + torch.arange(length)
            allowed[row, block, :end] = True
            allowed[row, block, width + j * length : width + (j + 1) * length] = torch.tril(
                torch.ones(length, length, dtype=torch.bool))
        reads.append([j * length + offset for j in range(len(ends)) for offset in range(first_read[row], length)])
    kept = sorted(set().union(*reads)) or [0]
    where = {query: slot for slot, query in enumerate(kept)}
    with torch.no_grad():
        logits = model(input_ids=query_ids.to(device), attention_mask=attention_mask(model, allowed).to(device),
                       position_ids=positions.to(device), past_key_values=cache, use_cache=True,
                       logits_to_keep=torch.tensor(kept, device=device)).logits
    cache.crop(-queries)
    return [logits[row, torch.tensor([where[q] for q in read], dtype=torch.long, device=logits.device)].float()
            for row, read in enumerate(reads)]


def attention_mask(model, allowed: torch.Tensor) -> torch.Tensor:
    """A 4D mask (rows, 1, queries, keys) from `allowed`, as the model's attention takes it: boolean for SDPA
    (whatever dtype autocast computes in), additive float32 (0 or the most negative float) otherwise."""
    if getattr(model.config, "_attn_implementation", None) == "sdpa":
        return allowed.unsqueeze(1)
    return torch.zeros(allowed.shape).masked_fill(~allowed, torch.finfo(torch.float32).min).unsqueeze(1)


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
    groups of at most `probe_batch` probes (at least one rollout per group): one pass builds the group's
    cache, then passes of at most `probe_batch` probes (split evenly over the group's rollouts) read it.
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
        ends = [[len(prompts[r]) + t for t in ts] for r, ts in zip(group, probed, strict=True)]
        # logits are read at the tail's last token (early exit), or wherever it predicts an answer token
        first_read = [len(tail) - 1 if estimator == "early_exit" else len(suffix) - 1 for tail in tails]
        cache, width = _rollout_cache(model, [list(prompts[r]) + list(completions[r]) for r in group])
        per_pass = max(1, probe_batch // len(group))  # a rollout with more probes than that: several passes
        values: list[list[float]] = [[] for _ in group]
        for low in range(0, max(len(ts) for ts in probed), per_pass):
            chunk = [each[low : low + per_pass] for each in ends]
            for slot, logits in enumerate(_probe_pass(model, cache, width, chunk, tails, first_read)):
                count = len(chunk[slot])
                if not count:
                    continue
                if estimator == "early_exit":
                    values[slot] += entropy_from_logits(logits).tolist()
                else:
                    answer = answers[group[slot]]
                    logp = torch.log_softmax(logits, dim=-1).view(count, len(answer), -1)
                    target = torch.tensor(answer, device=logp.device).expand(count, -1).unsqueeze(-1)
                    values[slot] += (-logp.gather(2, target).squeeze(-1).sum(dim=1)).tolist()
        del cache
        for slot, (row, ts) in enumerate(zip(group, probed, strict=True)):
            results[row] = list(zip(ts, values[slot], strict=True))
    return results
