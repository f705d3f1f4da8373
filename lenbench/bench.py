"""Benchmarks: seconds per GRPO step and evaluation tokens/s on the default testbed; generation
tokens/s of a model directory; and the tiny real-architecture model they run on.

    python -m lenbench.bench [--steps N] [--eval-problems N] [hydra overrides...]
    python -m lenbench.bench --iapo [--steps N] [hydra overrides...]
    python -m lenbench.bench --methods grpo,kimi,gfpo [--steps N] [hydra overrides...]
    python -m lenbench.bench --vllm [--steps N] [--eval-problems N (0: all)] [hydra overrides...]
    python -m lenbench.bench --iapo-memory [--rollout-tokens 4096 --rollouts 2 --vocab-size 151936]
    python -m lenbench.bench --generate DIR [--batch 8 --new-tokens 64 --repeats 3 --threads N]
    python -m lenbench.bench --build-tiny DIR --data ../shared/data/benchmarks/math_train_l3to5.parquet
        [--arch qwen2|llama] [--vocab-size 4096] [--hidden 64 --layers 2 --heads 4 --kv-heads 2
         --intermediate 256 --max-positions 2048] [--seed 0]

Composes the same config as `lenbench.run` (overrides apply) and runs the same pre-flight checks
(lenbench.preflight), builds or reuses the base model,
then times a short GRPO run (TRL's own `step_time` per step; the first reported apart: it includes
warm-up) and one sampled evaluation pass. `--iapo` instead times GRPO and IAPO with each estimator
on the same config and prints each IAPO step time as a ratio to GRPO's; `--methods` does the same
for any single-stage methods, each with its own rewards and hooks. `--vllm`: the same evaluation of the
base model on both backends (eval tokens/s, engine start-up included; pass@1 and mean tokens with 95%
intervals over problems; the share of greedy completions that are identical) and GRPO seconds per step
with transformers and with vLLM rollouts (trainer.use_vllm). `--iapo-memory`: peak memory and seconds of
IAPO's no-grad passes (policy entropies; the probes, per estimator) on a random Qwen2 with a real
vocabulary, rollouts of --rollout-tokens tokens, at the method's defaults (CPU: peak RSS, each pass in a
fresh process; CUDA: peak allocated). `--generate`: tokens/s of
the transformers generate path on a fixed batch (greedy, exactly --new-tokens tokens per row), on
CPU and, when available, on CUDA; CPU figures depend on torch threads and on what else runs (two
busy processes with 2 threads each on 2 cores run ~20x slower than 1 thread each). `--build-tiny`:
the tiny model of lenbench.model_builders, for CPU checks of the real-model paths. Prints figures;
tracks nothing.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from lenbench.config import compose_config
from lenbench.errors import ConfigError
from lenbench.preflight import preflight

BENCH_QUESTIONS = (
    "What is the sum of the first 10 positive integers?",
    "Solve for $x$: $2x + 3 = 11$.",
    "How many positive divisors does $36$ have?",
    "Compute $\\frac{3}{4} + \\frac{5}{6}$.",
    "What is the remainder when $2^{10}$ is divided by $7$?",
    "Find the area of a circle of radius $3$.",
    "Simplify $\\sqrt{50}$.",
    "What is $15\\%$ of $80$?",
)


def _timed_training(run, data, path, hooks_for=None, recipe=None):
    """A short GRPO run with the correctness reward (hooks optional), or with a recipe's train rows,
    rewards, hooks and aggregation: (seconds of each step as TRL logs them, `step_time`: generation,
    scoring and the backward passes of the step; trained model, tokenizer). The first step includes
    warm-up."""
    import torch

    from lenbench.models import load_model
    from lenbench.train.grpo import build_trainer
    from lenbench.train.rewards import correctness_reward_func

    run = replace(run, trainer=replace(run.trainer, logging_steps=1))  # one step_time per step
    model, tokenizer = load_model(path, run.model.dtype)
    model = model.to("cuda" if torch.cuda.is_available() else "cpu")
    with tempfile.TemporaryDirectory() as scratch:
        if recipe is not None:
            trainer = build_trainer(run, model, tokenizer, recipe.train_split(), recipe.reward_funcs(), Path(scratch),
                                    hooks=recipe.hooks(tokenizer), aggregation=recipe.aggregation)
        else:
            trainer = build_trainer(run, model, tokenizer, data.train, [correctness_reward_func(data.grader)],
                                    Path(scratch), hooks=hooks_for(tokenizer) if hooks_for else None)
        trainer.train()
    seconds = [entry["step_time"] for entry in trainer.state.log_history if "step_time" in entry]
    return seconds, trainer.model, tokenizer


def _steady(seconds: list[float]) -> list[float]:
    return seconds[1:] or seconds


def iapo_ratios(overrides: list[str], steps: int) -> tuple[list[float], dict[str, float]]:
    """GRPO's steady seconds per step, and IAPO's mean steady seconds per step with each estimator,
    on the same config."""
    from lenbench.methods.iapo import ESTIMATORS
    from lenbench.models import policy_path
    from lenbench.train.iapo import IAPOHooks

    base = [*overrides, f"trainer.max_steps={steps}"]
    job = preflight(compose_config([*base, "method=grpo"]))
    grpo, data = job.run, job.data
    path = policy_path(grpo)
    reference = _steady(_timed_training(grpo, data, path)[0])
    iapo = {}
    for estimator in ESTIMATORS:
        run = preflight(compose_config([*base, "method=iapo", f"method.estimator={estimator}"])).run
        seconds = _steady(_timed_training(run, data, path, lambda tok, m=run.method: IAPOHooks(m, tok))[0])
        iapo[estimator] = sum(seconds) / len(seconds)
    return reference, iapo


def method_seconds(overrides: list[str], steps: int, methods: list[str]) -> dict[str, float]:
    """Mean steady seconds per step of each method (its recipe's train rows, rewards, hooks and
    aggregation; grpo first, the reference) on the same config. Single-stage methods only: lapo's two
    stages and base (no training) are refused; thinkprune runs without its stage callback (its first
    stage's limit is trainer.max_completion_length in the testbed defaults)."""
    from lenbench.models import policy_path
    from lenbench.registry import METHODS

    names = ["grpo", *dict.fromkeys(m for m in methods if m != "grpo")]
    for name in names:
        if name not in METHODS or name in ("lapo", "base"):
            allowed = ", ".join(m for m in METHODS if m not in ("lapo", "base"))
            raise ConfigError(f"--methods: {name!r} cannot be timed; allowed: {allowed}")
    base, loaded, path, seconds = [*overrides, f"trainer.max_steps={steps}"], {}, None, {}
    for name in names:
        job = preflight(compose_config([*base, f"method={name}"]), loaded=loaded)
        path = path or policy_path(job.run)
        steady = _steady(_timed_training(job.run, job.data, path, recipe=job.recipe)[0])
        seconds[name] = sum(steady) / len(steady)
    return seconds


def backend_comparison(overrides: list[str], steps: int, eval_problems: int) -> dict:
    """The base model's evaluation on the transformers and vLLM backends, and GRPO steady seconds per
    step without and with vLLM rollouts, on one config (`eval_problems` 0: the whole eval split)."""
    from lenbench.eval import evaluate
    from lenbench.models import load_policy, policy_path
    from lenbench.report.tables import mean_ci

    job = preflight(compose_config([*overrides, "method=grpo", "trainer.use_vllm=true", "eval.backend=vllm",
                                    f"trainer.max_steps={steps}"]))
    run, data = job.run, job.data
    path = policy_path(run)
    problems = data.eval if not eval_problems else data.eval.select(range(min(eval_problems, len(data.eval))))
    model, tokenizer = load_policy(run, path)
    evals = {}
    for backend in ("transformers", "vllm"):
        started = time.perf_counter()
        result = evaluate(model, tokenizer, problems, data.grader, replace(run.eval, backend=backend),
                          run.eval_max_new_tokens, run.seed, model_dir=path)
        seconds = time.perf_counter() - started
        sampled = result.samples[result.samples["decoding"] == "sample"]
        per_problem = sampled.groupby("problem_id")
        evals[backend] = {
            "seconds": seconds,
            "tokens_per_s": result.samples["tokens"].sum() / seconds,
            "pass1": mean_ci(per_problem["correct"].mean()),
            "tokens": mean_ci(per_problem["tokens"].mean()),
            "greedy": result.samples[result.samples["decoding"] == "greedy"].set_index("problem_id")["completion"],
        }
    greedy_t, greedy_v = evals["transformers"].pop("greedy"), evals["vllm"].pop("greedy")
    same = int((greedy_t == greedy_v.reindex(greedy_t.index)).sum()) if len(greedy_t) else 0
    steps_per_backend = {}
    for use_vllm in (False, True):
        training = replace(run, trainer=replace(run.trainer, use_vllm=use_vllm))
        seconds = _steady(_timed_training(training, data, path)[0])
        steps_per_backend["vllm" if use_vllm else "transformers"] = sum(seconds) / len(seconds)
    return {"problems": len(problems), "evals": evals, "greedy_same": same, "greedy_total": len(greedy_t),
            "steps": steps_per_backend, "run": run}


def timed_generate(model, tokenizer, encoded, tokens: int) -> float:
    """Seconds of one greedy generate call producing exactly `tokens` new tokens per row."""
    import torch

    cuda = model.device.type == "cuda"
    if cuda:
        torch.cuda.synchronize()
    start = time.perf_counter()
    with torch.no_grad():
        model.generate(**encoded, do_sample=False, max_new_tokens=tokens, min_new_tokens=tokens,
                       pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id)
    if cuda:
        torch.cuda.synchronize()
    return time.perf_counter() - start


def generation_throughput(model_dir: Path, *, batch: int = 8, new_tokens: int = 64, repeats: int = 3,
                          devices: list[str] | None = None) -> list[dict]:
    """tokens/s of greedy transformers generation, `batch` chat prompts x exactly `new_tokens` tokens
    (EOS suppressed), median of `repeats` timed runs after a warm-up; per device (cpu, cuda if any)."""
    import torch

    from lenbench.data.prompts import chat_prompt
    from lenbench.models import load_model

    devices = devices or ["cpu", *(["cuda"] if torch.cuda.is_available() else [])]
    results = []
    for device in devices:
        model, tokenizer = load_model(Path(model_dir), device=device)
        model.eval()
        prompts = [chat_prompt(tokenizer, BENCH_QUESTIONS[i % len(BENCH_QUESTIONS)]) for i in range(batch)]
        encoded = tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False).to(device)
        timed_generate(model, tokenizer, encoded, 4)  # warm-up
        seconds = statistics.median(timed_generate(model, tokenizer, encoded, new_tokens) for _ in range(repeats))
        results.append({
            "device": device,
            "threads": torch.get_num_threads() if device == "cpu" else None,
            "batch": batch,
            "prompt_tokens": int(encoded["input_ids"].shape[1]),
            "new_tokens": new_tokens,
            "seconds": seconds,
            "tokens_per_s": batch * new_tokens / seconds,
        })
    return results


