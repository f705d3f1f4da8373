"""LAPO recipe: discovery (stage 1) then internalization (stage 2), each a GRPO run on one policy.

Stage 1 trains with the band reward and fills the length table. The table, logged to MLflow as
`lapo/length_table.json`, gives each training prompt its target n(q), the input of stage 2.
Stage 2 trains with the plan sentence (in the prompt, or written by the model in `self` mode) and
the Gaussian length reward. The maths is in lenbench.methods.lapo; this module only adapts it to
TRL's reward-function interface and runs the stages.

The plan sentence is the dataset's (`TaskData.plan`). Lengths are tokens: in `self` mode the plan is
found in the completion text and its tokens are counted from the rollout's own token ids.
Checkpoints (`trainer.save_steps`) hold the stage and the length table (`LAPOState`); `trainer.resume`
resumes the stage a checkpoint was saved in: a kill in stage 1 resumes stage 1 with its partial table,
a kill in stage 2 resumes stage 2 with stage 1's final table, stage 1 not rerun.
Several processes: the discovery reward gathers the whole batch, so every process keeps the same
table (and so the same stage-2 targets and prompts); only the main process writes the table file.
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
    Plan,
    parse_plan,
    plan_fidelity,
    self_plan_reward,
    stage1_batch,
    stage2_prompt,
    stage2_rewards,
    stage_steps,
)
from lenbench.train.distributed import all_rows, is_main_process
from lenbench.train.recipes import GRPORecipe

TABLE_ARTIFACT = "lapo/length_table.json"


class DiscoveryReward:
    """Stage-1 TRL reward function: R1 per rollout; updates the length table as a side effect.

    The table is updated from the whole batch (gathered from every process), grouped as TRL groups
    it; each process returns the rewards of its own rows.
    """

    def __init__(self, method: LAPOMethodConfig, grader: str | Grader, table: LengthTable, group_size: int):
        self.__name__ = "lapo_discovery"
        self.method, self.grader, self.table, self.group_size = method, grader, table, group_size

    def __call__(self, prompts, completions, completion_ids, answer, problem_id, log_metric=None, unit=None,
                 alternatives=None, **_):
        correct = grade_all(completions, answer, self.grader, unit, alternatives)
        rows, mine = all_rows(list(zip(problem_id, [len(ids) for ids in completion_ids], correct, strict=True)))
        ids, lengths, graded = (list(column) for column in zip(*rows, strict=True))
        batch = stage1_batch(
            self.table, ids, lengths, graded, group_size=self.group_size,
            alpha=self.method.alpha, tau=self.method.tau, window=self.method.window,
            low_pct=self.method.band_low_pct, high_pct=self.method.band_high_pct,
        )
        if log_metric is not None and batch.band_hit_rate is not None:
            log_metric("lapo/band_hit_rate", batch.band_hit_rate)
        return batch.rewards[mine]


def completion_text(completion) -> str:
    """The text of a TRL completion (a string, or the assistant message of a conversational one)."""
    return completion if isinstance(completion, str) else completion[-1]["content"]


def plan_tokens(tokenizer, plan: Plan, text: str, ids: list[int] | None = None) -> int:
    """Tokens of a completion that its plan spans (`plan.end` characters of its text).

    With the rollout's token ids: the fewest leading tokens whose decoded text covers the plan (a
    token that straddles the plan's end, like ".\n", counts as plan). Without them (evaluation
    samples keep text only): the token count of the plan's text encoded alone.
    """
    if ids is None:
        return len(tokenizer.encode(text[: plan.end], add_special_tokens=False))
    for count in range(1, len(ids) + 1):
        if len(tokenizer.decode(ids[:count], skip_special_tokens=True)) >= plan.end:
            return count
    return len(ids)


class InternalizationReward:
    """Stage-2 TRL reward function for either plan mode; logs how well lengths follow the plan."""

    def __init__(self, method: LAPOMethodConfig, grader: str | Grader, targets: dict[str, float], plan: tuple[str, str],
                 tokenizer):
        self.__name__ = "lapo_internalization"
        self.method, self.grader, self.targets = method, grader, targets
        self.suffix, self.tokenizer = plan[1], tokenizer

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
            text = completion_text(completion)
            plan = parse_plan(text, self.suffix)
            reasoning = len(ids) - (plan_tokens(self.tokenizer, plan, text, ids) if plan else 0)
            declared = plan.declared if plan else None
            rewards.append(self_plan_reward(declared, reasoning, correct, target, beta=m.beta, sigma=m.sigma,
                                            plan_weight=m.plan_weight, plan_sigma=m.plan_sigma))
            if declared is not None:
                planned += 1
                if correct:
                    length_errors.append(abs(reasoning - declared))
                if target is not None:
                    plan_errors.append(abs(declared - target))
        if log_metric is not None:
            if length_errors:
                log_metric("lapo/length_error", statistics.mean(length_errors))
            if m.plan_mode == "self":
                log_metric("lapo/plan_rate", planned / len(completions))
                if plan_errors:
                    log_metric("lapo/plan_error", statistics.mean(plan_errors))
        return rewards


def table_payload(table: LengthTable, train_hash: str, dataset_name: str) -> dict:
    """The table as JSON data, with the train set it was built on."""
    lengths = {prompt_id: list(values) for prompt_id, values in table.lengths.items()}
    return {"dataset": dataset_name, "train_hash": train_hash, "lengths": lengths}


def table_from_payload(payload: dict, source: str, train_hash: str, dataset_name: str,
                       history_size: int) -> LengthTable:
    """The table of `table_payload` data; a ConfigError naming `source` if it is of another train set."""
    if payload.get("train_hash") != train_hash or payload.get("dataset") != dataset_name:
        raise ConfigError(
            f"{source} was built on another dataset (dataset {payload.get('dataset')!r}, "
            f"train set {payload.get('train_hash')!r}); this run trains on dataset {dataset_name!r}, train set "
            f"{train_hash!r}. Use the table of a discovery run with the same dataset settings."
        )
    table = LengthTable(history_size)
    for prompt_id, values in payload["lengths"].items():
        table.update(prompt_id, values)
    return table


def save_table(table: LengthTable, path: Path, train_hash: str, dataset_name: str) -> None:
    path.write_text(json.dumps(table_payload(table, train_hash, dataset_name)))


def load_table(path: str, train_hash: str, dataset_name: str, history_size: int) -> LengthTable:
    """A stage-1 table for this run's train set; a clear error for anything else."""
    try:
        payload = json.loads(Path(path).expanduser().read_text())
        payload["lengths"] = dict(payload["lengths"])
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ConfigError(f"method.length_table={path!r} is not a readable LAPO length table ({error})") from None
    return table_from_payload(payload, f"method.length_table={path!r}", train_hash, dataset_name, history_size)


