"""The length-control baselines wired into training: their TRL-facing reward functions and hooks,
on hand-computed cases (the maths alone is tests/test_baselines.py)."""

from types import SimpleNamespace

import pytest

from lenbench.config import compose_config, load_run_config
from lenbench.errors import ConfigError
from lenbench.registry import reward_funcs_for

EOS = 3  # the testbed tokenizer's EOS id


def batch(rows, step=0, **columns):
    """TRL reward-function kwargs for rollouts given as (length, correct, finished) rows."""
    completions = ["</think> answer 5" if c else "</think> answer 4" for _, c, _ in rows]
    ids = [[7] * (n - 1) + [EOS] if f else [7] * n for n, _, f in rows]
    return dict(prompts=["p"] * len(rows), completions=completions, completion_ids=ids, answer=["5"] * len(rows),
                trainer_state=SimpleNamespace(global_step=step), **columns)


def approx(values, expected):
    return values == pytest.approx(expected, abs=1e-6)


def run_config(*overrides):
    return load_run_config(compose_config(["+experiment=micro", *overrides]))


# --- kimi ---------------------------------------------------------------------------------------


def kimi_reward(group_size=3, **knobs):
    from lenbench.methods.kimi import KimiMethodConfig
    from lenbench.train.kimi import KimiReward

    return KimiReward(KimiMethodConfig(**{"warmup_steps": 0, **knobs}), "exact", group_size, frozenset({EOS}))


def test_kimi_reward_per_group_through_the_adapter():
    reward = kimi_reward()
    # group 1: lo 10, hi 30: lambda 0.5, 0.0, -0.5 -> 1.5, 0 (wrong: min(0, 0) = 0), 0.5
    # group 2: lo 4, hi 8: lambda 0.5, -0.5, 0 -> wrong short min(0, 0.5) = 0, wrong long -0.5, correct 1 + 0
    rows = [(10, True, True), (20, False, True), (30, True, True), (4, False, True), (8, False, False),
            (6, True, True)]
    assert approx(reward(**batch(rows)), [1.5, 0.0, 0.5, 0.0, -0.5, 1.0])


def test_kimi_edge_groups():
    reward = kimi_reward()
    # no correct rollout: lambda 0.5, 0, -0.5 -> 0, 0, -0.5; identical lengths: no length reward; all truncated
    assert approx(reward(**batch([(10, False, True), (20, False, True), (30, False, True)])), [0.0, 0.0, -0.5])
    assert approx(reward(**batch([(20, True, True), (20, False, True), (20, True, True)])), [1.0, 0.0, 1.0])
    assert approx(reward(**batch([(48, True, False), (48, False, False), (48, True, False)])), [1.0, 0.0, 1.0])


def test_kimi_warmup_boundary():
    reward = kimi_reward(warmup_steps=10)
    rows = [(10, True, True), (20, False, True), (30, True, True)]
    assert approx(reward(**batch(rows, step=9)), [1.0, 0.0, 1.0])
    assert approx(reward(**batch(rows, step=10)), [1.5, 0.0, 0.5])
    metrics = []
    reward(**batch(rows, step=9), log_metric=lambda name, value: metrics.append((name, value)))
    assert metrics == [("kimi/length_active", 0.0)]


def test_kimi_factory_from_the_registry():
    run = run_config("method=kimi", "method.weight=0.5")
    (reward,) = reward_funcs_for(run, "exact")
    assert reward.method.weight == 0.5 and reward.group_size == run.trainer.num_generations
    assert reward.eos_ids == frozenset({EOS})


@pytest.mark.parametrize("override, field", [("method.weight=-1", "method.weight"),
                                             ("method.warmup_steps=-2", "method.warmup_steps")])
def test_kimi_bad_knobs_are_one_line_errors(override, field):
    with pytest.raises(ConfigError, match=field) as error:
        run_config("method=kimi", override)
    assert "\n" not in str(error.value)


# --- dapo_overlong --------------------------------------------------------------------------------


