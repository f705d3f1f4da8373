"""TRL's colocated vLLM rollouts (trainer.use_vllm, vllm_mode=colocate) on vLLM's CPU build.

TRL pushes the policy's weights into its engine one tensor at a time through the model's
`load_weights`. vLLM's CPU build repacks each linear layer's weight for its GEMM kernels when the
model loads and drops the original parameter, so such a load finds no parameter to write into.
On CPU the push goes through vLLM's own `reload_weights` instead, with all of the policy's tensors
at once: it restores each layer, loads the new weights and repacks them. An output head tied to the
token embeddings (`tie_word_embeddings`, the testbed models and SmolLM2) receives no tensor of its own,
so reload_weights leaves its packed copy of the old values; it is packed again from the embeddings'
new values (without that, measured: 0 of 8 greedy completions matched the updated policy; with it,
8 of 8: tests/test_vllm.py). TRL's engine runs at
vLLM's automatic dtype (bfloat16 for a float32 policy); TRL's importance-sampling correction
(on by default) accounts for the difference between the sampling and the trained policy.

Seeds: a colocated engine runs in the training process and samples from torch's global generators,
and when it starts vLLM reseeds them with TRL's `seed=process_index // tensor_parallel_size`,
replacing the run's seed: every run of a seed sweep would sample from the same random stream.
`reseed_after_engine` seeds them again from the run's seed (one seed per tensor-parallel group, whose
processes must sample alike).
"""

from __future__ import annotations

import types


def sync_weights_by_reload(generation) -> None:
    """TRL VLLMGeneration.sync_weights for a colocated engine on CPU: every weight in one reload."""
    from vllm.model_executor.layers.vocab_parallel_embedding import ParallelLMHead

    runner = generation.llm.llm_engine.model_executor.driver_worker.model_runner
    runner.reload_weights(weights_iterator=generation._iter_named_params())
    for module in runner.get_model().modules():
        if isinstance(module, ParallelLMHead):  # a tied head shares the embeddings' tensor, not their packing
            module.quant_method.process_weights_after_loading(module)
    generation.llm.reset_prefix_cache()


def adapt_colocated_engine(trainer) -> None:
    """Give a GRPO trainer's colocated engine the CPU weight push; nothing for GPU engines or server mode."""
    from lenbench.vllm_runtime import engine_on_cpu

    generation = getattr(trainer, "vllm_generation", None)
    if generation is None or generation.mode != "colocate" or not engine_on_cpu():
        return
    generation.sync_weights = types.MethodType(sync_weights_by_reload, generation)


def reseed_after_engine(trainer) -> int | None:
    """Seed torch's (and Python's, NumPy's) generators from the run's seed after TRL's colocated engine
    started (vLLM reset them to the process index); returns the seed, None without a colocated engine."""
    from transformers import set_seed

    from lenbench.process_group import process_seed

    generation = getattr(trainer, "vllm_generation", None)
    if generation is None or generation.mode != "colocate":
        return None
    group = trainer.accelerator.process_index // generation.tensor_parallel_size
    seed = process_seed(trainer.args.seed, group)
    set_seed(seed)
    return seed
