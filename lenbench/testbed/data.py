"""Dataset adapter of the arith testbed: RL train set, held-out (or dev) eval set, SFT traces, as TaskData."""

from __future__ import annotations

import hashlib
import random
from dataclasses import replace

from datasets import Dataset

from lenbench.config import DatasetConfig
from lenbench.data.task import TaskData
from lenbench.errors import ConfigError
from lenbench.grading import Grader
from lenbench.testbed.arith import (
    PLAN_PREFIX,
    PLAN_SUFFIX,
    Problem,
    TracePolicy,
    all_problems,
    in_split,
    plan_words,
    sample_split,
    sample_trace,
)


def _rows(problems: list[Problem]) -> dict[str, list]:
    return {
        "prompt": [p.prompt() for p in problems],
        "answer": [str(p.answer) for p in problems],
        "difficulty": [p.difficulty for p in problems],
        "oracle_length": [p.oracle_length for p in problems],
        "problem_id": [p.key for p in problems],
    }


def _sample(cfg: DatasetConfig, count: int, split: str, unique: bool, difficulties=None) -> list[Problem]:
    return sample_split(
        cfg.seed,
        count,
        difficulties or cfg.difficulties,
        cfg.value_max,
        cfg.operand_max,
        split,
        unique,
    )


def eval_problems(cfg: DatasetConfig, split: str = "eval") -> list[Problem]:
    """eval_per_difficulty distinct problems of `split` (eval: held out; dev: carved from the train
    side) for each difficulty, in difficulty order.

    A difficulty whose whole side is smaller (k = 1 on small value ranges) contributes all of its
    problems of that side.
    """
    problems: list[Problem] = []
    for k in cfg.difficulties:
        # each difficulty draws from its own stream so adding difficulties keeps the others fixed
        shifted = replace(cfg, seed=cfg.seed * 1000 + k)
        try:
            problems += _sample(shifted, cfg.eval_per_difficulty, split, unique=True, difficulties=[k])
        except ValueError:
            space = all_problems(k, cfg.value_max, cfg.operand_max)
            side = [p for p in space or [] if in_split(p, split)]
            if space is None or len(side) >= cfg.eval_per_difficulty:
                raise
            if not side:
                side_name = "held-out" if split == "eval" else split
                raise ValueError(f"difficulty {k} has no {side_name} problem at all: the problem space is too "
                                 "small") from None
            random.Random(shifted.seed).shuffle(side)
            problems += side
    return problems


def load_testbed(cfg: DatasetConfig) -> TaskData:
    """Train and eval problems of the testbed. eval_split=dev: evaluation on the dev split (carved
    from the train side) and RL training on the rest of the train side; held-out problems unused."""
    tuning = cfg.eval_split == "dev"
    train = _sample(cfg, cfg.train_size, "train_minus_dev" if tuning else "train", unique=False)
    try:
        held_out = eval_problems(cfg, "dev" if tuning else "eval")
    except ValueError as error:
        raise ConfigError(
            f"dataset.eval_per_difficulty={cfg.eval_per_difficulty} is not possible: {error}; lower it, "
            "or raise dataset.value_max / dataset.operand_max / dataset.min_difficulty"
        ) from None
    return TaskData(
        Dataset.from_dict(_rows(train)), Dataset.from_dict(_rows(held_out)), Grader("exact"), _digest(held_out),
        _digest(train), plan=(" ".join(PLAN_PREFIX), " ".join(PLAN_SUFFIX)),
    )


def _digest(problems: list[Problem]) -> str:
    return hashlib.sha256("\n".join(p.key for p in problems).encode()).hexdigest()[:16]


def trace_policy(cfg: DatasetConfig) -> TracePolicy:
    """The reasoning behaviour the testbed base model is taught (dataset.p_* fields)."""
    return TracePolicy(
        p_slip=cfg.p_slip,
        p_check=cfg.p_check,
        p_check_slip=cfg.p_check_slip,
        p_check_last=cfg.p_check_last,
        p_recheck=cfg.p_recheck,
        p_fix=cfg.p_fix,
        loop_tokens=cfg.loop_tokens,
    )


def sft_dataset(cfg: DatasetConfig, count: int, plan_fraction: float, seed: int) -> Dataset:
    """Prompt/completion traces of the trace policy on train-side problems, for the base model's SFT.

    A `plan_fraction` of the finished traces carry LAPO's plan sentence stating the true number of
    tokens that follow it (EOS included). Its opening words ("I will answer the question with") are
    on the prompt side and the number on the completion side: the model learns to state n when the
    opening is forced (LAPO `self` mode) and never starts a plan unprompted. Looping traces (cut at
    `dataset.loop_tokens`, no EOS) never carry a plan: they have no true length.
    """
    shifted = replace(cfg, seed=cfg.seed + 7919 * (seed + 1))
    problems = _sample(shifted, count, "train", unique=False)
    rng = random.Random(f"{cfg.seed}:{seed}:traces")
    policy = trace_policy(cfg)
    prompts, completions = [], []
    for problem in problems:
        trace = sample_trace(problem, policy, rng)
        words = trace.words
        prompt = problem.prompt()
        if rng.random() < plan_fraction and not trace.truncated:
            plan = plan_words(len(words))
            prompt = f"{prompt} {' '.join(plan[: len(PLAN_PREFIX)])}"
            words = plan[len(PLAN_PREFIX) :] + words
        prompts.append(prompt)
        completions.append(" " + " ".join(words))
    return Dataset.from_dict({"prompt": prompts, "completion": completions})