def overlong_reward(max_length=100, **knobs):
    from lenbench.methods.dapo_overlong import DAPOOverlongMethodConfig
    from lenbench.train.dapo_overlong import OverlongReward

    return OverlongReward(DAPOOverlongMethodConfig(**{"cache": 20, **knobs}), "exact", max_length)


def test_dapo_overlong_reward_intervals_through_trl():
    # L_max 100, L_c 20: r_len 0 up to 80, (80 - L) / 20 in (80, 100]: 50 -> 0, 80 -> 0, 90 -> -0.5, 100 -> -1
    rows = [(50, True, True), (80, False, True), (90, True, True), (100, False, False)]
    assert approx(overlong_reward()(**batch(rows)), [1.0, 0.0, 0.5, -1.0])
    # weight 0.5 and the testbed's L_max 160, L_c 40: 130 -> (120 - 130) / 40 = -0.25 -> 1 - 0.125
    assert approx(overlong_reward(160, cache=40, weight=0.5)(**batch([(130, True, True)])), [0.875])
    # L_c = 0: no soft interval; every rollout truncated at L_max: 0 up to L_max
    assert approx(overlong_reward(cache=0)(**batch([(100, True, False), (100, False, False)])), [1.0, 0.0])


def test_dapo_overlong_reward_is_trls():
    from trl.rewards import get_soft_overlong_punishment

    reward = overlong_reward()
    assert type(reward.penalty) is type(get_soft_overlong_punishment(100, 20))


def test_dapo_overlong_cache_above_max_length_is_refused_before_compute():
    from lenbench.preflight import preflight

    # micro: trainer.max_completion_length = 48
    with pytest.raises(ConfigError, match="method.cache=49 exceeds trainer.max_completion_length=48") as error:
        preflight(compose_config(["+experiment=micro", "method=dapo_overlong", "method.cache=49"]), machine=False)
    assert "\n" not in str(error.value)
    (reward,) = reward_funcs_for(run_config("method=dapo_overlong", "method.cache=12"), "exact")
    assert reward.penalty.max_completion_len == 48 and reward.penalty.soft_punish_cache == 12


# --- shorterbetter --------------------------------------------------------------------------------


def shorterbetter_reward(group_size=3, **knobs):
    from lenbench.methods.shorterbetter import ShorterBetterMethodConfig
    from lenbench.train.shorterbetter import ShorterBetterReward

    return ShorterBetterReward(ShorterBetterMethodConfig(**knobs), "exact", group_size, frozenset({EOS}))


def test_shorterbetter_reward_per_group():
    reward = shorterbetter_reward(alpha=2.0, beta=0.1)
    # group 1: SOL = shortest correct = 20: 2 - 0.1 * 0 = 2, 0 - 0.1 * 10 = -1, 2 - 0.1 * 20 = 0
    # group 2: SOL = 5: wrong 10 -> -0.5, correct 5 -> 2, correct 7 -> 1.8
    rows = [(20, True, True), (10, False, True), (40, True, True), (10, False, True), (5, True, True),
            (7, True, True)]
    assert approx(reward(**batch(rows)), [2.0, -1.0, 0.0, -0.5, 2.0, 1.8])


def test_shorterbetter_edge_groups():
    reward = shorterbetter_reward(alpha=2.0, beta=0.1)
    # none correct: SOL = mean length 20: -1, 0, -1
    assert approx(reward(**batch([(10, False, True), (20, False, True), (30, False, True)])), [-1.0, 0.0, -1.0])
    # identical lengths, all truncated: SOL 48, no distance; correctness alone
    assert approx(reward(**batch([(48, True, False), (48, False, False), (48, True, False)])), [2.0, 0.0, 2.0])


# --- efficient ------------------------------------------------------------------------------------


def efficient_reward(group_size=4, **knobs):
    from lenbench.methods.efficient import EfficientMethodConfig
    from lenbench.train.efficient import EfficientReward

    return EfficientReward(EfficientMethodConfig(**knobs), "exact", group_size, frozenset({EOS}))


