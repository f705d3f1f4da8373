"""One pre-flight path answers "can this job run?", before any compute, for run.py, the sweepers and bench.py.

`preflight(cfg)` runs every check in one order and returns the `Job` it checked: the typed config,
the tokenizer, the task data, the method's recipe and the checkpoint to resume from. Each check
raises a one-line ConfigError naming the field and what is allowed:

1. values (`check_job`): types and ranges (`load_run_config`: each dataclass's `validate`, the
   method's `validate_with` the model), the combinations no single section can judge, trainer.extra
   against TRL's GRPOConfig;
2. inputs on disk (`check_job`): data files, the model directory or the testbed cache, the tracking store;
3. the machine that computes (`machine=True`; a sweep checks its jobs on the submitting machine with
   machine=False): CUDA, the vLLM extra, a tracking server's reachability;
4. the loaded problems and tokenizer (`check_task_data`) and the recipe's own inputs (LAPO's plan
   sentence and length table, IAPO's answer suffix: `Recipe.check_inputs`);
5. `trainer.resume`, when the job's output directory is known (`out_dir`).

`OutputDirCheck`, a Hydra callback (conf/config.yaml), checks the output directory before Hydra
creates it, which is before any of this runs.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from lenbench.config import RunConfig, load_run_config
from lenbench.errors import ConfigError, check_writable_dir
from lenbench.process_group import processes


@dataclass
class Job:
    """A job that passed pre-flight, with what the checks built on the way."""

    run: RunConfig
    tokenizer: Any
    """The policy's tokenizer (the model itself is not loaded)."""
    data: Any
    """The TaskData, prompts in the model's format, graded after model.think_close."""
    recipe: Any
    """The method's recipe (lenbench.train.recipes.GRPORecipe or a subclass)."""
    checkpoint: Path | None = None
    """The checkpoint training resumes from; None: from the start (or `out_dir` was not given)."""


def preflight(cfg: DictConfig, *, machine: bool = True, out_dir: Path | None = None,
              loaded: dict | None = None) -> Job:
    """Every check of a composed job config, in order (module docstring); raises ConfigError.

    `loaded`: a dict the caller keeps across the jobs it checks together (a sweep's), so each distinct
    dataset and model setting is loaded once; None: load for this job alone."""
    from lenbench.models import check_runtime
    from lenbench.registry import recipe_for
    from lenbench.tracking import check_server

    run = check_job(cfg)
    if machine:
        check_runtime(run)
        check_server(run.tracking)
    tokenizer, data = task_data(run, loaded)
    check_task_data(run, data, tokenizer)
    recipe = recipe_for(run, data)
    recipe.check_inputs()
    checkpoint = recipe.find_checkpoint(out_dir) if out_dir is not None else None
    return Job(run, tokenizer, data, recipe, checkpoint)


def task_data(run: RunConfig, loaded: dict | None = None) -> tuple[Any, Any]:
    """(tokenizer, TaskData) of the run: problems loaded, prompted in the model's format, graded after
    its think-close marker; from `loaded` when it holds them for these dataset and model settings."""
    from lenbench.data import load_task_data
    from lenbench.data.prompts import model_prompts
    from lenbench.models import policy_tokenizer

    key = json.dumps([asdict(run.dataset), asdict(run.model)], sort_keys=True, default=str)
    if loaded is not None and key in loaded:
        return loaded[key]
    tokenizer = policy_tokenizer(run)
    data = model_prompts(load_task_data(run.dataset), tokenizer, run.model.chat_template)
    prepared = tokenizer, replace(data, grader=replace(data.grader, think_close=run.model.think_close))
    if loaded is not None:
        loaded[key] = prepared
    return prepared


def check_job(cfg: DictConfig) -> RunConfig:
    """Steps 1 and 2 of preflight: the typed RunConfig of a composed job config, its values and
    combinations checked, and the inputs it names on disk; raises ConfigError naming the bad field."""
    from lenbench.data.benchmarks import check_dataset_files
    from lenbench.models import check_model_source
    from lenbench.registry import METHODS
    from lenbench.tracking import check_store

    run = load_run_config(cfg)
    processes()  # the launcher's task counts, checked
    trains = METHODS[run.method.name].trains
    if trains and run.dataset.adapter == "file" and not run.dataset.train.path:
        raise ConfigError(
            f"method={run.method.name} trains, but dataset={run.dataset.name} has no train split "
            "(dataset.train.path is null); use a dataset with one (e.g. dataset=math_l3to5) or method=base"
        )
    if run.model.source == "testbed" and run.dataset.adapter != "arith":
        raise ConfigError(
            f"model.source=testbed (the arith testbed's own model) cannot read dataset={run.dataset.name} "
            f"(dataset.adapter={run.dataset.adapter}); use a local model (model=local model.path=..., or a "
            "preset such as model=qwen2_5_0_5b_instruct) or an arith dataset (dataset=arith)"
        )
    if trains and run.dataset.adapter == "arith":
        check_train_size(run, run.dataset.train_size, "dataset.train_size")
    if trains and run.trainer.extra:
        from lenbench.train.grpo import check_extra

        check_extra(run.trainer)
    check_dataset_files(run.dataset)
    check_model_source(run)
    check_store(run.tracking)
    return run


