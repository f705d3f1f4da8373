"""IAPO recipe: GRPO with token-level advantages shaped by an information score and policy entropy.

The engine's `after_rewards` hook records which rollouts are correct; `after_scoring` (after TRL
has computed the sequence advantages A_i) runs one no-grad forward for the policy entropies, the
probes for the information score, and replaces `advantages` with the (batch, tokens) tensor that
TRL's loss accepts. The maths is in lenbench.methods.iapo, the probes in lenbench.train.iapo_probe,
the entropies are TRL's `entropy_from_logits`.
"""

from __future__ import annotations

import statistics
import time

import torch
from trl.models.utils import disable_gradient_checkpointing
from trl.trainer.utils import entropy_from_logits

from lenbench.config import ModelConfig
from lenbench.errors import ConfigError
from lenbench.methods.iapo import (
    IAPOMethodConfig,
    information_gains,
    smooth_scores,
    token_advantages,
)
from lenbench.train.distributed import local_slice
from lenbench.train.iapo_probe import probe_uncertainty
from lenbench.train.recipes import GRPORecipe


def probe_suffix(method: IAPOMethodConfig, model_suffix: str = ModelConfig.answer_suffix) -> tuple[str, str]:
    """(the probes' answer-forcing text, the setting it comes from): method.answer_suffix when set, else
    the model's (model.answer_suffix)."""
    if method.answer_suffix is not None:
        return method.answer_suffix, "method.answer_suffix"
    return model_suffix, "model.answer_suffix"


def suffix_ids(tokenizer, suffix: str, field: str = "method.answer_suffix") -> list[int]:
    """The answer-forcing suffix as token ids; a ConfigError naming `field` if the tokenizer cannot encode it."""
    ids = tokenizer.encode(suffix, add_special_tokens=False)
    unknown = tokenizer.unk_token_id
    if not ids or (unknown is not None and unknown in ids):
        raise ConfigError(
            f"{field}={suffix!r} cannot be encoded by this model's tokenizer (ids {ids}, unknown "
            f"token id {unknown}); use the text the model writes before its final answer"
        )
    return ids