class LAPOState:
    """Engine hooks that only carry LAPO's state through checkpoints: the stage and the length table.

    A stage-1 checkpoint's table is the one stage 1 had filled by then (its progress is the checkpoint's
    step); a stage-2 checkpoint's table is stage 1's final one, which stage 2's targets come from.
    Loading refills the table in place, so the discovery reward that holds it keeps filling it.
    """

    def __init__(self, stage: str, table: LengthTable, train_hash: str, dataset_name: str):
        self.stage, self.table, self.train_hash, self.dataset_name = stage, table, train_hash, dataset_name

    def state_dict(self) -> dict:
        return {"stage": self.stage, "table": table_payload(self.table, self.train_hash, self.dataset_name)}

    def load_state_dict(self, state: dict) -> None:
        if state.get("stage") != self.stage:
            raise ValueError(f"LAPO checkpoint of stage {state.get('stage')!r} resumed as stage {self.stage!r}")
        saved = table_from_payload(state["table"], "the checkpoint's length table", self.train_hash,
                                   self.dataset_name, self.table.history_size)
        self.table.lengths.clear()
        self.table.lengths.update(saved.lengths)


def stage2_dataset(dataset, method: LAPOMethodConfig, targets: dict[str, float], plan: tuple[str, str]):
    """Train prompts with their plan; in `prompt` mode prompts without a target are left out."""
    rows = dataset.map(
        lambda row: {"prompt": stage2_prompt(row["prompt"], method.plan_mode, targets.get(row["problem_id"]), *plan)}
    )
    return rows.filter(lambda row: row["prompt"] is not None)


