"""LAPO, LEAD and IAPO trained through their recipes, recording what each process computed.

    torchrun --nproc_per_node 2 tests/distributed_check.py OUT      # 2 processes, gloo on CPU

Used by tests/test_distributed.py: the 2-process launch writes OUT/record-<rank>.json; the test then
replays the same global batches in one process (`run_case(..., replay=...)`) and compares. Every case
trains with gradient_accumulation_steps=2 and num_iterations=2, so the records also show how often the
hooks ran and which advantages each micro-batch trained on.

Test scaffolding, not lenbench: grading is replaced by a rule on the completion text (the micro model
is never right, and the checks need both outcomes); the learning rate is 0 and the policy float64 (both
runs keep the same policy, and batches padded differently give the same IAPO scores); generation is
recorded (2 processes) or replayed (1 process) by overriding TRL's `_generate_single_turn`.
"""

from __future__ import annotations

import json
import os
import sys
from contextlib import ExitStack, contextmanager
from dataclasses import replace
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
COMMON = (
    "+experiment=micro", "model.plan_fraction=0.5", "trainer.max_steps=4", "trainer.gradient_accumulation_steps=2",
    "trainer.num_iterations=2", "method.discovery_steps=4", "method.internalization_steps=4",
)
CASES = {
    "lead": ("method=lead", "method.whiten=token", "method.efficiency_mode=sym", "trainer.max_completion_length=160"),
    "iapo": ("method=iapo",),
    "lapo_prompt": ("method=lapo", "method.plan_mode=prompt"),
    "lapo_self": ("method=lapo", "method.plan_mode=self"),
    "gfpo": ("method=gfpo", "method.keep=1"),  # keep the shorter of each micro group of 2
    "dler": ("method=dler", "method.dynamic_sampling=false"),  # batch whitening over every process's tokens
}
GENERATIONS_PER_TRAINER = 2  # 4 steps x 2 micro-batches / (2 micro-batches per generation x 2 iterations)


def overrides(case: str) -> list[str]:
    method = CASES[case][0]
    knobs = [o for o in COMMON if not o.startswith("method.") or method == "method=lapo"]
    return [*knobs, *CASES[case]]


def fake_grade(completions, answers, grader, units=None, alternatives=None):
    """Correct iff the completion's length in characters is not a multiple of 3 (both outcomes occur)."""
    return [len(text) % 3 != 0 for text in completions]


def row_key(prompt: list[int], completion: list[int]) -> str:
    return f"{' '.join(map(str, prompt))}|{' '.join(map(str, completion))}"


def _rows(batch: dict) -> tuple[list[str], list]:
    """(key, advantages over the valid completion tokens) of each row of a padded batch."""
    keys, values = [], []
    for p_ids, p_mask, c_ids, c_mask, adv in zip(batch["prompt_ids"], batch["prompt_mask"], batch["completion_ids"],
                                                 batch["completion_mask"], batch["advantages"], strict=True):
        n = int(c_mask.sum())
        keys.append(row_key(p_ids[p_mask.bool()].tolist(), c_ids[:n].tolist()))
        values.append(adv[:n].tolist() if adv.dim() else float(adv))
    return keys, values