def policy_entropies(model, batch: dict, temperature: float, logits_per_pass: int | None = None) -> torch.Tensor:
    """Next-token entropy (B, T) of the policy at each completion position (no grad), computed on as many
    rollouts per pass as keep the logits within `logits_per_pass` (None: all at once). When one rollout's
    logits alone exceed it (a 16k-token rollout over a 151,936-token vocabulary: 10 GB of float32), the
    rollouts go one at a time, in chunks of positions that continue a KV cache (chunked prefill)."""
    ids = torch.cat([batch["prompt_ids"], batch["completion_ids"]], dim=1)
    mask = torch.cat([batch["prompt_mask"], batch["completion_mask"]], dim=1)
    positions = (mask.cumsum(dim=1) - 1).clamp(min=0)
    width = batch["completion_ids"].shape[1]
    rows, chunk = ids.shape[0], ids.shape[1]
    if logits_per_pass is not None:
        vocabulary = model.get_output_embeddings().weight.shape[0]
        rows = max(1, logits_per_pass // ((width + 1) * vocabulary))
        if logits_per_pass < (width + 1) * vocabulary:
            chunk = max(1, logits_per_pass // vocabulary)
    parts = []
    with torch.no_grad():
        for start in range(0, ids.shape[0], rows):
            part = slice(start, start + rows)
            parts.append(_entropies_of(model, ids[part], mask[part], positions[part], width, temperature, chunk))
    return torch.cat(parts)


def _entropies_of(model, ids, mask, positions, width: int, temperature: float, chunk: int) -> torch.Tensor:
    """policy_entropies of a few rollouts, `chunk` positions per forward (one forward when chunk covers
    them all); logits only at the positions that predict a completion token."""
    total = ids.shape[1]
    first, last = total - width - 1, total - 1  # positions whose logits predict completion tokens
    cache, parts = None, []
    for low in range(0, total, chunk):
        high = min(total, low + chunk)
        read = range(max(low, first) - low, min(high, last) - low)
        chunked = {"past_key_values": cache, "use_cache": True} if chunk < total else {}
        out = model(input_ids=ids[:, low:high], attention_mask=mask[:, :high], position_ids=positions[:, low:high],
                    logits_to_keep=torch.arange(read.start, read.stop, device=ids.device) if read else 1, **chunked)
        cache = out.past_key_values if chunked else None
        if read:
            parts.append(entropy_from_logits((out.logits / temperature).float()))  # TRL's, in float32
        del out
    return torch.cat(parts, dim=1)


class IAPOHooks:
    """Engine hooks: correctness from the rewards, token-level advantages after scoring."""

    def __init__(self, method: IAPOMethodConfig, tokenizer, model_suffix: str = ModelConfig.answer_suffix):
        self.method = method
        self.suffix = suffix_ids(tokenizer, *probe_suffix(method, model_suffix))
        self.eos_ids = {tokenizer.eos_token_id} if tokenizer.eos_token_id is not None else set()
        self.correct: torch.Tensor | None = None
        self._last_end: float | None = None
        self.scored_fraction = 0.0
        """Share of the last batch's rollouts that got an information score."""

    def after_rewards(self, trainer, rewards_per_func, inputs, completion_ids):
        """Correctness of this process's rollouts (TRL gathered the rewards of every process)."""
        self.correct = rewards_per_func[local_slice(trainer, len(inputs)), 0] > 0
        return rewards_per_func

    def scores(self, model, batch: dict, entropies: torch.Tensor) -> torch.Tensor:
        """Smoothed information scores s (B, T) by the configured estimator."""
        m, mask = self.method, batch["completion_mask"]
        lengths = mask.sum(dim=1).tolist()
        if m.estimator == "next_token":
            probed = [[(t, h) for t, h in enumerate(row[:n].tolist())] + [(n, 0.0)]
                      for row, n in zip(entropies, lengths, strict=True)]
        else:
            prompts = [ids[keep.bool()].tolist() for ids, keep in zip(batch["prompt_ids"], batch["prompt_mask"],
                                                                       strict=True)]
            completions = [ids[:n].tolist() for ids, n in zip(batch["completion_ids"], lengths, strict=True)]
            probed = probe_uncertainty(model, prompts, completions, self.suffix, m.estimator, stride=m.stride,
                                       probe_batch=m.probe_batch, eos_ids=self.eos_ids)
        self.scored_fraction = sum(1 for pairs in probed if pairs) / max(1, len(probed))
        gains = torch.zeros_like(entropies)
        for row, (pairs, n) in enumerate(zip(probed, lengths, strict=True)):
            if pairs:
                gains[row, :n] = torch.tensor(information_gains(pairs, n), dtype=gains.dtype)
        return smooth_scores(gains, m.decay, mask)

    def probe(self, model, batch: dict, temperature: float, checkpointing_kwargs: dict | None = None):
        """(policy entropies, information scores), both (B, T) and zero at padding, without gradients.

        Gradient checkpointing is switched off meanwhile, as TRL does around its own no-grad passes:
        in train mode checkpointed layers return no KV cache, which the probes' second pass reads.
        """
        with torch.no_grad(), disable_gradient_checkpointing(model, checkpointing_kwargs):
            entropies = policy_entropies(model, batch, temperature, self.method.logits_per_pass)
            entropies = entropies * batch["completion_mask"]
            return entropies, self.scores(model, batch, entropies)

    def after_scoring(self, trainer, batch, inputs):
        m = self.method
        start = time.perf_counter()
        model = trainer.accelerator.unwrap_model(trainer.model)
        mask = batch["completion_mask"]
        entropies, scores = self.probe(model, batch, trainer.temperature, trainer.args.gradient_checkpointing_kwargs)
        if self.correct is None or self.correct.shape[0] != mask.shape[0]:
            raise RuntimeError(f"IAPO: {mask.shape[0]} rollouts scored but correctness recorded for "
                               f"{None if self.correct is None else self.correct.shape[0]}")
        correct = self.correct.to(mask.device)
        batch["advantages"] = token_advantages(batch["advantages"], scores, entropies, mask, correct,
                                               m.score_weight, m.entropy_weight, m.sqrt_length_scale, m.eps)
        end = time.perf_counter()
        self._log(trainer, scores, mask, correct, end - start, end)
        return batch

    def _log(self, trainer, scores, mask, correct, probe_seconds: float, now: float) -> None:
        for name, rows in (("correct", correct), ("wrong", ~correct)):
            values = scores[rows][mask[rows].bool()].tolist()
            if len(values) >= 2:
                trainer.log_hook_metric(f"iapo/score_mean_{name}", statistics.mean(values))
                trainer.log_hook_metric(f"iapo/score_std_{name}", statistics.stdev(values))
        trainer.log_hook_metric("iapo/probe_seconds", probe_seconds)
        # rollouts with an information score (answer_logprob scores only those that wrote the answer suffix)
        trainer.log_hook_metric("iapo/scored_fraction", self.scored_fraction)
        if self._last_end is not None:
            trainer.log_hook_metric("iapo/probe_share", probe_seconds / (now - self._last_end))
        self._last_end = now


class IAPORecipe(GRPORecipe):
    """IAPO: one GRPO run with the correctness reward (its registry entry) and token-level advantages."""

    def check_inputs(self) -> None:
        from lenbench.models import policy_tokenizer

        suffix_ids(policy_tokenizer(self.run), *probe_suffix(self.run.method, self.run.model.answer_suffix))

    def hooks(self, tokenizer):
        return IAPOHooks(self.run.method, tokenizer, self.run.model.answer_suffix)