def test_efficient_reward_on_correct_finished_rollouts():
    import math

    reward = efficient_reward(alpha=0.2)
    # pool: correct and finished = 10, 30 (the 20 is wrong, the correct 48 was cut): mu 20, sigma 10
    # 10 -> 1 - 0.2 * sigmoid(-1), 30 -> 1 - 0.2 * sigmoid(1); others 0
    sig = 1 / (1 + math.exp(-1))
    rows = [(10, True, True), (20, False, True), (30, True, True), (48, True, False)]
    assert approx(reward(**batch(rows)), [1 - 0.2 * (1 - sig), 0.0, 1 - 0.2 * sig, 0.0])


def test_efficient_edge_groups():
    reward = efficient_reward(alpha=0.2)
    # none correct; all truncated (correct but cut): all 0
    assert approx(reward(**batch([(10, False, True)] * 4)), [0.0] * 4)
    assert approx(reward(**batch([(48, True, False)] * 4)), [0.0] * 4)
    # one correct finished rollout, or equal lengths: 1 - alpha / 2 = 0.9
    assert approx(reward(**batch([(10, True, True), (20, False, True), (30, False, True), (48, True, False)])),
                  [0.9, 0.0, 0.0, 0.0])
    assert approx(reward(**batch([(20, True, True)] * 4)), [0.9] * 4)
    # EOS exactly at the cap is finished; the same length without EOS is not
    assert approx(reward(**batch([(48, True, True), (48, True, False), (20, False, True), (20, False, True)])),
                  [0.9, 0.0, 0.0, 0.0])


@pytest.mark.parametrize("method, override, field", [
    ("shorterbetter", "method.alpha=0", "method.alpha"), ("shorterbetter", "method.beta=-1", "method.beta"),
    ("efficient", "method.alpha=2", "method.alpha"), ("efficient", "method.eps=0", "method.eps"),
    ("dapo_overlong", "method.weight=-1", "method.weight"), ("dapo_overlong", "method.cache=-1", "method.cache"),
])
def test_bad_knobs_are_one_line_errors(method, override, field):
    with pytest.raises(ConfigError, match=field) as error:
        run_config(f"method={method}", override)
    assert "\n" not in str(error.value)


# --- thinkprune -----------------------------------------------------------------------------------


def thinkprune_reward(max_length=160, **knobs):
    from lenbench.methods.thinkprune import ThinkPruneMethodConfig
    from lenbench.train.thinkprune import ThinkPruneReward

    knobs = {"limits": [40, 20], "stage_steps": [5, 5], **knobs}
    return ThinkPruneReward(ThinkPruneMethodConfig(**knobs), "exact", 2, frozenset({EOS}), max_length)


def test_thinkprune_reward_at_the_stage_boundary():
    reward = thinkprune_reward()
    # rows: correct finished at 30, correct cut at 40 (no EOS), correct finished with EOS at 40, wrong at 10
    rows = [(30, True, True), (40, True, False), (40, True, True), (10, False, True)]
    # step 4 (stage 0, limit 40): only the unfinished 40 is cut -> 1, 0, 1, 0
    assert approx(reward(**batch(rows, step=4)), [1.0, 0.0, 1.0, 0.0])
    # step 5 (stage 1, limit 20): 30 and both 40s are past the limit -> 0, 0, 0, 0
    assert approx(reward(**batch(rows, step=5)), [0.0, 0.0, 0.0, 0.0])
    # past the last stage its limit stays
    assert approx(reward(**batch(rows, step=99)), [0.0, 0.0, 0.0, 0.0])


def test_thinkprune_grade_mode_and_the_engine_cap():
    rows = [(40, True, False), (40, False, False)]  # all truncated at the limit
    assert approx(thinkprune_reward(truncated="grade")(**batch(rows, step=0)), [1.0, 0.0])
    assert approx(thinkprune_reward()(**batch(rows, step=0)), [0.0, 0.0])
    # limits above trainer.max_completion_length are that length: a rollout cut at 30 of 30 is cut
    assert approx(thinkprune_reward(max_length=30)(**batch([(30, True, False), (29, True, True)])), [0.0, 1.0])


