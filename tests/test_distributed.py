"""LAPO, LEAD and IAPO on 2 processes (torchrun, gloo on CPU) against 1 process over the same global batches.

One torchrun launch trains every case (tests/distributed_check.py); each process records the global
batch it saw, its rewards, PSI weights, length tables and its local advantages, and every micro-batch
it trained on. One process then replays the same global batches. Every case runs with
gradient_accumulation_steps=2 and num_iterations=2.
"""

import contextlib
import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import distributed_check as harness
import mlflow
import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("distributed")]  # one worker launches torchrun once

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def runs(tmp_path_factory, compose_module):
    from lenbench.config import load_run_config
    from lenbench.testbed.base_model import ensure_base_model

    out = tmp_path_factory.mktemp("distributed")
    run = load_run_config(compose_module(*harness.overrides("lapo_self")))
    ensure_base_model(run.dataset, run.model)  # built once, single-process (a 2-process launch refuses to)
    torchrun = Path(sys.executable).with_name("torchrun")
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": os.pathsep.join(
        [str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])])}
    result = subprocess.run(
        [str(torchrun), "--nproc_per_node", "2", str(REPO / "tests" / "distributed_check.py"), str(out)],
        cwd=out, env=env, capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    ranks = [json.loads((out / f"record-{rank}.json").read_text()) for rank in (0, 1)]
    with contextlib.chdir(out):  # MLflow puts a sqlite store's artifacts under the working directory
        one = {case: harness.run_case(case, out / "one" / case, f"sqlite:///{out / 'one.db'}", world=1,
                                      replay=ranks[0][case]) for case in harness.CASES}
    return out, ranks, one


@pytest.fixture(scope="module")
def compose_module():
    from hydra import compose, initialize_config_dir

    def _compose(*overrides):
        with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
            return compose(config_name="config", overrides=list(overrides))

    return _compose


def _close(a, b, tol=1e-5):
    if isinstance(a, list):
        return len(a) == len(b) and all(_close(x, y, tol) for x, y in zip(a, b, strict=True))
    return a == pytest.approx(b, abs=tol)


@pytest.mark.parametrize("case", list(harness.CASES))
def test_two_processes_compute_what_one_process_computes(runs, case):
    _, ranks, one = runs
    first, second, single = ranks[0][case], ranks[1][case], one[case]
    assert len(first) == len(second) == len(single)  # trainers (LAPO: one per stage)
    for t, (a, b, c) in enumerate(zip(first, second, single, strict=True)):
        assert a["dataset"] == b["dataset"] == c["dataset"], f"trainer {t}: stage-2 prompts differ"
        for g, (x, y, z) in enumerate(zip(a["generations"], b["generations"], c["generations"], strict=True)):
            where = f"trainer {t}, generation {g}"
            assert x["completion_ids"] == y["completion_ids"] == z["completion_ids"], where
            assert _close(x["rewards"], y["rewards"]) and _close(x["rewards"], z["rewards"]), where
            # LEAD: PSI targets, EMA and weights; LAPO: the length table, on every process as on one
            assert x["lead"] == pytest.approx(y["lead"], rel=1e-9) == z["lead"], where
            assert _close(x["reward_weights"], z["reward_weights"]) and _close(y["reward_weights"], z["reward_weights"])
            assert x.get("table") == y.get("table") == z.get("table"), where
            # each process's rows and advantages are its slice of the single process's
            assert x["keys"] + y["keys"] == z["keys"], where
            assert _close(x["advantages"] + y["advantages"], z["advantages"]), where
    if case == "lead":
        assert {"lead/target_c", "lead/w_c", "lead/ema_c"} <= set(single[0]["generations"][0]["lead"])
    if case.startswith("lapo"):
        assert single[0]["generations"][-1]["table"], "stage 1 solved something (the fake grader says so)"


@pytest.mark.parametrize("case", list(harness.CASES))
def test_hooks_run_once_per_generation_and_micro_batches_train_on_their_advantages(runs, case):
    _, ranks, one = runs
    iterations, micro_per_generation = 2, 2 * 2  # num_iterations x steps_per_generation
    for record in [*ranks[0][case], *ranks[1][case], *one[case]]:
        generations, micro = record["generations"], record["micro_batches"]
        assert len(generations) == harness.GENERATIONS_PER_TRAINER
        assert len(micro) == micro_per_generation * len(generations)
        for g, generation in enumerate(generations):
            computed = dict(zip(generation["keys"], generation["advantages"], strict=True))
            trained = micro[g * micro_per_generation : (g + 1) * micro_per_generation]
            keys = [key for batch in trained for key in batch["keys"]]
            assert Counter(keys) == Counter({k: n * iterations for k, n in Counter(generation["keys"]).items()})
            for batch in trained:
                for key, advantages in zip(batch["keys"], batch["advantages"], strict=True):
                    assert _close(advantages, computed[key], tol=1e-6)


def test_only_the_first_process_writes_files_and_logs_to_mlflow(runs):
    out, ranks, _ = runs
    assert [p for p in (out / "rank1").rglob("*") if p.is_file()] == []
    for case in ("lapo_prompt", "lapo_self"):
        saved = json.loads((out / "rank0" / case / "lapo" / "length_table.json").read_text())
        assert saved["lengths"] == ranks[0][case][0]["generations"][-1]["table"]
    mlflow.set_tracking_uri(f"sqlite:///{out / 'mlflow.db'}")
    found = mlflow.search_runs(experiment_names=["distributed"])
    assert sorted(found["tags.mlflow.runName"]) == sorted(harness.CASES)
    assert set(found["status"]) == {"FINISHED"}
    client = mlflow.MlflowClient()
    for run_id, case in zip(found.run_id, found["tags.mlflow.runName"], strict=True):
        # one point per generation batch (TRL logs the reward of the steps that generated), never twice
        steps = [m.step for m in client.get_metric_history(run_id, "train/reward")]
        assert steps == sorted(set(steps)) and len(steps) == harness.GENERATIONS_PER_TRAINER * len(ranks[0][case])
        if case.startswith("lapo"):
            assert [a.path for a in client.list_artifacts(run_id, "lapo")] == ["lapo/length_table.json"]
