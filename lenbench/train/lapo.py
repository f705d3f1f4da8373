"""LAPO recipe: discovery (stage 1) then internalization (stage 2), each a GRPO run on one policy.

Stage 1 trains with the band reward and fills the length table. The table, logged to MLflow as
`lapo/length_table.json`, gives each training prompt its target n(q), the input of stage 2.
Stage 2 trains with the plan sentence (in the prompt, or written by the model in `self` mode) and
the Gaussian length reward. The maths is in lenbench.methods.lapo; this module only adapts it to
TRL's reward-function interface and runs the stages.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path

from lenbench.errors import ConfigError
from lenbench.grading import Grader, grade_all
from lenbench.methods.lapo import (
    LAPOMethodConfig,
    LengthTable,
    parse_plan,
    plan_fidelity,
    self_plan_reward,
    stage1_batch,
    stage2_prompt,
    stage2_rewards,
)
from lenbench.testbed.arith import PLAN_PREFIX, PLAN_SUFFIX
from lenbench.train.recipes import GRPORecipe

TABLE_ARTIFACT = "lapo/length_table.json"


class DiscoveryReward:
    """Stage-1 TRL reward function: R1 per rollout; updates the length table as a side effect."""

    def __init__(self, method: LAPOMethodConfig, grader: str | Grader, table: LengthTable):
        self.__name__ = "lapo_discovery"
        self.method, self.grader, self.table = method, grader, table

    def __call__(self, prompts, completions, completion_ids, answer, problem_id, log_metric=None, unit=None,
                 alternatives=None, **_):
        correct = grade_all(completions, answer, self.grader, unit, alternatives)
        batch = stage1_batch(
            self.table, problem_id, [len(ids) for ids in completion_ids], correct,
            alpha=self.method.alpha, tau=self.method.tau, window=self.method.window,
            low_pct=self.method.band_low_pct, high_pct=self.method.band_high_pct,
        )
        if log_metric is not None and batch.band_hit_rate is not None:
            log_metric("lapo/band_hit_rate", batch.band_hit_rate)
        return batch.rewards


class InternalizationReward:
    """Stage-2 TRL reward function for either plan mode; logs how well lengths follow the plan."""

    def __init__(self, method: LAPOMethodConfig, grader: str | Grader, targets: dict[str, float]):
        self.__name__ = "lapo_internalization"
        self.method, self.grader, self.targets = method, grader, targets

    def __call__(self, prompts, completions, completion_ids, answer, problem_id, log_metric=None, unit=None,
                 alternatives=None, **_):
        m = self.method
        rewards, length_errors, plan_errors, planned = [], [], [], 0
        graded = grade_all(completions, answer, self.grader, unit, alternatives)
        for completion, ids, correct, pid in zip(completions, completion_ids, graded, problem_id, strict=True):
            target = self.targets.get(pid)
            if m.plan_mode == "prompt":
                rewards.append(stage2_rewards([len(ids)], [correct], target, m.beta, m.sigma)[0])
                if correct and target is not None:
                    length_errors.append(abs(len(ids) - target))
                continue
            result = self_plan_reward(
                completion.split(), len(ids), correct, target, beta=m.beta, sigma=m.sigma,
                plan_weight=m.plan_weight, plan_sigma=m.plan_sigma, suffix=PLAN_SUFFIX,
            )
            rewards.append(result.reward)
            if result.declared is not None:
                planned += 1
                if correct:
                    length_errors.append(abs(result.reasoning_length - result.declared))
                if target is not None:
                    plan_errors.append(abs(result.declared - target))
        if log_metric is not None:
            if length_errors:
                log_metric("lapo/length_error", statistics.mean(length_errors))
            if m.plan_mode == "self":
                log_metric("lapo/plan_rate", planned / len(completions))
                if plan_errors:
                    log_metric("lapo/plan_error", statistics.mean(plan_errors))
        return rewards


def save_table(table: LengthTable, path: Path, train_hash: str, dataset_name: str) -> None:
    lengths = {prompt_id: list(values) for prompt_id, values in table.lengths.items()}
    payload = {"dataset": dataset_name, "train_hash": train_hash, "lengths": lengths}
    path.write_text(json.dumps(payload))


def load_table(path: str, train_hash: str, dataset_name: str, history_size: int) -> LengthTable:
    """A stage-1 table for this run's train set; a clear error for anything else."""
    try:
        payload = json.loads(Path(path).expanduser().read_text())
        lengths = payload["lengths"]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ConfigError(f"method.length_table={path!r} is not a readable LAPO length table ({error})") from None
    if payload.get("train_hash") != train_hash or payload.get("dataset") != dataset_name:
        raise ConfigError(
            f"method.length_table={path!r} was built on another dataset (dataset {payload.get('dataset')!r}, "
            f"train set {payload.get('train_hash')!r}); this run trains on dataset {dataset_name!r}, train set "
            f"{train_hash!r}. Use the table of a discovery run with the same dataset settings."
        )
    table = LengthTable(history_size)
    for prompt_id, values in lengths.items():
        table.update(prompt_id, values)
    return table