def eval_prompts(dataset, method: LAPOMethodConfig, plan: tuple[str, str]):
    """Unseen problems have no target: `self` mode forces the plan opening, `prompt` mode asks plainly."""
    if method.plan_mode == "prompt":
        return dataset
    return stage2_dataset(dataset, method, {}, plan)


def check_plan(tokenizer, plan: tuple[str, str]) -> None:
    """ConfigError unless this tokenizer writes the plan sentence and reads its number back."""
    sentence = f"{plan[0]} 12 {plan[1]}"
    ids = tokenizer.encode(sentence, add_special_tokens=False)
    decoded = tokenizer.decode(ids, skip_special_tokens=True)
    unknown = tokenizer.unk_token_id
    opening = decoded.find(plan[0])
    found = parse_plan(decoded[opening + len(plan[0]) :], plan[1]) if opening >= 0 else None
    if (unknown is not None and unknown in ids) or found is None or found.declared != 12:
        raise ConfigError(
            f"method=lapo: this model's tokenizer cannot write the dataset's plan sentence {sentence!r} "
            f"(it reads back as {decoded!r}); give the dataset a plan in the tokenizer's words"
        )


def train_lapo(run, model, tokenizer, data, out_dir: Path, callbacks_from_step, table: LengthTable | None = None,
               checkpoint: Path | None = None, checkpoint_stage: str | None = None,
               settings: dict[str, str] | None = None):
    """Run the configured stages; returns (trained model, path of the saved length table).

    `table` is the stage-1 table to start stage 2 from (stage=internalization, or a stage-2 checkpoint);
    `checkpoint` a checkpoint of stage `checkpoint_stage` to resume: a discovery one resumes stage 1, an
    internalization one skips stage 1 and resumes stage 2. `callbacks_from_step(offset)` gives the
    trainer callbacks of a stage whose first step is offset + 1. `settings`: the job's result-changing
    settings, saved with each checkpoint.
    """
    from lenbench.train.grpo import build_trainer

    method: LAPOMethodConfig = run.method
    discovery_steps, internalization_steps = stage_steps(method, run.trainer.max_steps)
    out_dir.mkdir(parents=True, exist_ok=True)

    def resume_in(stage: str) -> str | None:
        return str(checkpoint) if checkpoint is not None and checkpoint_stage == stage else None

    if method.stage != "internalization" and checkpoint_stage != "internalization":
        table = LengthTable(method.history_size)
        discovery = DiscoveryReward(method, data.grader, table, run.trainer.num_generations)
        stage1 = build_trainer(
            run, model, tokenizer, data.train, [discovery], out_dir / "discovery",
            max_steps=discovery_steps, callbacks=callbacks_from_step(0),
            hooks=LAPOState("discovery", table, data.train_hash, run.dataset.name), settings=settings,
        )
        stage1.train(resume_from_checkpoint=resume_in("discovery"))
        model = stage1.model
    table_path = out_dir / "length_table.json"
    if is_main_process():  # every process holds the same table
        save_table(table, table_path, data.train_hash, run.dataset.name)
    if method.stage in ("internalization", "both"):
        targets = table.targets(method.target_stat)
        stage2 = build_trainer(
            run, model, tokenizer, stage2_dataset(data.train, method, targets, data.plan),
            [InternalizationReward(method, data.grader, targets, data.plan, tokenizer)], out_dir / "internalization",
            max_steps=internalization_steps,
            callbacks=callbacks_from_step(discovery_steps if method.stage == "both" else 0),
            hooks=LAPOState("internalization", table, data.train_hash, run.dataset.name), settings=settings,
        )
        stage2.train(resume_from_checkpoint=resume_in("internalization"))
        model = stage2.model
    return model, table_path


