"""The GRPO engine: TRL's GRPOTrainer, configured from lenbench's TrainerConfig.

`LenbenchGRPOTrainer` is where methods plug in. It only wraps `super()` calls:
`_calculate_rewards` (a method may rewrite the batch's per-function rewards or reassign
`self.reward_weights` from that same batch) and `_generate_and_score_completions` (a method may
replace the advantages, e.g. with token-level ones). Hooks with `state_dict`/`load_state_dict`
have that state written into every checkpoint and read back on resume (the way TRL keeps its own
entropy-controller state); every checkpoint gets the state file, `{}` without such hooks, written
last (lenbench.train.checkpoints reads it as the mark of a complete checkpoint).

Resuming reproduces the data order across epochs: TRL's RepeatSampler seeds its generator once, so
each epoch draws the next permutation, and transformers' resume skips the batches of the current
epoch but starts that fresh generator from epoch 0. `_init_training_state` (where transformers
computes the epochs already trained) begins that many iterations of the sampler first, leaving its
generator where an uninterrupted run has it.
"""

from __future__ import annotations

import difflib
import json
import os
import types
import typing
from collections.abc import Iterable
from dataclasses import fields, replace
from pathlib import Path
from typing import Any, Protocol

import torch
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR
from trl import GRPOConfig, GRPOTrainer

from lenbench.config import TrainerConfig
from lenbench.data.prompts import encode_prompts
from lenbench.errors import ConfigError, check_range
from lenbench.models import resolve_device
from lenbench.train.checkpoints import HOOK_STATE_FILE, JOB_FILE, write_json_atomic


class MethodHooks(Protocol):
    """Optional per-method hooks into the trainer; implement either or both."""

    def after_rewards(self, trainer: GRPOTrainer, rewards_per_func: torch.Tensor, inputs: list[dict],
                      completion_ids: list[list[int]]) -> torch.Tensor: ...

    def after_scoring(self, trainer: GRPOTrainer, batch: dict[str, Any], inputs: list[dict]) -> dict[str, Any]: ...

    def state_dict(self) -> dict: ...

    def load_state_dict(self, state: dict) -> None: ...


def fast_forward(sampler: Iterable, epochs: int) -> None:
    """Begin `epochs` iterations of a sampler that draws its order when an iteration begins, so its
    generator stands where it does at the start of epoch `epochs` of an uninterrupted run."""
    for _ in range(epochs):
        next(iter(sampler), None)


