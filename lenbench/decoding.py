"""A decode loop whose batch shrinks as its rows finish (candidate for the testbed's generation, issue 27).

transformers' `generate` keeps a finished row in the batch until the longest one ends: with the
testbed's completions (mean ~56 tokens, a few looping to the 160-token cap) most of each decode
forward is spent on rows that are done. Here a row leaves the batch (and the KV cache,
`Cache.batch_select_indices`) at its EOS. Sampling uses transformers' own warpers (temperature, top-k,
top-p, min-p), so each row samples from the distribution `generate` samples from; the random stream differs.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from transformers import (
    DynamicCache,
    LogitsProcessorList,
    MinPLogitsWarper,
    TemperatureLogitsWarper,
    TopKLogitsWarper,
    TopPLogitsWarper,
)


@torch.no_grad()
def decode(
    model,
    prompts: Sequence[Sequence[int]],
    *,
    num_samples: int,
    do_sample: bool,
    temperature: float,
    top_p: float,
    max_new_tokens: int,
    eos_ids: set[int],
    pad_id: int,
    top_k: int = 0,
    min_p: float | None = None,
    generator: torch.Generator | None = None,
) -> list[list[list[int]]]:
    """`num_samples` continuations of each prompt (token ids, EOS included when emitted), in prompt order.
    Sampling applies transformers' warpers in generate's order: temperature, top-k (0: off), top-p, min-p."""
    device = next(model.parameters()).device
    rows = [list(p) for p in prompts for _ in range(num_samples)]
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros(len(rows), width, dtype=torch.long)
    for i, row in enumerate(rows):
        ids[i, width - len(row):] = torch.tensor(row, dtype=torch.long)
        mask[i, width - len(row):] = 1
    ids, mask = ids.to(device), mask.to(device)
    positions = (mask.cumsum(dim=1) - 1).clamp(min=0)
    warpers = None
    if do_sample:
        warpers = LogitsProcessorList([TemperatureLogitsWarper(temperature)])
        if top_k:
            warpers.append(TopKLogitsWarper(top_k))
        if top_p < 1.0:
            warpers.append(TopPLogitsWarper(top_p))
        if min_p:
            warpers.append(MinPLogitsWarper(min_p))
    cache = DynamicCache(config=model.config)
    out = model(input_ids=ids, attention_mask=mask, position_ids=positions, past_key_values=cache, use_cache=True,
                logits_to_keep=1)
    alive = list(range(len(rows)))
    generated: list[list[int]] = [[] for _ in rows]
    position = positions[:, -1]
    for step in range(max_new_tokens):
        logits = out.logits[:, -1, :].float()
        if warpers is not None:
            probs = torch.softmax(warpers(None, logits), dim=-1)
            token = torch.multinomial(probs, 1, generator=generator).squeeze(1)
        else:
            token = logits.argmax(dim=-1)
        keep = []
        for slot, (row, value) in enumerate(zip(alive, token.tolist(), strict=True)):
            generated[row].append(value)
            if value not in eos_ids:
                keep.append(slot)
        if not keep or step == max_new_tokens - 1:
            break
        if len(keep) < len(alive):
            index = torch.tensor(keep, device=device)
            cache.batch_select_indices(index)
            mask, token, position = mask[index], token[index], position[index]
            alive = [alive[slot] for slot in keep]
        mask = torch.cat([mask, mask.new_ones(len(alive), 1)], dim=1)
        position = position + 1
        out = model(input_ids=token.unsqueeze(1), attention_mask=mask, position_ids=position.unsqueeze(1),
                    past_key_values=cache, use_cache=True)
    return [generated[i * num_samples:(i + 1) * num_samples] for i in range(len(prompts))]


SUPPORTED = {"do_sample", "temperature", "top_p", "top_k", "min_p", "max_new_tokens", "eos_token_id", "pad_token_id",
             "bos_token_id", "disable_compile", "cache_implementation"}
"""The GenerationConfig fields `decode_with_config` honours; any other set to a non-default value (a repetition
penalty, generation_kwargs' extras) leaves the decoding to transformers' generate."""


NEUTRAL = {"repetition_penalty": 1.0, "transformers_version": None, "_from_model_config": None}
"""Fields whose value here changes nothing (the penalty 1.0 TRL sets explicitly)."""


def supports(config) -> bool:
    """Whether `decode_with_config` decodes as `generate` would under this GenerationConfig: every field set to a
    non-default value is one the loop honours."""
    from transformers import GenerationConfig

    defaults = GenerationConfig()
    for key, value in config.to_diff_dict().items():
        neutral = key in NEUTRAL and (NEUTRAL[key] is None or value == NEUTRAL[key])
        if key not in SUPPORTED and not neutral and value != getattr(defaults, key, None):
            return False
    return True


def decode_with_config(model, prompts: Sequence[Sequence[int]], config) -> list[list[int]]:
    """One continuation per prompt under a transformers GenerationConfig (TRL's rollouts: the prompts come
    repeated once per generation); `supports(config)` must hold."""
    eos = config.eos_token_id
    eos_ids = set(eos) if isinstance(eos, (list, tuple)) else {eos}
    pad = config.pad_token_id if config.pad_token_id is not None else next(iter(eos_ids))
    out = decode(model, prompts, num_samples=1, do_sample=bool(config.do_sample), temperature=config.temperature or 1.0,
                 top_p=config.top_p if config.top_p is not None else 1.0, top_k=config.top_k or 0,
                 min_p=config.min_p, max_new_tokens=config.max_new_tokens, eos_ids=eos_ids, pad_id=pad)
    return [rows[0] for rows in out]