def eval_plan_metrics(samples, method: LAPOMethodConfig, plan: tuple[str, str], tokenizer) -> dict[str, float]:
    """`self` mode: plan fidelity on the sampled eval completions (empty in `prompt` mode)."""
    if method.plan_mode != "self":
        return {}
    sampled = samples[samples.decoding == "sample"]
    declared, actual = [], []
    for completion, tokens in zip(sampled.completion, sampled.tokens, strict=True):
        found = parse_plan(completion, plan[1])
        declared.append(found.declared if found else None)
        actual.append(int(tokens) - (plan_tokens(tokenizer, found, completion) if found else 0))
    return plan_fidelity(declared, actual)


class LAPORecipe(GRPORecipe):
    """LAPO: the stage-1 table checked before compute, two stages, plan prompts and plan fidelity at eval."""

    def __init__(self, run, data):
        super().__init__(run, data)
        self.table: LengthTable | None = None
        self.tokenizer = None
        self.checkpoint_stage: str | None = None

    def check_inputs(self) -> None:
        """The tokenizer must write the plan sentence; an internalization-only run needs a readable table
        of this train set (loaded once, here)."""
        from lenbench.models import policy_tokenizer

        method = self.run.method
        if method.stage != "discovery":
            check_plan(policy_tokenizer(self.run), self.data.plan)
        if method.stage == "internalization":
            self.table = load_table(method.length_table, self.data.train_hash, self.run.dataset.name,
                                    method.history_size)

    def stages(self) -> list[str]:
        """The stages this run trains, in order."""
        stage = self.run.method.stage
        return ["discovery", "internalization"] if stage == "both" else [stage]

    def checkpoint_folders(self, out_dir: Path) -> list[Path]:
        return [out_dir / "lapo" / stage for stage in self.stages()]

    def find_checkpoint(self, out_dir: Path) -> Path | None:
        """The checkpoint and its stage, which must be one this run trains; a stage-2 checkpoint's table
        (checked to be of this train set) is what stage 2 resumes with."""
        from lenbench.train.checkpoints import method_state

        checkpoint = super().find_checkpoint(out_dir)
        if checkpoint is None:
            return None
        state = method_state(checkpoint)
        stage = state.get("stage")
        if stage not in self.stages():
            raise ConfigError(
                f"trainer.resume: {checkpoint} is not a checkpoint of a LAPO stage this run trains "
                f"(its stage: {stage!r}; method.stage={self.run.method.stage} trains {', '.join(self.stages())})"
            )
        self.checkpoint_stage = stage
        if stage == "internalization":
            self.table = table_from_payload(state["table"], f"the length table of {checkpoint}", self.data.train_hash,
                                            self.run.dataset.name, self.run.method.history_size)
        return checkpoint

    def train(self, model, tokenizer, out_dir: Path):
        from lenbench.tracking import MlflowStepLogger, log_artifact

        self.tokenizer = tokenizer
        model, table_path = train_lapo(
            self.run, model, tokenizer, self.data, out_dir / "lapo",
            lambda offset: [MlflowStepLogger(step_offset=offset)], table=self.table,
            checkpoint=self.checkpoint, checkpoint_stage=self.checkpoint_stage, settings=self.settings(),
        )
        log_artifact(table_path, TABLE_ARTIFACT.rpartition("/")[0])  # by the main process of a multi-GPU launch
        return model

    def eval_data(self):
        return eval_prompts(self.data.eval, self.run.method, self.data.plan)

    def eval_metrics(self, result) -> dict[str, float]:
        metrics = eval_plan_metrics(result.samples, self.run.method, self.data.plan, self.tokenizer)
        return {f"lapo/{key}": value for key, value in metrics.items()}