class LenbenchGRPOTrainer(GRPOTrainer):
    """GRPOTrainer with method hooks around reward calculation and advantage computation."""

    def __init__(self, *args, hooks: MethodHooks | None = None, settings: dict[str, str] | None = None,
                 decode_loop: bool = False, **kwargs):
        from lenbench.train.vllm_rollouts import adapt_colocated_engine, reseed_after_engine

        self.decode_loop = decode_loop
        """Rollouts through lenbench.decoding's loop where TRL would call generate (trainer.decode_loop)."""
        self.hooks = hooks
        self.settings = settings
        """The job's result-changing settings, saved with each checkpoint (lenbench.train.checkpoints)."""
        super().__init__(*args, **kwargs)
        adapt_colocated_engine(self)
        reseed_after_engine(self)
        if getattr(getattr(self, "vllm_generation", None), "llm", None) is not None:
            from lenbench.vllm_runtime import log_memory

            log_memory("rollout engine up")

    def train(self, *args, **kwargs):
        """TRL's train; then the colocated vLLM engine (trainer.use_vllm) and the training state are released,
        so the next stage's or the evaluation's engine never starts beside them."""
        try:
            return super().train(*args, **kwargs)
        finally:
            self.release_rollout_engine()
            self.release_training_state()

    def release_training_state(self) -> None:
        """Drop what only training needs (optimizer state, scheduler, the DDP / DeepSpeed wrapper and its
        gradient buckets, the accelerator's references) and free it now, so that the next stage or the
        evaluation (its vLLM engine above all) starts on a device that holds only the policy. The trained
        policy stays in `self.model`."""
        import gc

        accelerator, on_gpu = self.accelerator, torch.cuda.is_available()
        if on_gpu or getattr(accelerator, "deepspeed_engine_wrapped", None) is not None:
            accelerator.free_memory()  # its references dropped, DeepSpeed's engine destroyed, collected
        else:  # CPU: the same references dropped, without a collection (~0.7 s in a process of this size)
            accelerator._optimizers, accelerator._schedulers, accelerator._models, accelerator._dataloaders = (
                [], [], [], [])
        self.optimizer = self.lr_scheduler = None
        self.callback_handler.optimizer = self.callback_handler.lr_scheduler = None
        self.model_wrapped = self.model
        if on_gpu:
            gc.collect()
            torch.cuda.empty_cache()

    def release_rollout_engine(self) -> None:
        """Free the colocated vLLM engine of the rollouts, if any (lenbench.vllm_runtime.release_engine)."""
        generation = getattr(self, "vllm_generation", None)
        if generation is None:
            return
        from lenbench.vllm_runtime import log_memory, release_engine

        alive = release_engine(generation)
        if alive is not None:  # server mode holds no engine here
            log_memory("rollout engine released", alive)

    def _tokenize_prompts(self, prompts: list):
        """Text prompts as evaluation encodes them (lenbench.data.prompts.encode_prompts: no special tokens
        on top of the chat template's); TRL's own adds them (a second BOS with R1-Distill's tokenizer)."""
        if prompts and isinstance(prompts[0], str):
            return encode_prompts(self.processing_class, prompts), None, {}
        return super()._tokenize_prompts(prompts)

    def _generate_single_turn(self, prompt_ids, images, multimodal_fields, num_generations, has_tool_images=False):
        """TRL's rollouts, but through lenbench.decoding's loop (trainer.decode_loop) where TRL would call
        transformers' generate on text prompts under settings the loop honours."""
        from lenbench.decoding import decode_with_config, supports

        plain = (self.use_vllm or self.use_transformers_continuous_batching or images is not None
                 or multimodal_fields or not self.decode_loop)
        if plain or not supports(self.generation_config):
            return super()._generate_single_turn(prompt_ids, images, multimodal_fields, num_generations,
                                                 has_tool_images)
        from trl.models import unwrap_model_for_generation

        with (
            unwrap_model_for_generation(self.model_wrapped, self.accelerator,
                                        gather_deepspeed3_params=self.args.ds3_gather_for_generation,
                                        gradient_checkpointing_kwargs=self.args.gradient_checkpointing_kwargs)
            as unwrapped,
            torch.no_grad(),
        ):
            return decode_with_config(unwrapped, prompt_ids, self.generation_config), None

    def _calculate_rewards(self, inputs, prompts, completions, completion_ids_list):
        rewards = super()._calculate_rewards(inputs, prompts, completions, completion_ids_list)
        if self.hooks is not None and hasattr(self.hooks, "after_rewards"):
            rewards = self.hooks.after_rewards(self, rewards, inputs, completion_ids_list)
        return rewards

    def _generate_and_score_completions(self, inputs):
        batch = super()._generate_and_score_completions(inputs)
        if self.hooks is not None and hasattr(self.hooks, "after_scoring"):
            batch = self.hooks.after_scoring(self, batch, inputs)
        return batch

    def log_hook_metric(self, name: str, value: float) -> None:
        """Record a scalar for this step's logs; works in either hook (TRL's own `_log_metric` queue
        is flushed inside `_generate_and_score_completions`, before `after_scoring` runs)."""
        self._metrics["train" if self.model.training else "eval"][name].append(float(value))

    def _get_train_sampler(self, dataset=None):
        self._train_sampler = super()._get_train_sampler(dataset)
        return self._train_sampler

    def _init_training_state(self, max_steps, num_update_steps_per_epoch, num_train_epochs, resume_from_checkpoint,
                             trial):
        epochs_trained, steps_trained_in_current_epoch = super()._init_training_state(
            max_steps, num_update_steps_per_epoch, num_train_epochs, resume_from_checkpoint, trial
        )
        if self.state.global_step >= max_steps:
            # a checkpoint of the last step (a job killed in evaluation, or LAPO's stage 1 done): transformers
            # would still run its epoch loop and train one step more; no epoch left to run trains none
            return num_train_epochs, 0
        sampler = getattr(self, "_train_sampler", None)  # None: an iterable dataset, no sampler
        if epochs_trained and sampler is not None:
            fast_forward(sampler, epochs_trained)
        return epochs_trained, steps_trained_in_current_epoch

    def _save_checkpoint(self, model, trial):
        super()._save_checkpoint(model, trial)
        if self.args.should_save:
            folder = Path(self._get_output_dir(trial=trial)) / f"{PREFIX_CHECKPOINT_DIR}-{self.state.global_step}"
            state = self.hooks.state_dict() if hasattr(self.hooks, "state_dict") else {}
            write_json_atomic(folder / JOB_FILE, self.settings or {})
            write_json_atomic(folder / HOOK_STATE_FILE, state)  # last: it marks the checkpoint complete

    def _load_optimizer_and_scheduler(self, checkpoint):
        super()._load_optimizer_and_scheduler(checkpoint)
        if checkpoint is not None and hasattr(self.hooks, "load_state_dict"):
            path = os.path.join(checkpoint, HOOK_STATE_FILE)
            if not os.path.exists(path):
                raise FileNotFoundError(f"checkpoint {checkpoint} has no {HOOK_STATE_FILE}: the method's state "
                                        "was not saved with it, so the run cannot resume exactly")
            with open(path) as f:
                self.hooks.load_state_dict(json.load(f))


