"""ThinkPrune recipe: correctness reward under a length limit that shrinks stage by stage in one run.

How the limit reaches generation: `StageLimit`, a trainer callback, sets the trainer's generation cap
(TRL's `generation_config.max_new_tokens`, and `generation_kwargs`, which TRL applies to the model
while it generates) to the limit of the step about to run, at the start of every step; a resumed run
gets its stage's limit from the checkpoint's global step. On TRL's vLLM path (trainer.use_vllm) the
callback sets the cap TRL builds vLLM's SamplingParams from at each generation
(`vllm_generation.max_completion_length`), so vLLM rollouts stop at the limit too. The reward scores every
rollout against the limit of the step it was generated at: one cut at the limit (or longer than it)
earns 0 (`truncated: zero`), or its cut text is graded (`grade`). A limit above
trainer.max_completion_length is that length. The maths is lenbench.methods.thinkprune.
"""

from __future__ import annotations

from pathlib import Path

from transformers import TrainerCallback

from lenbench.methods import thinkprune
from lenbench.train.recipes import GRPORecipe
from lenbench.train.rollouts import RolloutReward, eos_token_ids


def limit_in_force(method, step: int, max_length: int) -> int:
    """The stage limit at 0-based `step`, capped at trainer.max_completion_length."""
    return min(thinkprune.limit_at(step, method.limits, method.stage_steps), max_length)


class ThinkPruneReward(RolloutReward):
    """TRL reward function of `method=thinkprune`."""

    __name__ = "thinkprune"

    def __init__(self, method, grader, group_size, eos_ids, max_length: int):
        super().__init__(method, grader, group_size, eos_ids)
        self.max_length = max_length

    def score(self, rollouts, columns, log_metric):
        limit = limit_in_force(self.method, rollouts.step, self.max_length)
        was_cut = [thinkprune.cut(n, f, limit) for n, f in zip(rollouts.lengths, rollouts.finished, strict=True)]
        log_metric("thinkprune/limit", float(limit))
        log_metric("thinkprune/cut_frac", sum(was_cut) / max(len(was_cut), 1))
        return thinkprune.rewards(rollouts.correct, was_cut, truncated=self.method.truncated)


class StageLimit(TrainerCallback):
    """Sets a GRPO trainer's generation cap to the stage limit at the start of each step."""

    def __init__(self, method, max_length: int):
        self.method, self.max_length = method, max_length
        self.trainer = None
        """The trainer whose cap is set (given after it is built)."""

    def on_step_begin(self, args, state, control, **kwargs):
        limit = limit_in_force(self.method, state.global_step, self.max_length)
        vllm_generation = getattr(self.trainer, "vllm_generation", None)
        if vllm_generation is not None:  # TRL's vLLM path: SamplingParams(max_tokens=...) of each generation
            vllm_generation.max_completion_length = limit
        config = getattr(self.trainer, "generation_config", None)
        if config is not None:  # TRL's transformers path
            config.max_new_tokens = limit
        if getattr(self.trainer, "generation_kwargs", None) is not None:
            self.trainer.generation_kwargs["max_new_tokens"] = limit


def thinkprune_rewards(run, grader) -> list:
    """`method=thinkprune`: correctness, 0 for a rollout cut at the stage limit."""
    return [ThinkPruneReward(run.method, grader, run.trainer.num_generations, eos_token_ids(run),
                             run.trainer.max_completion_length)]


class ThinkPruneRecipe(GRPORecipe):
    """One GRPO run whose generation cap follows the stage schedule."""

    def train(self, model, tokenizer, out_dir: Path):
        from lenbench.tracking import MlflowStepLogger
        from lenbench.train.grpo import build_trainer

        limit = StageLimit(self.run.method, self.run.trainer.max_completion_length)
        trainer = build_trainer(self.run, model, tokenizer, self.train_split(), self.reward_funcs(),
                                out_dir / "trainer", callbacks=[MlflowStepLogger(), limit], hooks=self.hooks(tokenizer),
                                aggregation=self.aggregation, settings=self.settings())
        limit.trainer = trainer
        trainer.train(resume_from_checkpoint=str(self.checkpoint) if self.checkpoint else None)
        return trainer.model
