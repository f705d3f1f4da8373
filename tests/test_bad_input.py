"""Bad input fails fast, before any compute and before an MLflow run exists, with one line naming the
field and what is allowed: tracking stores, data files, model directories, seeds, combinations."""

import ipaddress
import json
import re
import socket
import subprocess
import sys
import time
from dataclasses import fields, replace
from pathlib import Path

import mlflow
import pytest

import lenbench.run as entry
from lenbench.config import ModelConfig, RunConfig, TrackingConfig, TrainerConfig, load_run_config
from lenbench.errors import ConfigError
from lenbench.preflight import check_job
from lenbench.registry import METHODS
from lenbench.store_lock import store_setup_lock
from lenbench.tracking import check_experiment, check_server, check_store, tracked_run

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def blocker(tmp_path) -> Path:
    """A plain file: no directory can be made under it, even by root (who may write anywhere else)."""
    path = tmp_path / "blocker"
    path.write_text("a file, not a directory")
    return path


def _no_runs(uri: str) -> bool:
    """True when the store holds no run at all (or does not exist)."""
    database = Path(uri.removeprefix("sqlite:///"))
    if not database.exists():
        return True
    mlflow.set_tracking_uri(uri)
    return mlflow.search_runs(search_all_experiments=True).empty


# --- tracking store -------------------------------------------------------------------------------


def test_an_unwritable_sqlite_store_fails_at_once_naming_tracking_uri(blocker):
    uri = f"sqlite:///{blocker / 'sub' / 'mlflow.db'}"
    with pytest.raises(ConfigError, match=r"tracking\.uri=.*blocker/sub.* is not writable"):
        check_store(TrackingConfig(uri=uri))
    started = time.perf_counter()
    with pytest.raises(ConfigError, match="cannot create its lock file"):  # the lock no longer waits 600 s
        store_setup_lock(uri)
    assert time.perf_counter() - started < 5


def test_a_writable_sqlite_store_passes_and_is_not_created_by_the_check(tmp_path):
    database = tmp_path / "new" / "mlflow.db"
    check_store(TrackingConfig(uri=f"sqlite:///{database}"))
    assert not database.exists()


def test_an_unknown_store_scheme_lists_the_schemes_mlflow_has():
    from mlflow.tracking._tracking_service.utils import _tracking_store_registry

    with pytest.raises(ConfigError) as error:
        check_store(TrackingConfig(uri="nosuch://somewhere"))
    message = str(error.value)
    assert "tracking.uri='nosuch://somewhere'" in message and "'nosuch'" in message
    for scheme in ("sqlite", "http", "file"):
        _tracking_store_registry.get_store_builder(f"{scheme}://x")  # MLflow has it...
        assert scheme in message  # ...so the message offers it


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_an_unreachable_tracking_server_fails_within_the_probe():
    uri = f"http://127.0.0.1:{_free_port()}"  # nothing listens there
    started = time.perf_counter()
    with pytest.raises(ConfigError, match=re.escape(f"tracking.uri='{uri}': no tracking server answers")):
        check_server(TrackingConfig(uri=uri), timeout=2.0)
    assert time.perf_counter() - started < 5


def test_a_listening_tracking_server_passes_the_probe():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        check_server(TrackingConfig(uri=f"http://127.0.0.1:{server.getsockname()[1]}"), timeout=2.0)