def grpo_kwargs(
    cfg: TrainerConfig,
    output_dir: Path,
    seed: int,
    aggregation: str = "sum_then_normalize",
    use_cpu: bool | None = None,
) -> dict[str, Any]:
    """The GRPOConfig fields lenbench sets from its trainer settings (trainer.extra aside).

    `aggregation` is TRL's multi_objective_aggregation: `sum_then_normalize` (one combined reward,
    plain GRPO) or `normalize_then_sum` (each reward normalized per group, then weighted: LEAD).
    `use_cpu`: train on CPU; None = when no CUDA GPU is available.
    Each device's prompts_per_step * num_generations rollouts are generated as one batch and trained
    in gradient_accumulation_steps micro-batches (TRL's steps_per_generation defaults to it).
    trainer.save_steps=0 saves nothing (transformers' save_steps is then unused and left at its default).
    """
    kwargs = dict(
        output_dir=str(output_dir),
        max_steps=cfg.max_steps,
        learning_rate=cfg.learning_rate,
        lr_scheduler_type=cfg.lr_scheduler_type,
        warmup_steps=cfg.warmup_steps,
        per_device_train_batch_size=cfg.prompts_per_step * cfg.num_generations // cfg.gradient_accumulation_steps,
        gradient_accumulation_steps=cfg.gradient_accumulation_steps,
        num_generations=cfg.num_generations,
        max_completion_length=cfg.max_completion_length,
        temperature=cfg.temperature,
        top_p=cfg.top_p,
        beta=cfg.beta,
        loss_type=cfg.loss_type,
        epsilon=cfg.epsilon,
        epsilon_high=cfg.epsilon_high,
        scale_rewards=cfg.scale_rewards,
        num_iterations=cfg.num_iterations,
        max_grad_norm=cfg.max_grad_norm,
        weight_decay=cfg.weight_decay,
        bf16=cfg.bf16,
        gradient_checkpointing=cfg.gradient_checkpointing,
        logging_steps=cfg.logging_steps,
        save_strategy="steps" if cfg.save_steps else "no",
        save_total_limit=cfg.save_total_limit,
        report_to="none",
        seed=seed,
        data_seed=seed,
        use_cpu=not torch.cuda.is_available() if use_cpu is None else use_cpu,
        log_completions=False,
        multi_objective_aggregation=aggregation,
        use_vllm=cfg.use_vllm,
        vllm_mode=cfg.vllm_mode,
        vllm_server_host=cfg.vllm_server_host,
        vllm_server_port=cfg.vllm_server_port,
        vllm_server_timeout=cfg.vllm_server_timeout,
        vllm_gpu_memory_utilization=cfg.vllm_gpu_memory_utilization,
        vllm_tensor_parallel_size=cfg.vllm_tensor_parallel_size,
        vllm_max_model_length=cfg.vllm_max_model_length,
        vllm_enable_sleep_mode=cfg.vllm_enable_sleep_mode,
    )
    if cfg.save_steps:
        kwargs["save_steps"] = cfg.save_steps
    return kwargs


def grpo_args(cfg: TrainerConfig, *args, **kwargs) -> GRPOConfig:
    """TRL GRPOConfig from lenbench's trainer settings (arguments as grpo_kwargs), trainer.extra passed
    through as is."""
    return GRPOConfig(**grpo_kwargs(cfg, *args, **kwargs), **cfg.extra)


METHOD_OWNED = {
    "reward_weights": "the method decides how its rewards combine (LEAD's PSI weights, one weight per reward "
                      "function it builds); set its method.* knobs",
    "reward_funcs": "the method builds its reward functions",
}
"""GRPOConfig fields a method, not the user, decides."""
EXTRA_RANGES = {
    "top_k": {"low": 0},  # 0: off (TRL's default)
    "min_p": {"low": 0.0, "high": 1.0},
    "repetition_penalty": {"low": 0.0, "low_inclusive": False},
    "num_completions_to_print": {"low": 0},
}
"""Ranges of GRPOConfig fields that TRL takes as they are and the generation backend refuses later."""
GENERATION_OWNED = frozenset({"max_tokens", "max_new_tokens", "max_length", "min_tokens", "min_new_tokens",
                              "temperature", "top_p", "n", "num_return_sequences", "seed"})
"""Keys of GRPOConfig.generation_kwargs (passed to vLLM's SamplingParams or transformers' GenerationConfig,
overriding TRL's own) that would replace a setting the run records: the completion cap above all."""