def check_train_size(run: RunConfig, problems: int, what: str) -> None:
    """ConfigError unless the train set fills one optimizer step: every process takes
    trainer.prompts_per_step distinct prompts per step, and with fewer GRPO trains 0 steps."""
    needed = run.trainer.prompts_per_step * processes()
    if problems < needed:
        step = f"trainer.prompts_per_step={run.trainer.prompts_per_step}"
        if processes() > 1:
            step += f" x {processes()} processes = {needed}"
        raise ConfigError(
            f"{what}: {problems} training problems, fewer than one optimizer step takes ({step}), so GRPO "
            "would train 0 steps; give the dataset more problems, lower trainer.prompts_per_step, or use method=base"
        )


def check_task_data(run: RunConfig, data, tokenizer) -> None:
    """Step 4 of preflight, the loaded problems against the config, before any model is loaded or run
    recorded: a training method needs a train set of at least one step's prompts; the model's context
    (`model_context`) must hold the longest prompt plus the longest completion."""
    from lenbench.data.prompts import encode_prompts
    from lenbench.registry import METHODS

    trains = METHODS[run.method.name].trains
    if trains and run.dataset.adapter == "file":
        check_train_size(run, len(data.train), f"dataset.train.path={run.dataset.train.path!r}")
    context, source = model_context(run)
    if context is None:
        return
    completion = max(run.trainer.max_completion_length, run.eval_max_new_tokens) if trains else run.eval_max_new_tokens
    for split_name, split in (("eval", data.eval), ("train", data.train)) if trains else (("eval", data.eval),):
        if len(split) == 0:
            continue
        lengths = [len(ids) for ids in encode_prompts(tokenizer, split["prompt"])]
        longest = max(range(len(lengths)), key=lengths.__getitem__)
        prompt = lengths[longest]
        if prompt + completion > context:
            remedy = "raise it" if source.startswith(("model.", "trainer.")) else "use a model with a longer context"
            raise ConfigError(
                f"{source}={context} is shorter than the longest {split_name} prompt (problem "
                f"{split['problem_id'][longest]!r}: {prompt} tokens) plus the longest completion ({completion} tokens: "
                f"trainer.max_completion_length / eval.max_new_tokens) = {prompt + completion}; shorten the "
                f"completions, leave such problems out, or {remedy}"
            )


def model_context(run: RunConfig) -> tuple[int | None, str]:
    """(tokens a sequence may hold, where that number comes from): the testbed's model.max_positions; a
    local model's config.json (max_position_embeddings, or n_positions / seq_length); vLLM's
    trainer.vllm_max_model_length when it is set, vLLM is used and it is shorter. (None, "") when the
    model's config states none."""
    from lenbench.models import local_model_dir

    if run.model.source == "testbed":
        return run.model.max_positions, "model.max_positions"
    context, source = None, ""
    config_file = local_model_dir(run) / "config.json"
    try:
        config = json.loads(config_file.read_text())
    except (OSError, ValueError):
        config = {}
    config = {**config.get("text_config", {}), **config} if isinstance(config.get("text_config"), dict) else config
    for key in ("max_position_embeddings", "n_positions", "seq_length", "max_sequence_length"):
        if isinstance(config.get(key), int) and config[key] > 0:
            context, source = config[key], f"the model's context ({config_file}: {key})"
            break
    uses_vllm = run.trainer.use_vllm or run.eval.backend == "vllm"
    cap = run.trainer.vllm_max_model_length
    if uses_vllm and cap and (context is None or cap < context):
        context, source = cap, "trainer.vllm_max_model_length"
    return context, source


class OutputDirCheck(Callback):
    """Hydra callback: a one-line error, before Hydra creates it, when the run (or sweep) directory
    cannot be written (Hydra would fail with a traceback)."""

    def on_run_start(self, config: DictConfig, **kwargs) -> None:
        _check_output_dir("hydra.run.dir", config)

    def on_multirun_start(self, config: DictConfig, **kwargs) -> None:
        _check_output_dir("hydra.sweep.dir", config)


def _check_output_dir(field: str, config: DictConfig) -> None:
    directory = Path(str(OmegaConf.select(config, field))).expanduser()
    try:
        check_writable_dir(field, str(directory), directory, create=False)  # Hydra creates it
    except ConfigError as error:
        raise SystemExit(f"lenbench: config error: {error}") from None