def test_a_deleted_experiment_is_named_and_gets_no_run(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    experiment_id = mlflow.create_experiment("gone")
    mlflow.delete_experiment(experiment_id)
    store = TrackingConfig(uri=uri, experiment="gone")
    with pytest.raises(ConfigError, match=f"tracking.experiment='gone' is a deleted experiment.*-x {experiment_id}"):
        check_experiment(store)
    with pytest.raises(ConfigError, match="deleted experiment"):
        with tracked_run(store, "x", {}, {}, ""):
            pass
    assert _no_runs(uri)


# --- config values --------------------------------------------------------------------------------


@pytest.mark.parametrize("override, key", [("+seeed=5", "seeed"), ("+trainr.max_steps=5", "trainr")])
def test_an_unknown_top_level_key_is_named_with_the_allowed_keys(compose, override, key):
    with pytest.raises(ConfigError) as error:
        load_run_config(compose("+experiment=micro", override))
    message = str(error.value)
    assert f"unknown top-level key '{key}'" in message
    assert all(part.name in message for part in fields(RunConfig))


@pytest.mark.parametrize("override, start, allowed", [
    ("trainer.max_steps=abc", "invalid config trainer.max_steps: Value 'abc' of type 'str' could not be", None),
    ("method=lead method.w_min=abc", "invalid config method.w_min: Value 'abc'", None),
    ("trainer.nosuch=1", "unknown key trainer.nosuch: Key 'nosuch' not in 'TrainerConfig'", TrainerConfig),
    ("model.hidden_sise=32", "unknown key model.hidden_sise", ModelConfig),
    ("method=nosuch", "In 'config': Could not find 'method/nosuch' Available options in 'method': ", "methods"),
])
def test_a_composition_error_on_the_command_line_is_one_line(cli, override, start, allowed):
    # Hydra refuses these while it composes (the schemas are typed), before lenbench's code runs; its own
    # report of them is several lines
    result = cli(*override.split(), "tracking.uri=sqlite:///mlflow.db")
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"lenbench: config error: {start}"), result.stderr[-2000:]
    if allowed == "methods":  # every method lenbench registers is offered (not those tests register here)
        shipped = [name for name, spec in METHODS.items() if spec.config_class.__module__.startswith("lenbench.")]
        assert len(shipped) >= 13 and all(f" {name}" in lines[0] for name in shipped)
    elif allowed is not None:
        assert all(f.name in lines[0] for f in fields(allowed))
    assert "Config search path" not in lines[0]


def test_hydra_full_error_set_by_the_user_still_gives_hydras_trace(cli, monkeypatch):
    monkeypatch.setenv("HYDRA_FULL_ERROR", "1")
    result = cli("trainer.max_steps=abc")
    assert result.returncode == 1 and "Traceback" in result.stderr and "lenbench: config error" not in result.stderr


@pytest.mark.parametrize("tag", ["method", "seed", "eval_hash", "heartbeat"])
def test_a_user_tag_named_like_lenbenchs_own_is_refused(compose, tag):
    with pytest.raises(ConfigError, match=rf"^tracking.tags.{re.escape(tag)}: .*reserved: method, dataset, seed"):
        load_run_config(compose("+experiment=micro", f"+tracking.tags.{tag}=x"))
    load_run_config(compose("+experiment=micro", "+tracking.tags.team=x"))  # any other name is free


@pytest.mark.parametrize("value", ["-1", "1.7", "abc", "true", "4294967296"])
def test_a_seed_must_be_a_non_negative_integer(compose, value):
    with pytest.raises(ConfigError, match="^seed="):
        load_run_config(compose("+experiment=micro", f"seed={value}"))


def test_a_valid_seed_is_kept_exactly(compose):
    assert load_run_config(compose("+experiment=micro", "seed=4294967295")).seed == 2**32 - 1


def test_an_unknown_lr_scheduler_lists_every_transformers_scheduler(compose):
    from transformers.trainer_utils import SchedulerType

    with pytest.raises(ConfigError, match="trainer.lr_scheduler_type='no_such' is not a known option") as error:
        load_run_config(compose("+experiment=micro", "trainer.lr_scheduler_type=no_such"))
    assert all(repr(s.value) in str(error.value) for s in SchedulerType)
    for scheduler in SchedulerType:
        assert load_run_config(compose("+experiment=micro", f"trainer.lr_scheduler_type={scheduler.value}"))


# --- train set size -------------------------------------------------------------------------------