def test_thinkprune_stage_limit_sets_the_generation_cap():
    from lenbench.methods.thinkprune import ThinkPruneMethodConfig
    from lenbench.train.thinkprune import StageLimit

    callback = StageLimit(ThinkPruneMethodConfig(limits=[200, 120, 80], stage_steps=[2, 2, 2]), 160)
    callback.trainer = SimpleNamespace(generation_config=SimpleNamespace(max_new_tokens=160),
                                       generation_kwargs={"max_new_tokens": 160})
    caps = []
    for step in range(7):
        callback.on_step_begin(None, SimpleNamespace(global_step=step), None)
        trainer = callback.trainer
        caps.append((trainer.generation_config.max_new_tokens, trainer.generation_kwargs["max_new_tokens"]))
    assert caps == [(160, 160)] * 2 + [(120, 120)] * 2 + [(80, 80)] * 3
    callback.trainer = SimpleNamespace(generation_config=None)  # TRL's vLLM path: left alone
    callback.on_step_begin(None, SimpleNamespace(global_step=5), None)


@pytest.mark.parametrize("override, field", [
    ("method.truncated=drop", "method.truncated"), ("method.limits=[80,120]", "method.limits"),
    ("method.stage_steps=[10,10]", "method.stage_steps"),
])
def test_thinkprune_bad_knobs_are_one_line_errors(override, field):
    with pytest.raises(ConfigError, match=field) as error:
        run_config("method=thinkprune", override)
    assert "\n" not in str(error.value)


# --- l1 -------------------------------------------------------------------------------------------


def l1_reward(**knobs):
    from lenbench.methods.l1 import L1MethodConfig
    from lenbench.train.l1 import L1Reward

    return L1Reward(L1MethodConfig(**knobs), "exact", 2, frozenset({EOS}))


def test_l1_reward_against_the_rows_budget():
    rows = [(30, True, True), (50, True, True), (10, False, True), (48, True, False)]
    budgets = [40, 40, 20, 20]
    # exact, alpha 0.01: 1 - 0.1, 1 - 0.1, 0 - 0.1, 1 - 0.28
    assert approx(l1_reward(alpha=0.01)(**batch(rows, budget=budgets)), [0.9, 0.9, -0.1, 0.72])
    # max, alpha 0.01, delta 0.5: clip(0.01 (N - L) + 0.5): 0.6, 0.4, wrong 0, 1 * clip(-0.28 + 0.5) = 0.22
    got = l1_reward(mode="max", alpha=0.01)(**batch(rows, budget=budgets))
    assert approx(got, [0.6, 0.4, 0.0, 0.22])
    # max: far under the budget clips at 1, far over at 0
    assert approx(l1_reward(mode="max", alpha=0.1)(**batch([(5, True, True), (48, True, False)], budget=[40, 10])),
                  [1.0, 0.0])


def test_l1_budget_split_draws_n_per_visit(compose):
    from datasets import Dataset

    from lenbench.methods.l1 import L1MethodConfig, visit_budget
    from lenbench.train.l1 import budget_split, visits_needed

    method = L1MethodConfig(n_lo=10, n_hi=120)
    train = Dataset.from_list([{"prompt": "compute 1 + 1 <think>", "problem_id": "a"},
                               {"prompt": "compute 2 + 2 <think>", "problem_id": "b"}])
    split = budget_split(train, method, seed=3, visits=3)
    assert len(split) == 6
    for row, (pid, visit) in zip(split, [("a", 0), ("b", 0), ("a", 1), ("b", 1), ("a", 2), ("b", 2)], strict=True):
        n = visit_budget(3, pid, visit, 10, 120)
        assert row["budget"] == n and row["prompt"].endswith(f"<think> Think for {n} tokens.")
    assert len({row["budget"] for row in split if row["problem_id"] == "a"}) > 1  # visits ask for other N
    assert split["budget"] == budget_split(train, method, seed=3, visits=3)["budget"]  # the same in every process
    # 60 steps x 8 prompts x 2 processes over 256 prompts: 960 draws, 4 visits
    run = SimpleNamespace(trainer=SimpleNamespace(max_steps=60, prompts_per_step=8))
    assert visits_needed(run, 256, 2) == 4 and visits_needed(run, 10_000, 1) == 1