def stage2_dataset(dataset, method: LAPOMethodConfig, targets: dict[str, float]):
    """Train prompts with their plan; in `prompt` mode prompts without a target are left out."""
    rows = dataset.map(
        lambda row: {"prompt": stage2_prompt(row["prompt"], method.plan_mode, targets.get(row["problem_id"]),
                                             PLAN_PREFIX, PLAN_SUFFIX)}
    )
    return rows.filter(lambda row: row["prompt"] is not None)


def eval_prompts(dataset, method: LAPOMethodConfig):
    """Unseen problems have no target: `self` mode forces the plan opening, `prompt` mode asks plainly."""
    if method.plan_mode == "prompt":
        return dataset
    return stage2_dataset(dataset, method, {})


def train_lapo(run, model, tokenizer, data, out_dir: Path, callbacks_from_step, table: LengthTable | None = None):
    """Run the configured stages; returns (trained model, path of the saved length table).

    `table` is the stage-1 table to start stage 2 from (stage=internalization); `callbacks_from_step(offset)`
    gives the trainer callbacks of a stage whose first step is offset + 1.
    """
    from lenbench.train.grpo import build_trainer

    method: LAPOMethodConfig = run.method
    out_dir.mkdir(parents=True, exist_ok=True)
    if method.stage != "internalization":
        table = LengthTable(method.history_size)
        stage1 = build_trainer(
            run, model, tokenizer, data.train, [DiscoveryReward(method, data.grader, table)], out_dir / "discovery",
            max_steps=method.discovery_steps, callbacks=callbacks_from_step(0),
        )
        stage1.train()
        model = stage1.model
    table_path = out_dir / "length_table.json"
    save_table(table, table_path, data.train_hash, run.dataset.name)
    if method.stage in ("internalization", "both"):
        targets = table.targets(method.target_stat)
        stage2 = build_trainer(
            run, model, tokenizer, stage2_dataset(data.train, method, targets),
            [InternalizationReward(method, data.grader, targets)], out_dir / "internalization",
            max_steps=method.internalization_steps,
            callbacks=callbacks_from_step(method.discovery_steps if method.stage == "both" else 0),
        )
        stage2.train()
        model = stage2.model
    return model, table_path


def eval_plan_metrics(samples, method: LAPOMethodConfig) -> dict[str, float]:
    """`self` mode: plan fidelity on the sampled eval completions (empty in `prompt` mode)."""
    if method.plan_mode != "self":
        return {}
    sampled = samples[samples.decoding == "sample"]
    declared, actual = [], []
    for completion, tokens in zip(sampled.completion, sampled.tokens, strict=True):
        n, plan_tokens = parse_plan(completion.split(), (), PLAN_SUFFIX)
        declared.append(n)
        actual.append(int(tokens) - plan_tokens)
    return plan_fidelity(declared, actual)


class LAPORecipe(GRPORecipe):
    """LAPO: the stage-1 table checked before compute, two stages, plan prompts and plan fidelity at eval."""

    def __init__(self, run, data):
        super().__init__(run, data)
        self.table: LengthTable | None = None

    def check_inputs(self) -> None:
        """An internalization-only run needs a readable table of this train set (loaded once, here)."""
        method = self.run.method
        if method.stage == "internalization":
            self.table = load_table(method.length_table, self.data.train_hash, self.run.dataset.name,
                                    method.history_size)

    def train(self, model, tokenizer, out_dir: Path):
        import mlflow

        from lenbench.tracking import MlflowStepLogger

        model, table_path = train_lapo(
            self.run, model, tokenizer, self.data, out_dir / "lapo",
            lambda offset: [MlflowStepLogger(step_offset=offset)], table=self.table,
        )
        if mlflow.active_run():  # the main process of a multi-GPU launch
            mlflow.log_artifact(str(table_path), artifact_path=TABLE_ARTIFACT.rpartition("/")[0])
        return model

    def eval_data(self):
        return eval_prompts(self.data.eval, self.run.method)

    def eval_metrics(self, result) -> dict[str, float]:
        return {f"lapo/{key}": value for key, value in eval_plan_metrics(result.samples, self.run.method).items()}