def test_an_arith_train_set_smaller_than_a_step_is_refused_for_training_only(compose):
    step = load_run_config(compose("+experiment=micro")).trainer.prompts_per_step
    too_small = f"dataset.train_size={step - 1}"
    with pytest.raises(ConfigError, match=f"dataset.train_size: {step - 1} training problems.*prompts_per_step={step}"):
        check_job(compose("+experiment=micro", "method=grpo", too_small))
    assert check_job(compose("+experiment=micro", "method=base", too_small)).method.name == "base"
    assert check_job(compose("+experiment=micro", "method=grpo", f"dataset.train_size={step}"))


def test_more_processes_need_more_train_problems(compose, monkeypatch):
    step = load_run_config(compose("+experiment=micro")).trainer.prompts_per_step
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(ConfigError, match=f"x 2 processes = {2 * step}"):
        check_job(compose("+experiment=micro", "method=grpo", f"dataset.train_size={2 * step - 1}"))


def _eval_file(tmp_path) -> Path:
    path = tmp_path / "eval.jsonl"
    path.write_text("".join(json.dumps({"problem": f"{n}+1?", "answer": str(n + 1)}) + "\n" for n in range(3)))
    return path


@pytest.mark.parametrize("rows, extra", [
    ([], ()),  # an empty file
    ([{"problem": "1+1?"}, {"problem": "2+2?"}, {"problem": "3+3?"}], ("dataset.skip_invalid=true",)),  # all invalid
])
def test_a_file_train_set_smaller_than_a_step_fails_before_a_run(compose, tmp_path, monkeypatch, tiny_dir, rows, extra):
    monkeypatch.chdir(tmp_path)
    train = tmp_path / "train.jsonl"
    train.write_text("".join(json.dumps(row) + "\n" for row in rows))
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    cfg = compose("+experiment=micro", "method=grpo", "model=local", f"model.path={tiny_dir}", "dataset=file",
                  f"dataset.eval.path={_eval_file(tmp_path)}", f"dataset.train.path={train}", f"tracking.uri={uri}",
                  *extra)
    with pytest.raises(ConfigError, match=r"dataset\.train\.path=.*train\.jsonl.*: 0 training problems"):
        entry.run_job(cfg)
    assert _no_runs(uri)


# --- data files and model directories -------------------------------------------------------------


@pytest.mark.parametrize("name, content, message", [
    ("bad.parquet", b"not a parquet file", "not a readable parquet file"),
    ("latin1.jsonl", '{"problem": "caf\u00e9?", "answer": "1"}\n'.encode("latin-1"), "not UTF-8 text"),
    ("latin1.json", '[{"problem": "caf\u00e9?", "answer": "1"}]'.encode("latin-1"), "not UTF-8 text"),
])
def test_an_unreadable_data_file_is_one_line_naming_it(compose, tmp_path, name, content, message):
    from lenbench.data import load_task_data

    path = tmp_path / name
    path.write_bytes(content)
    run = load_run_config(compose("method=base", "dataset=file", f"dataset.eval.path={path}"))
    with pytest.raises(ConfigError, match=f"{re.escape(str(path))}: {message}") as error:
        load_task_data(run.dataset)
    assert "\n" not in str(error.value)


def _copy_without(source: Path, target: Path, pattern: str) -> Path:
    import shutil

    shutil.copytree(source, target)
    for path in target.glob(pattern):
        path.unlink()
    return target


def test_a_model_directory_without_a_tokenizer_is_refused_up_front(compose, tmp_path, tiny_dir):
    model = _copy_without(tiny_dir, tmp_path / "model", "tokenizer*")
    with pytest.raises(ConfigError, match=r"model\.path=.*has no loadable tokenizer"):
        check_job(compose("method=base", "model=local", f"model.path={model}"))