def recording_trainer(base, trainers: list, replay: list | None):
    """A subclass of the engine's trainer that appends one record per trainer it builds to `trainers`."""
    from accelerate.utils import gather_object

    class Recorder(base):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.record = {"generations": [], "micro_batches": [], "dataset": list(self.train_dataset["problem_id"])}
            self.replay = replay[len(trainers)]["generations"] if replay is not None else None
            trainers.append(self.record)

        def _generate_single_turn(self, prompt_ids, images, multimodal_fields, num_generations, *args, **kwargs):
            step = len(self.record["generations"])
            if self.replay is not None:
                assert prompt_ids == self.replay[step]["prompt_ids"], "the replay must see the same global batch"
                completion_ids, logprobs = self.replay[step]["completion_ids"], None
            else:
                completion_ids, logprobs = super()._generate_single_turn(
                    prompt_ids, images, multimodal_fields, num_generations, *args, **kwargs)
            self.record["generations"].append({"prompt_ids": gather_object(list(prompt_ids)),
                                               "completion_ids": gather_object(list(completion_ids))})
            return completion_ids, logprobs

        def _calculate_rewards(self, inputs, prompts, completions, completion_ids_list):
            rewards = super()._calculate_rewards(inputs, prompts, completions, completion_ids_list)
            now = self.record["generations"][-1]
            now["rewards"] = rewards.tolist()
            now["reward_weights"] = self.reward_weights.tolist()
            now["lead"] = {name: values[-1] for name, values in self._metrics["train"].items()
                           if name.startswith("lead/") and values}
            table = getattr(self.reward_funcs[0], "table", None)
            if table is not None:
                now["table"] = {key: list(values) for key, values in sorted(table.lengths.items())}
            return rewards

        def _generate_and_score_completions(self, inputs):
            batch = super()._generate_and_score_completions(inputs)
            now = self.record["generations"][-1]
            now["keys"], now["advantages"] = _rows(batch)
            return batch

        def _compute_loss(self, model, inputs):
            keys, values = _rows(inputs)
            self.record["micro_batches"].append({"keys": keys, "advantages": values, "step": self.state.global_step})
            return super()._compute_loss(model, inputs)

    return Recorder


@contextmanager
def patched(trainers: list, replay: list | None):
    """Fake grading and the recording trainer in the modules that use them; restored on exit."""
    import lenbench.train.grpo as grpo
    import lenbench.train.lapo as lapo
    import lenbench.train.lead as lead
    import lenbench.train.rewards as rewards
    import lenbench.train.rollouts as rollouts

    saved = [(module, "grade_all", module.grade_all) for module in (lapo, lead, rewards, rollouts)]
    saved.append((grpo, "LenbenchGRPOTrainer", grpo.LenbenchGRPOTrainer))
    try:
        for module in (lapo, lead, rewards, rollouts):
            module.grade_all = fake_grade
        grpo.LenbenchGRPOTrainer = recording_trainer(grpo.LenbenchGRPOTrainer, trainers, replay)
        yield
    finally:
        for module, name, value in saved:
            setattr(module, name, value)


def run_case(case: str, out: Path, tracking_uri: str | None, world: int, replay: list | None = None) -> list:
    """Train one case through its recipe (what lenbench.run does); returns the records of its trainers."""
    from hydra import compose, initialize_config_dir

    from lenbench.config import load_run_config
    from lenbench.data import load_task_data
    from lenbench.models import load_model, policy_path
    from lenbench.registry import recipe_for
    from lenbench.tracking import tracked_run

    extra = [] if world == 2 else ["trainer.prompts_per_step=4"]  # one process: the same global batch
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        cfg = compose(config_name="config", overrides=[*overrides(case), *extra])
    run = load_run_config(cfg)
    run = replace(run, trainer=replace(run.trainer, learning_rate=0.0))
    if tracking_uri:
        run = replace(run, tracking=replace(run.tracking, uri=tracking_uri, experiment="distributed"))
    data = load_task_data(run.dataset)
    recipe = recipe_for(run, data)
    recipe.check_inputs()
    model, tokenizer = load_model(policy_path(run))
    model = model.to(torch.float64)  # IAPO's z-scored information gains amplify float32 rounding to ~1e-3
    trainers: list = []
    with ExitStack() as stack:
        stack.enter_context(patched(trainers, replay))
        if tracking_uri:
            stack.enter_context(tracked_run(run.tracking, case, {}, {"case": case}, ""))
        recipe.train(model, tokenizer, out)
    return trainers


def main(out: Path) -> None:
    torch.set_num_threads(1)
    rank = int(os.environ["RANK"])
    records = {}
    for case in CASES:
        # each process writes under its own folder, so the test can see which process wrote files
        records[case] = run_case(case, out / f"rank{rank}" / case, f"sqlite:///{out / 'mlflow.db'}", world=2)
    (out / f"record-{rank}.json").write_text(json.dumps(records))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