def iapo_pass_memory(kind: str, rollout_tokens: int, rollouts: int, vocab_size: int, device: str) -> dict:
    """One of IAPO's no-grad passes (`entropies`, `early_exit` or `answer_logprob` probes) at the method's
    defaults (logits_per_pass, probe_batch, stride 1) on a random 2-layer Qwen2 with `vocab_size` tokens:
    `rollouts` rollouts of a 64-token prompt and `rollout_tokens` completion tokens, each ending in the
    answer suffix and a 2-token answer. Returns peak bytes (CPU: the process's peak RSS, so run each kind in a
    fresh process; CUDA: peak allocated), seconds and the mean value (a check that variants agree)."""
    import resource

    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    from lenbench.methods.iapo import IAPOMethodConfig
    from lenbench.train.iapo import policy_entropies
    from lenbench.train.iapo_probe import probe_uncertainty

    defaults = IAPOMethodConfig()
    torch.manual_seed(0)
    config = Qwen2Config(vocab_size=vocab_size, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=rollout_tokens + 128,
                         tie_word_embeddings=True)
    model = Qwen2ForCausalLM(config).eval().to(device)
    generator = torch.Generator().manual_seed(1)
    suffix, eos = [5, 6, 7], 2
    prompts = [torch.randint(10, vocab_size, (64,), generator=generator).tolist() for _ in range(rollouts)]
    completions = [torch.randint(10, vocab_size, (rollout_tokens - 6,), generator=generator).tolist()
                   + suffix + [42, 43, eos] for _ in range(rollouts)]
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    started = time.perf_counter()
    if kind == "entropies":
        batch = {"prompt_ids": torch.tensor(prompts, device=device),
                 "prompt_mask": torch.ones(rollouts, 64, dtype=torch.long, device=device),
                 "completion_ids": torch.tensor(completions, device=device),
                 "completion_mask": torch.ones(rollouts, rollout_tokens, dtype=torch.long, device=device)}
        values = policy_entropies(model, batch, 1.0, defaults.logits_per_pass).flatten().tolist()
    else:
        probed = probe_uncertainty(model, prompts, completions, suffix, kind, probe_batch=defaults.probe_batch,
                                   eos_ids={eos})
        values = [value for row in probed for _, value in row]
    seconds = time.perf_counter() - started
    peak = (torch.cuda.max_memory_allocated() if device == "cuda"
            else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
    return {"kind": kind, "peak_bytes": peak, "seconds": seconds, "mean": sum(values) / len(values)}


def _print_iapo_memory(args) -> None:
    import multiprocessing

    import torch

    device = "cuda" if torch.cuda.is_available() else "cpu"
    what = "peak allocated" if device == "cuda" else "peak RSS of a fresh process"
    print(f"IAPO no-grad passes on {device}: {args.rollouts} rollouts x (64 + {args.rollout_tokens}) tokens, "
          f"vocabulary {args.vocab_size}, random 2-layer Qwen2; {what}")
    for kind in ("entropies", "early_exit", "answer_logprob"):
        call = (kind, args.rollout_tokens, args.rollouts, args.vocab_size, device)
        if device == "cpu":
            with multiprocessing.get_context("spawn").Pool(1) as pool:
                row = pool.apply(iapo_pass_memory, call)
        else:
            row = iapo_pass_memory(*call)
        print(f"iapo {kind}: peak {row['peak_bytes'] / 2**30:.2f} GiB, {row['seconds']:.1f} s, mean {row['mean']:.6f}")


def _print_grpo_and_eval(args) -> None:
    import torch

    from lenbench.eval.backend import Sampling
    from lenbench.eval.transformers_backend import TransformersBackend
    from lenbench.models import policy_path

    job = preflight(compose_config([*args.overrides, f"trainer.max_steps={args.steps}"]))
    run, data = job.run, job.data
    if run.trainer.torch_threads:
        torch.set_num_threads(run.trainer.torch_threads)
    seconds, model, tokenizer = _timed_training(run, data, policy_path(run))
    steady = _steady(seconds)
    device = next(model.parameters()).device.type
    params = sum(p.numel() for p in model.parameters())

    prompts = list(data.eval["prompt"])[: args.eval_problems]
    started = time.perf_counter()
    sampling = Sampling(run.eval.samples_per_problem, True, run.eval.temperature, run.eval.top_p,
                        run.eval_max_new_tokens)
    completions = TransformersBackend(model, tokenizer, run.eval.batch_size, run.eval.decode_loop).generate(
        prompts, sampling, "bench: eval")
    eval_seconds = time.perf_counter() - started
    tokens = sum(c.tokens for row in completions for c in row)

    rollouts = run.trainer.prompts_per_step * run.trainer.num_generations
    print(f"device={device} threads={torch.get_num_threads()} model={params / 1e6:.2f}M params")
    print(f"grpo: {len(seconds)} steps of {run.trainer.prompts_per_step} prompts x "
          f"{run.trainer.num_generations} rollouts ({rollouts}), max {run.trainer.max_completion_length} tokens")
    print(f"grpo: first step {seconds[0]:.2f} s; steady {sum(steady) / len(steady):.2f} s/step "
          f"(min {min(steady):.2f}, max {max(steady):.2f})")
    print(f"eval: {len(prompts)} problems x {run.eval.samples_per_problem} samples, {tokens} tokens in "
          f"{eval_seconds:.1f} s = {tokens / eval_seconds:.0f} tokens/s")


def _print_vllm(args) -> None:
    import torch

    figures = backend_comparison(args.overrides, args.steps, args.eval_problems)
    run = figures["run"]
    print(f"threads={torch.get_num_threads()} eval: {figures['problems']} problems x {run.eval.samples_per_problem} "
          f"samples + greedy, max {run.eval_max_new_tokens} tokens; grpo: {args.steps} steps of "
          f"{run.trainer.prompts_per_step * run.trainer.num_generations} rollouts")
    print("| backend | eval s (start-up incl.) | eval tokens/s | pass@1 +- 95% CI | tokens +- 95% CI | grpo s/step |")
    print("|:--|--:|--:|--:|--:|--:|")
    for backend, row in figures["evals"].items():
        (p, p_ci), (t, t_ci) = row["pass1"], row["tokens"]
        print(f"| {backend} | {row['seconds']:.1f} | {row['tokens_per_s']:.0f} | {p:.3f} +- {p_ci:.3f} | "
              f"{t:.1f} +- {t_ci:.1f} | {figures['steps'][backend]:.2f} |")
    print(f"greedy completions identical on both backends: {figures['greedy_same']} of {figures['greedy_total']}")


def _print_iapo(args) -> None:
    reference, iapo = iapo_ratios(args.overrides, args.steps)
    grpo_mean = sum(reference) / len(reference)
    print(f"grpo: {grpo_mean:.2f} s/step ({len(reference)} steady steps)")
    for estimator, mean in iapo.items():
        print(f"iapo {estimator}: {mean:.2f} s/step = {mean / grpo_mean:.2f}x grpo")


def _print_methods(args) -> None:
    seconds = method_seconds(args.overrides, args.steps, [m for m in args.methods.split(",") if m])
    for name, mean in seconds.items():
        print(f"{name}: {mean:.2f} s/step = {mean / seconds['grpo']:.2f}x grpo")


def _print_generation(args) -> None:
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    for row in generation_throughput(args.generate, batch=args.batch, new_tokens=args.new_tokens,
                                     repeats=args.repeats):
        threads = f", {row['threads']} threads" if row["threads"] else ""
        print(
            f"[lenbench] {row['device']}{threads}: {row['tokens_per_s']:.0f} tokens/s "
            f"(batch {row['batch']} x {row['new_tokens']} new tokens after {row['prompt_tokens']} prompt "
            f"tokens, {row['seconds']:.3f} s, median of {args.repeats})"
        )


def _print_tiny_build(args) -> None:
    from lenbench.model_builders import build_tiny_model

    if not args.data:
        raise ConfigError("--build-tiny needs --data (the math data file whose problem texts train the tokenizer)")
    info = build_tiny_model(args.data, args.build_tiny, arch=args.arch, vocab_size=args.vocab_size,
                            hidden=args.hidden, layers=args.layers, heads=args.heads, kv_heads=args.kv_heads,
                            intermediate=args.intermediate, max_positions=args.max_positions, seed=args.seed)
    print(
        f"[lenbench] wrote {info['out']}: {info['arch']} model, {info['params']:,} params, vocab {info['vocab_size']} "
        f"(byte-level BPE on {info['texts']} problems of {info['data']}), {info['seconds']:.1f} s"
    )


def main(argv: list[str] | None = None) -> int:
    from lenbench.model_builders import ARCHS

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=6, help="GRPO steps to time (default 6)")
    parser.add_argument("--eval-problems", type=int, default=100,
                        help="eval problems to generate for (default 100; --vllm: 0 = all)")
    parser.add_argument("--iapo", action="store_true", help="time IAPO (each estimator) against GRPO instead")
    parser.add_argument("--methods", help="time these methods (comma-separated) against GRPO instead, e.g. "
                        "grpo,kimi,gfpo: steady seconds per step and the ratio to GRPO's")
    parser.add_argument("--vllm", action="store_true", help="compare the transformers and vLLM backends instead: "
                        "eval tokens/s, pass@1 and tokens with intervals, greedy agreement, GRPO s/step")
    parser.add_argument("--iapo-memory", action="store_true", help="peak memory of IAPO's no-grad passes instead "
                        "(entropies, probes) at a real vocabulary")
    parser.add_argument("--rollout-tokens", type=int, default=4096, help="--iapo-memory: completion tokens (4096)")
    parser.add_argument("--rollouts", type=int, default=2, help="--iapo-memory: rollouts (default 2)")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides, as for lenbench.run")
    generation = parser.add_argument_group("generation tokens/s of a model directory")
    generation.add_argument("--generate", type=Path, metavar="DIR", help="time generation of the model in DIR instead")
    generation.add_argument("--batch", type=int, default=8, help="prompts per generate call (default 8)")
    generation.add_argument("--new-tokens", type=int, default=64, help="generated tokens per prompt (default 64)")
    generation.add_argument("--repeats", type=int, default=3, help="timed runs, median reported (default 3)")
    generation.add_argument("--threads", type=int, help="torch CPU threads (default: torch's)")
    tiny = parser.add_argument_group("the tiny real-architecture model (lenbench.model_builders)")
    tiny.add_argument("--build-tiny", type=Path, metavar="DIR", help="build the tiny model into DIR instead")
    tiny.add_argument("--data", type=Path, help="math data file whose problem texts train the tokenizer")
    tiny.add_argument("--arch", choices=ARCHS, default="qwen2")
    tiny.add_argument("--vocab-size", type=int, help="vocabulary size (default 4096; --iapo-memory: 151936)")
    tiny.add_argument("--hidden", type=int, default=64)
    tiny.add_argument("--layers", type=int, default=2)
    tiny.add_argument("--heads", type=int, default=4)
    tiny.add_argument("--kv-heads", type=int, default=2)
    tiny.add_argument("--intermediate", type=int, default=256)
    tiny.add_argument("--max-positions", type=int, default=2048)
    tiny.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.vocab_size is None:
        args.vocab_size = 151936 if args.iapo_memory else 4096  # --iapo-memory: Qwen2's vocabulary
    command = (_print_tiny_build if args.build_tiny else _print_generation if args.generate
               else _print_vllm if args.vllm else _print_iapo if args.iapo
               else _print_iapo_memory if args.iapo_memory
               else _print_methods if args.methods else _print_grpo_and_eval)
    try:
        command(args)
    except ConfigError as error:
        print(f"lenbench bench: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