def test_a_model_directory_without_weights_fails_before_a_run_exists(compose, tmp_path, monkeypatch, tiny_dir):
    monkeypatch.chdir(tmp_path)
    model = _copy_without(tiny_dir, tmp_path / "model", "*.safetensors")
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    with pytest.raises(ConfigError, match=r"model\.path=.*has no model weights \(none of model\.safetensors"):
        entry.run_job(compose("+experiment=micro", "method=base", "model=local", f"model.path={model}",
                              f"tracking.uri={uri}"))
    assert _no_runs(uri)


def test_a_sharded_model_with_a_missing_shard_is_refused(compose, tmp_path, tiny_dir):
    model = _copy_without(tiny_dir, tmp_path / "model", "*.safetensors")
    index = {"metadata": {}, "weight_map": {"a.weight": "model-00001-of-00002.safetensors",
                                            "b.weight": "model-00002-of-00002.safetensors"}}
    (model / "model.safetensors.index.json").write_text(json.dumps(index))
    (model / "model-00001-of-00002.safetensors").write_bytes((tiny_dir / "model.safetensors").read_bytes())
    with pytest.raises(ConfigError, match="1 weight shard.*missing.*model-00002-of-00002"):
        check_job(compose("method=base", "model=local", f"model.path={model}"))


# --- combinations ---------------------------------------------------------------------------------


@pytest.mark.parametrize("dataset", ["math500", "gsm8k"])
def test_the_testbed_model_on_a_file_dataset_is_refused(compose, dataset):
    with pytest.raises(ConfigError, match=f"model.source=testbed .* cannot read dataset={dataset}"):
        check_job(compose("method=base", "model=arith", f"dataset={dataset}"))


def test_max_positions_shorter_than_prompt_plus_completion_names_both(compose, tmp_path, monkeypatch):
    from lenbench.data import load_task_data
    from lenbench.testbed.tokenizer import build_tokenizer

    monkeypatch.chdir(tmp_path)
    run = load_run_config(compose("+experiment=micro", "method=base"))
    data = load_task_data(run.dataset)
    tokenizer = build_tokenizer(run.dataset.number_max)
    prompt = max(len(tokenizer(text)["input_ids"]) for text in data.eval["prompt"])
    completion = run.eval_max_new_tokens
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    short = prompt + completion - 1  # holds the completion alone, not the prompt too
    cfg = compose("+experiment=micro", "method=base", f"model.max_positions={short}", f"tracking.uri={uri}")
    names_both = rf"model\.max_positions={short} .*: {prompt} tokens\).*\({completion} tokens"
    with pytest.raises(ConfigError, match=names_both):
        entry.run_job(cfg)
    assert _no_runs(uri)
    from lenbench.preflight import check_task_data

    check_task_data(replace(run, model=replace(run.model, max_positions=prompt + completion)), data, tokenizer)


def test_a_prompt_longer_than_a_real_models_context_names_the_problem(compose, tmp_path, monkeypatch, tiny_dir):
    from lenbench.preflight import preflight

    monkeypatch.chdir(tmp_path)
    context = json.loads((tiny_dir / "config.json").read_text())["max_position_embeddings"]
    rows = [{"problem": "What is 1 + 1?", "answer": "2", "id": "short"},
            {"problem": "Add up " + " + ".join(["1"] * context) + ".", "answer": str(context), "id": "long one"}]
    data = tmp_path / "eval.jsonl"
    data.write_text("".join(json.dumps(row) + "\n" for row in rows))
    job = ["+experiment=micro", "method=base", "model=local", f"model.path={tiny_dir}", "dataset=file",
           f"dataset.eval.path={data}", "dataset.eval.fields.id=id"]
    message = (rf"^the model's context \({re.escape(str(tiny_dir))}/config.json: max_position_embeddings\)={context} "
               r"is shorter than the longest eval prompt \(problem 'long one': \d+ tokens\) plus the longest")
    with pytest.raises(ConfigError, match=message):
        preflight(compose(*job), machine=False)
    preflight(compose(*job, "dataset.limit=1"), machine=False)  # the short problem alone fits
    with pytest.raises(ConfigError, match=r"^trainer.vllm_max_model_length=16 is shorter than the longest eval prompt"):
        preflight(compose(*job, "dataset.limit=1", "eval.backend=vllm", "trainer.vllm_max_model_length=16"),
                  machine=False)