def test_l1_budgets_the_tokenizer_cannot_write_are_refused_before_compute():
    from lenbench.preflight import preflight

    # micro: numbers up to dataset.number_max = 255 are tokens
    with pytest.raises(ConfigError, match=r"method.eval_budgets\[1\]=300") as error:
        preflight(compose_config(["+experiment=micro", "method=l1", "method.eval_budgets=[20,300]"]), machine=False)
    assert "\n" not in str(error.value)
    preflight(compose_config(["+experiment=micro", "method=l1"]), machine=False)


@pytest.mark.parametrize("override, field", [
    ("method.mode=min", "method.mode"), ("method.n_lo=0", "method.n_lo"), ("method.alpha=-1", "method.alpha"),
    ("method.delta=2", "method.delta"), ("method.eval_budgets=[]", "method.eval_budgets"),
])
def test_l1_bad_knobs_are_one_line_errors(override, field):
    with pytest.raises(ConfigError, match=field) as error:
        run_config("method=l1", override)
    assert "\n" not in str(error.value)


# --- gfpo and dler: engine hooks on a one-process trainer -----------------------------------------


class FakeAccelerator:
    process_index = 0

    @staticmethod
    def gather(tensor):
        return tensor


def fake_trainer(group_size, weights=(1.0,)):
    import torch

    logged = {}
    return SimpleNamespace(num_generations=group_size, reward_weights=torch.tensor(weights),
                           accelerator=FakeAccelerator(), logged=logged,
                           log_hook_metric=lambda name, value: logged.setdefault(name, value))


def scored_batch(lengths, width=6):
    import torch

    mask = torch.tensor([[1] * n + [0] * (width - n) for n in lengths])
    return {"completion_mask": mask, "advantages": torch.full((len(lengths),), 9.0),
            "num_items_in_batch": mask.sum()}


def run_hooks(hooks, trainer, rewards, lengths):
    import torch

    hooks.after_rewards(trainer, torch.tensor(rewards).unsqueeze(1), [{}] * len(rewards), None)
    return hooks.after_scoring(trainer, scored_batch(lengths), [{}] * len(rewards))


def test_gfpo_hook_keeps_the_shortest_and_normalizes_over_them():
    from lenbench.methods.gfpo import GFPOMethodConfig
    from lenbench.train.gfpo import GFPOHooks

    trainer = fake_trainer(4)
    # group 1: lengths 5, 2, 3, 6, rewards 1, 0, 1, 1: keep 2 shortest (rows 1, 2: rewards 0, 1): mean 0.5,
    # unbiased std 0.7071: -0.5 / (0.7071 + 1e-4), +...; the others 0
    # group 2: all reward 1 (kept ones equal): 0 everywhere
    batch = run_hooks(GFPOHooks(GFPOMethodConfig(keep=2)), trainer, [1, 0, 1, 1, 1, 1, 1, 1], [5, 2, 3, 6, 1, 2, 3, 4])
    a = 0.5 / (2 ** -0.5 + 1e-4)
    assert batch["advantages"].tolist() == pytest.approx([0, -a, a, 0, 0, 0, 0, 0], abs=1e-6)
    assert batch["num_items_in_batch"].item() == 26  # `zero`: every row stays in the loss
    assert trainer.logged["gfpo/kept_frac"] == 0.5 and trainer.logged["gfpo/kept_length_mean"] == 2.0