def check_extra(cfg: TrainerConfig) -> None:
    """ConfigError naming the first trainer.extra field that TRL's GRPOConfig lacks, that lenbench sets
    itself, whose value has the wrong type, or that GRPOConfig refuses; runs before any compute."""
    if not cfg.extra:
        return
    import trl

    managed = {**grpo_kwargs(cfg, Path("."), 0, use_cpu=True), "save_steps": cfg.save_steps}
    known = {f.name for f in fields(GRPOConfig) if f.init}
    hints = typing.get_type_hints(GRPOConfig)
    for key, value in cfg.extra.items():
        where = f"trainer.extra.{key}={value!r}"
        if key in managed:
            instead = f"set trainer.{key}" if key in {f.name for f in fields(TrainerConfig)} else "lenbench sets it"
            raise ConfigError(f"{where}: GRPOConfig.{key} comes from the run ({instead}); allowed in trainer.extra: "
                              "a GRPOConfig field lenbench does not set")
        if key not in known:
            close = difflib.get_close_matches(key, sorted(known - managed.keys()), n=3)
            hint = f" (closest: {', '.join(close)})" if close else ""
            raise ConfigError(f"trainer.extra.{key}: trl.GRPOConfig (TRL {trl.__version__}) has no such field; "
                              f"allowed: a GRPOConfig field lenbench does not set{hint}")
        if not _accepts(hints.get(key), value):
            raise ConfigError(f"{where} is not of GRPOConfig.{key}'s type; allowed: {_type_name(hints[key])}")
        if key in METHOD_OWNED:
            raise ConfigError(f"{where}: {METHOD_OWNED[key]}; allowed in trainer.extra: a GRPOConfig field lenbench "
                              "does not set")
        if key in EXTRA_RANGES:
            check_range(f"trainer.extra.{key}", value, **EXTRA_RANGES[key])
        if key == "generation_kwargs" and value:
            if taken := sorted(set(_as_mapping(value)) & GENERATION_OWNED):
                owned = ", ".join(sorted(GENERATION_OWNED))
                raise ConfigError(f"trainer.extra.generation_kwargs.{taken[0]}: the run sets it (trainer."
                                  "max_completion_length, temperature, top_p, num_generations, seed); allowed in "
                                  f"generation_kwargs: other sampling settings, not {owned}")
    checked = {**managed, "bf16": False, "use_cpu": True}  # GPU-only settings are checked on the machine that computes
    checked.pop("save_steps")
    try:
        GRPOConfig(**checked, **cfg.extra)
    except (TypeError, ValueError) as error:
        reason = " ".join(str(error).split())
        raise ConfigError(f"trainer.extra ({', '.join(f'{k}={v!r}' for k, v in cfg.extra.items())}): "
                          f"GRPOConfig refuses it: {reason}") from None


def _as_mapping(value: Any) -> dict:
    """generation_kwargs as a dict (GRPOConfig also takes it as a JSON string); {} when it is neither."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            return {}
    return dict(value) if isinstance(value, typing.Mapping) else {}


def _accepts(hint, value) -> bool:
    """Whether `value` fits a simple annotated type (bool, int, float, str, unions of them, None);
    any other annotation is left to GRPOConfig's own checks."""
    if hint is None:
        return True
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return any(_accepts(arm, value) for arm in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is str:
        return isinstance(value, str)
    return True


def _type_name(hint) -> str:
    return getattr(hint, "__name__", None) or str(hint).replace("typing.", "")


def build_trainer(
    run,
    model,
    tokenizer,
    train_dataset,
    reward_funcs,
    output_dir: Path,
    *,
    max_steps: int | None = None,
    callbacks=(),
    hooks: MethodHooks | None = None,
    aggregation: str = "sum_then_normalize",
    settings: dict[str, str] | None = None,
):
    """A GRPO trainer for one training stage of a run (max_steps defaults to trainer.max_steps);
    `settings`: the job's result-changing settings, saved with each checkpoint."""
    trainer_cfg = run.trainer if max_steps is None else replace(run.trainer, max_steps=max_steps)
    if trainer_cfg.use_vllm and trainer_cfg.vllm_mode == "colocate":
        from lenbench.vllm_runtime import log_memory, own_rendezvous_port, prepare_engine

        prepare_engine(trainer_cfg)
        own_rendezvous_port()
        log_memory("rollout engine starting")
    return LenbenchGRPOTrainer(
        model=model,
        reward_funcs=list(reward_funcs),
        args=grpo_args(trainer_cfg, output_dir, run.seed, aggregation,
                       use_cpu=resolve_device(run.model.device) == "cpu"),
        train_dataset=train_dataset,
        processing_class=tokenizer,
        callbacks=list(callbacks),
        hooks=hooks,
        settings=settings,
        decode_loop=trainer_cfg.decode_loop,
    )