# --- scratch of killed builds ---------------------------------------------------------------------


def test_a_build_killed_with_sigkill_leaves_scratch_that_the_next_build_removes(compose, tmp_path):
    from lenbench.testbed.base_model import MARKER, base_model_dir, ensure_base_model

    overrides = ["+experiment=micro", f"model.cache_dir={tmp_path}", "model.sft_examples=64", "model.sft_seed=777"]
    run = load_run_config(compose(*overrides))
    target = base_model_dir(run.dataset, run.model)
    other = target.parent / ".build-0123456789abcdef-other"  # another entry's build: not ours to remove
    other.mkdir(parents=True)
    code = ("import sys; from lenbench.config import compose_run; from lenbench.testbed.base_model import "
            "ensure_base_model; run = compose_run(sys.argv[1:]); ensure_base_model(run.dataset, run.model)")
    builder = subprocess.Popen([sys.executable, "-c", code, *overrides], cwd=REPO,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 300
        while not list(target.parent.glob(f".build-{target.name}-*")):
            assert builder.poll() is None and time.time() < deadline, "the build ended before its scratch appeared"
            time.sleep(0.05)
    finally:
        builder.kill()  # SIGKILL: the build cannot clean up
        builder.wait()
    assert list(target.parent.glob(f".build-{target.name}-*")) and not (target / MARKER).exists()
    ensure_base_model(run.dataset, run.model)
    assert (target / MARKER).is_file()
    assert not list(target.parent.glob(f".build-{target.name}-*"))
    assert other.is_dir()


# --- output directory (a Hydra callback, so through the command) ----------------------------------


def test_an_unwritable_run_directory_is_one_line_before_hydra_creates_it(cli, blocker):
    result = cli("+experiment=micro", "method=base", f"hydra.run.dir={blocker / 'run'}")
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert f"lenbench: config error: hydra.run.dir='{blocker / 'run'}'" in result.stderr
    assert "is not writable" in result.stderr.strip().splitlines()[-1]


def test_a_symlink_loop_as_run_directory_is_one_line(cli, tmp_path):
    loop = tmp_path / "loop"
    loop.symlink_to(loop)
    result = cli("+experiment=micro", "method=base", f"hydra.run.dir={loop / 'run'}")
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        f"lenbench: config error: hydra.run.dir='{loop / 'run'}': {loop} is a dangling symlink or a symlink loop")


def test_an_unwritable_sqlite_store_through_the_command_fails_fast(cli, blocker):
    started = time.perf_counter()
    result = cli("+experiment=micro", "method=base", f"tracking.uri=sqlite:///{blocker / 'sub' / 'mlflow.db'}",
                 timeout=300)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("lenbench: config error: tracking.uri=")
    assert time.perf_counter() - started < 300  # it waited 600 s in the lock before


# --- the vLLM server binds loopback ---------------------------------------------------------------


def test_the_vllm_server_recipe_and_default_host_are_loopback(compose):
    run = load_run_config(compose("trainer=gpu_vllm_server"))
    assert ipaddress.ip_address(run.trainer.vllm_server_host).is_loopback
    for doc in (REPO / "README.md", REPO / "conf" / "trainer" / "gpu_vllm_server.yaml"):
        text = doc.read_text().replace("\\\n", " ")
        commands = [line for line in text.splitlines() if "trl vllm-serve --" in line]
        assert commands, doc
        for command in commands:
            host = re.search(r"--host (\S+)", command)
            assert host and ipaddress.ip_address(host.group(1)).is_loopback, (doc, command)
