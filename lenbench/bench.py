"""Benchmark: seconds per GRPO step and evaluation tokens/s on the default testbed.

    python -m lenbench.bench [--steps N] [--eval-problems N] [hydra overrides...]
    python -m lenbench.bench --iapo [--steps N] [hydra overrides...]

Composes the same config as `lenbench.run` (overrides apply) and runs the same pre-flight checks
(lenbench.preflight), builds or reuses the base model,
then times a short GRPO run (first step reported apart: it includes warm-up) and one sampled
evaluation pass. `--iapo` instead times GRPO and IAPO with each estimator on the same config and
prints each IAPO step time as a ratio to GRPO's. Prints figures; tracks nothing.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from lenbench.config import compose_config  # noqa: E402  (after the offline switch)
from lenbench.preflight import preflight  # noqa: E402


def _timed_training(run, data, path, hooks_for=None):
    """A short GRPO run with the correctness reward (hooks optional): (seconds of each step, trained
    model, tokenizer). The first step includes warm-up."""
    import torch

    from lenbench.models import load_model
    from lenbench.tracking import StepTimer
    from lenbench.train.grpo import build_trainer
    from lenbench.train.rewards import correctness_reward_func

    model, tokenizer = load_model(path, run.model.dtype)
    model = model.to("cuda" if torch.cuda.is_available() else "cpu")
    timer = StepTimer()
    with tempfile.TemporaryDirectory() as scratch:
        trainer = build_trainer(run, model, tokenizer, data.train, [correctness_reward_func(data.grader)],
                                Path(scratch), callbacks=[timer], hooks=hooks_for(tokenizer) if hooks_for else None)
        trainer.train()
    return timer.seconds, trainer.model, tokenizer


def _steady(seconds: list[float]) -> list[float]:
    return seconds[1:] or seconds


def iapo_ratios(overrides: list[str], steps: int) -> None:
    """Print IAPO's steady seconds per step (each estimator) against GRPO's on the same config."""
    from lenbench.methods.iapo import ESTIMATORS
    from lenbench.models import policy_path
    from lenbench.train.iapo import IAPOHooks

    base = [*overrides, f"trainer.max_steps={steps}"]
    job = preflight(compose_config([*base, "method=grpo"]))
    grpo, data = job.run, job.data
    path = policy_path(grpo)
    reference = _steady(_timed_training(grpo, data, path)[0])
    grpo_mean = sum(reference) / len(reference)
    print(f"grpo: {grpo_mean:.2f} s/step ({len(reference)} steady steps)")
    for estimator in ESTIMATORS:
        run = preflight(compose_config([*base, "method=iapo", f"method.estimator={estimator}"])).run
        seconds = _steady(_timed_training(run, data, path, lambda tok, m=run.method: IAPOHooks(m, tok))[0])
        mean = sum(seconds) / len(seconds)
        print(f"iapo {estimator}: {mean:.2f} s/step = {mean / grpo_mean:.2f}x grpo")


def main(argv: list[str] | None = None) -> None:
    import torch

    from lenbench.evaluate import generate
    from lenbench.models import policy_path

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=6, help="GRPO steps to time (default 6)")
    parser.add_argument("--eval-problems", type=int, default=100, help="eval problems to generate for (default 100)")
    parser.add_argument("--iapo", action="store_true", help="time IAPO (each estimator) against GRPO instead")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides, as for lenbench.run")
    args = parser.parse_args(argv)
    if args.iapo:
        iapo_ratios(args.overrides, args.steps)
        return

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
    completions = generate(
        model, tokenizer, prompts, num_samples=run.eval.samples_per_problem, do_sample=True,
        temperature=run.eval.temperature, top_p=run.eval.top_p, max_new_tokens=run.eval_max_new_tokens,
        batch_size=run.eval.batch_size, desc="bench: eval",
    )
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


if __name__ == "__main__":
    main()
