"""Per-method training recipes: the steps run.py calls, so the entry point names no method.

`GRPORecipe` is the default: one GRPO run with the reward functions of the method's registry entry
(lenbench.registry), plain eval prompts, no extra metrics. A method with engine hooks (LEAD, IAPO)
overrides `hooks` and `aggregation`; one with more steps (LAPO's two stages) overrides `train` and
`checkpoint_folders`. `find_checkpoint` resolves `trainer.resume` before any compute; `train`
resumes from what it found.
"""

from __future__ import annotations

from pathlib import Path

from lenbench.errors import ConfigError


class GRPORecipe:
    """One GRPO run with the method's reward functions on the run's train split."""

    def __init__(self, run, data):
        self.run, self.data = run, data
        self.checkpoint: Path | None = None
        """The checkpoint training resumes from (set by `find_checkpoint`); None: from the start."""

    def check_inputs(self) -> None:
        """Raise ConfigError on inputs the config alone cannot vouch for; runs before any compute."""

    def checkpoint_folders(self, out_dir: Path) -> list[Path]:
        """The trainer output folders of this method's stages under the job's output directory, in the
        order the stages run: where `trainer.resume=auto` looks."""
        return [out_dir / "trainer"]

    def find_checkpoint(self, out_dir: Path) -> Path | None:
        """Resolve `trainer.resume` (ConfigError if it names no complete checkpoint); runs before any compute."""
        from lenbench.registry import METHODS
        from lenbench.train.checkpoints import resolve_resume

        resume = self.run.trainer.resume
        if resume is not None and not METHODS[self.run.method.name].trains:
            raise ConfigError(f"trainer.resume={resume!r} is set, but method={self.run.method.name} does not train")
        self.checkpoint = resolve_resume(resume, self.checkpoint_folders(out_dir), self.run.trainer.num_iterations,
                                         self.settings())
        return self.checkpoint

    def settings(self) -> dict[str, str]:
        """The job's settings that change what it trains, saved with each checkpoint and compared on resume."""
        from lenbench.train.checkpoints import job_settings

        return job_settings(self.run, self.data.train_hash)

    aggregation = "sum_then_normalize"
    """TRL's multi_objective_aggregation for this method's rewards (see lenbench.train.grpo.grpo_args)."""

    def reward_funcs(self) -> list:
        """The TRL reward functions the policy is trained with: those its registry entry names."""
        from lenbench.registry import reward_funcs_for

        return reward_funcs_for(self.run, self.data.grader)

    def hooks(self, tokenizer):
        """The engine hooks of this method (None: plain GRPO)."""
        return None

    def train_split(self):
        """The rows the policy trains on (the run's train split; L1 asks each visit for its budget)."""
        return self.data.train

    def train(self, model, tokenizer, out_dir: Path):
        """Train the policy; returns the trained model."""
        from lenbench.tracking import MlflowStepLogger
        from lenbench.train.grpo import build_trainer

        trainer = build_trainer(
            self.run, model, tokenizer, self.train_split(), self.reward_funcs(), out_dir / "trainer",
            callbacks=[MlflowStepLogger()], hooks=self.hooks(tokenizer), aggregation=self.aggregation,
            settings=self.settings(),
        )
        trainer.train(resume_from_checkpoint=str(self.checkpoint) if self.checkpoint else None)
        return trainer.model

    def eval_data(self):
        """The eval problems as the trained policy is prompted."""
        return self.data.eval

    def eval_metrics(self, result) -> dict[str, float]:
        """Method-specific eval metrics, named relative to `eval/`."""
        return {}