def test_gfpo_hook_mask_mode_and_edge_groups():
    from lenbench.methods.gfpo import GFPOMethodConfig
    from lenbench.train.gfpo import GFPOHooks

    # mask: the filtered rows leave the loss; a group of identical lengths keeps its first rows (stable ties);
    # no correct rollout: advantages 0
    batch = run_hooks(GFPOHooks(GFPOMethodConfig(keep=2, filtered="mask")), fake_trainer(4),
                      [0, 0, 0, 0, 1, 0, 1, 0], [4, 4, 4, 4, 3, 3, 3, 3])
    # kept (1, 0): mean 0.5, unbiased std 0.7071: +-0.5 / (0.7071 + 1e-4)
    a = 0.5 / (2 ** -0.5 + 1e-4)
    assert batch["advantages"].tolist() == pytest.approx([0] * 4 + [a, -a, 0, 0], abs=1e-6)
    assert batch["completion_mask"].sum(dim=1).tolist() == [4, 4, 0, 0, 3, 3, 0, 0]
    assert batch["num_items_in_batch"].item() == 14


def test_gfpo_keep_above_the_group_is_refused_before_compute():
    from lenbench.preflight import preflight

    # micro: trainer.num_generations = 2
    with pytest.raises(ConfigError, match="method.keep=4 keeps more rollouts than a group has") as error:
        preflight(compose_config(["+experiment=micro", "method=gfpo"]), machine=False)
    assert "\n" not in str(error.value)
    preflight(compose_config(["+experiment=micro", "method=gfpo", "method.keep=2"]), machine=False)


def dler_reward(coef=0.1):
    from lenbench.methods.dler import DLERMethodConfig
    from lenbench.train.dler import DLERReward

    return DLERReward(DLERMethodConfig(coef=coef), "exact", 2, frozenset({EOS}))


def test_dler_reward_scales_correct_truncated_rollouts():
    rows = [(10, True, True), (48, True, False), (48, False, False), (10, False, True)]
    assert approx(dler_reward()(**batch(rows)), [1.0, 0.1, 0.0, 0.0])
    assert approx(dler_reward(coef=0.0)(**batch([(48, True, False)] * 2)), [0.0, 0.0])  # all truncated, coef 0


def test_dler_hook_group_mean_then_token_whitening_with_dynamic_sampling():
    import torch

    from lenbench.methods.dler import DLERMethodConfig
    from lenbench.train.dler import DLERHooks

    # groups of 2: (1, 0) informative, (1, 1) not; centred (0.5, -0.5) with tokens 2 and 4: token mean
    # (2 * 0.5 - 4 * 0.5) / 6 = -1/6, var = (2 (2/3)^2 + 4 (1/3)^2) / 5 = 4/15
    batch = run_hooks(DLERHooks(DLERMethodConfig()), fake_trainer(2), [1, 0, 1, 1], [2, 4, 3, 3])
    std = (4 / 15) ** 0.5
    assert batch["advantages"].tolist() == pytest.approx([(2 / 3) / std, (-1 / 3) / std, 0, 0], abs=1e-6)
    assert batch["completion_mask"].sum(dim=1).tolist() == [2, 4, 0, 0] and batch["num_items_in_batch"].item() == 6
    # without dynamic sampling the equal group joins the whitening (centred 0, -mean / std) and the loss
    batch = run_hooks(DLERHooks(DLERMethodConfig(dynamic_sampling=False)), fake_trainer(2), [1, 0, 1, 1], [2, 4, 3, 3])
    assert batch["num_items_in_batch"].item() == 12 and batch["advantages"][2].item() != 0
    # every group uninformative: all zero, nothing in the loss
    batch = run_hooks(DLERHooks(DLERMethodConfig()), fake_trainer(2), [0, 0, 1, 1], [2, 4, 3, 3])
    assert batch["advantages"].tolist() == [0, 0, 0, 0] and batch["num_items_in_batch"].item() == 0
    assert isinstance(batch["advantages"], torch.Tensor)


@pytest.mark.parametrize("method, override, field", [
    ("gfpo", "method.metric=accuracy", "method.metric"), ("gfpo", "method.filtered=drop", "method.filtered"),
    ("gfpo", "method.keep=0", "method.keep"), ("dler", "method.coef=2", "method.coef"),
    ("dler", "method.eps=0", "method.eps"),
])
def test_hook_method_bad_knobs_are_one_line_errors(method, override, field):
    with pytest.raises(ConfigError, match=field) as error:
        run_config(f"method={method}", override)
    assert "\n" not in str(error.value)
