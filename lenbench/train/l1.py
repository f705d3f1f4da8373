"""L1 / LCPO recipe: "Think for N tokens." in the prompt, a reward for meeting N, an eval per budget.

Prompts: the instruction of method.mode follows the prompt as the model reads it (after the think
marker of a raw testbed prompt, where LAPO's plan goes too; in the assistant turn of a chat prompt).
N is drawn per visit: the train set holds each prompt `visits` times, visit v asking for
N = visit_budget(seed, prompt, v) (the same in every process), with visits enough that no row is
drawn twice in the run (trainer.max_steps * prompts_per_step * processes draws). The sampler then
shuffles all visits; a prompt's visits are not spread one per epoch as a repeated draw would be.
The reward reads N from the row's `budget` column. Evaluation: the run's own eval asks for the
largest of method.eval_budgets; L1's eval generates again once per budget and logs
`eval/l1/budget_<N>/{accuracy,tokens_mean,deviation,over_budget}` (lenbench.methods.l1.controllability)
and `eval/l1/deviation_mean`. The maths is lenbench.methods.l1.
"""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

from datasets import concatenate_datasets

from lenbench.errors import ConfigError
from lenbench.methods import l1
from lenbench.train.recipes import GRPORecipe
from lenbench.train.rollouts import RolloutReward, eos_token_ids


def budget_split(dataset, method, seed: int, visits: int):
    """`visits` copies of a split, visit v of each prompt asking for its own N (column `budget`)."""

    def ask(row, visit):
        n = l1.visit_budget(seed, row["problem_id"], visit, method.n_lo, method.n_hi)
        return {"prompt": l1.budget_prompt(row["prompt"], method.instruction(n)), "budget": n}

    return concatenate_datasets([dataset.map(ask, fn_kwargs={"visit": v}) for v in range(visits)])


def asked(dataset, method, n: int):
    """Every prompt of a split asking for the same N."""
    return dataset.map(lambda row: {"prompt": l1.budget_prompt(row["prompt"], method.instruction(n)), "budget": n})


def visits_needed(run, prompts: int, processes: int) -> int:
    """Copies of the train set that cover every prompt draw of the run without reusing a row."""
    draws = run.trainer.max_steps * run.trainer.prompts_per_step * processes
    return max(1, math.ceil(draws / max(prompts, 1)))


class L1Reward(RolloutReward):
    """TRL reward function of `method=l1`: against the N in the row's `budget` column."""

    __name__ = "l1"

    def score(self, rollouts, columns, log_metric):
        m, budgets = self.method, columns["budget"]
        deviation = [abs(b - n) for b, n in zip(budgets, rollouts.lengths, strict=True)]
        log_metric("l1/deviation", sum(deviation) / max(len(deviation), 1))
        return l1.rewards(rollouts.lengths, budgets, rollouts.correct, mode=m.mode, alpha=m.alpha, delta=m.delta)


def l1_rewards(run, grader) -> list:
    """`method=l1`: the one LCPO reward."""
    return [L1Reward(run.method, grader, run.trainer.num_generations, eos_token_ids(run))]


class L1Recipe(GRPORecipe):
    """GRPO on budget prompts; evaluated at each of method.eval_budgets."""

    def __init__(self, run, data):
        super().__init__(run, data)
        self.model = self.tokenizer = None

    def check_inputs(self) -> None:
        """The tokenizer must write back each budget number of the instruction (the words around it may be
        unknown to it: the testbed's tokenizer knows `tokens .` only)."""
        from lenbench.models import policy_tokenizer

        tokenizer, m = policy_tokenizer(self.run), self.run.method
        asks = [("method.n_lo", m.n_lo), ("method.n_hi", m.n_hi)]
        asks += [(f"method.eval_budgets[{i}]", n) for i, n in enumerate(m.eval_budgets)]
        for field, n in asks:
            text = tokenizer.decode(tokenizer.encode(m.instruction(n), add_special_tokens=False),
                                    skip_special_tokens=True)
            if str(n) not in text.split():
                raise ConfigError(f"{field}={n}: this model's tokenizer cannot write it in the instruction "
                                  f"{m.instruction(n)!r} (reads back as {text!r}); allowed: numbers it encodes")

    def train_split(self):
        from lenbench.process_group import processes

        visits = visits_needed(self.run, len(self.data.train), processes())
        return budget_split(self.data.train, self.run.method, self.run.seed, visits)

    def train(self, model, tokenizer, out_dir: Path):
        self.model, self.tokenizer = super().train(model, tokenizer, out_dir), tokenizer
        return self.model

    def eval_data(self):
        return asked(self.data.eval, self.run.method, max(self.run.method.eval_budgets))

    def eval_metrics(self, result) -> dict[str, float]:
        """L1's own eval: one sampled generation per budget (greedy off)."""
        from lenbench.eval import evaluate

        if self.model is None:
            return {}
        run, metrics, deviations = self.run, {}, []
        for n in sorted(set(run.method.eval_budgets)):
            budget = evaluate(self.model, self.tokenizer, asked(self.data.eval, run.method, n), self.data.grader,
                              replace(run.eval, greedy=False), run.eval_max_new_tokens, run.seed)
            sampled = budget.samples[budget.samples.decoding == "sample"]
            control = l1.controllability([n] * len(sampled), list(sampled.tokens), list(sampled.correct))[n]
            metrics.update({f"l1/budget_{n}/accuracy": budget.summary["accuracy"],
                            f"l1/budget_{n}/tokens_mean": budget.summary["tokens_mean"],
                            f"l1/budget_{n}/deviation": control["deviation"],
                            f"l1/budget_{n}/over_budget": control["over_budget"]})
            deviations.append(control["deviation"])
        metrics["l1/deviation_mean"] = sum(deviations) / len(deviations)
        return metrics
