"""The length-control baselines of shared/docs/methods.md ("Baselines"), against hand-computed cases."""

import math
import random

import pytest
import torch
from omegaconf import OmegaConf

from lenbench.errors import ConfigError
from lenbench.methods import dapo_overlong, dler, efficient, gfpo, kimi, l1, shorterbetter, thinkprune
from lenbench.methods.groups import per_group

CONFIGS = {
    "kimi": kimi.KimiMethodConfig,
    "dapo_overlong": dapo_overlong.DAPOOverlongMethodConfig,
    "shorterbetter": shorterbetter.ShorterBetterMethodConfig,
    "efficient": efficient.EfficientMethodConfig,
    "thinkprune": thinkprune.ThinkPruneMethodConfig,
    "l1": l1.L1MethodConfig,
    "gfpo": gfpo.GFPOMethodConfig,
    "dler": dler.DLERMethodConfig,
}


def approx(values, expected, tol=1e-6):
    if len(values) != len(expected):
        return False
    return all(math.isclose(v, e, abs_tol=tol) for v, e in zip(values, expected, strict=True))


# --- configs ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_the_testbed_defaults_validate_as_a_structured_config(name):
    cls = CONFIGS[name]
    cls().validate()
    typed = OmegaConf.to_object(OmegaConf.structured(cls))  # the node register_method would store
    assert isinstance(typed, cls) and typed.name == name
    typed.validate()


@pytest.mark.parametrize(
    "cls, changes, field",
    [
        (kimi.KimiMethodConfig, {"weight": -1.0}, "method.weight"),
        (kimi.KimiMethodConfig, {"warmup_steps": -1}, "method.warmup_steps"),
        (dapo_overlong.DAPOOverlongMethodConfig, {"cache": -1}, "method.cache"),
        (shorterbetter.ShorterBetterMethodConfig, {"alpha": 0.0}, "method.alpha"),
        (shorterbetter.ShorterBetterMethodConfig, {"beta": -0.1}, "method.beta"),
        (efficient.EfficientMethodConfig, {"alpha": 1.5}, "method.alpha"),
        (efficient.EfficientMethodConfig, {"eps": 0.0}, "method.eps"),
        (thinkprune.ThinkPruneMethodConfig, {"truncated": "drop"}, "method.truncated"),
        (thinkprune.ThinkPruneMethodConfig, {"limits": [80, 120], "stage_steps": [10, 10]}, "method.limits"),
        (thinkprune.ThinkPruneMethodConfig, {"limits": [], "stage_steps": []}, "method.limits"),
        (thinkprune.ThinkPruneMethodConfig, {"limits": [0], "stage_steps": [10]}, r"method.limits\[0\]"),
        (thinkprune.ThinkPruneMethodConfig, {"stage_steps": [10, 10]}, "method.stage_steps"),
        (thinkprune.ThinkPruneMethodConfig, {"stage_steps": [10, 0, 10]}, r"method.stage_steps\[1\]"),
        (l1.L1MethodConfig, {"mode": "min"}, "method.mode"),
        (l1.L1MethodConfig, {"n_lo": 0}, "method.n_lo"),
        (l1.L1MethodConfig, {"n_lo": 50, "n_hi": 40}, "method.n_hi"),
        (l1.L1MethodConfig, {"delta": 1.5}, "method.delta"),
        (l1.L1MethodConfig, {"exact_instruction": "Think briefly."}, "method.exact_instruction"),
        (l1.L1MethodConfig, {"eval_budgets": []}, "method.eval_budgets"),
        (l1.L1MethodConfig, {"eval_budgets": [20, 0]}, r"method.eval_budgets\[1\]"),
        (gfpo.GFPOMethodConfig, {"keep": 0}, "method.keep"),
        (gfpo.GFPOMethodConfig, {"metric": "accuracy"}, "method.metric"),
        (gfpo.GFPOMethodConfig, {"filtered": "drop"}, "method.filtered"),
        (gfpo.GFPOMethodConfig, {"adaptive_keep": [4, 6]}, "method.adaptive_keep"),
        (gfpo.GFPOMethodConfig, {"adaptive_thresholds": [0.25, 0.5, 0.75]}, "method.adaptive_thresholds"),
        (gfpo.GFPOMethodConfig, {"adaptive_keep": [4, 6, 0, 8]}, r"method.adaptive_keep\[2\]"),
        (dler.DLERMethodConfig, {"coef": 1.5}, "method.coef"),
        (dler.DLERMethodConfig, {"eps": 0.0}, "method.eps"),
    ],
)
def test_out_of_range_values_are_one_line_config_errors_naming_the_field(cls, changes, field):
    with pytest.raises(ConfigError, match=field) as error:
        cls(**changes).validate()
    assert "\n" not in str(error.value)


# --- groups -------------------------------------------------------------------------------------


def test_per_group_applies_a_group_function_to_consecutive_rows():
    # groups (1, 2) and (3, 4): sums 3 and 7, one value per row
    assert per_group(2, lambda a: [sum(a)] * len(a), [1, 2, 3, 4]) == [3, 3, 7, 7]
    def add(a, b):
        return [x + y for x, y in zip(a, b, strict=True)]

    assert per_group(2, add, [1, 2, 3, 4], [10, 20, 30, 40]) == [11, 22, 33, 44]
    assert per_group(2, lambda a: a, []) == []


@pytest.mark.parametrize(
    "columns, fn",
    [
        (([1, 2, 3],), lambda a: a),  # 3 rows are not groups of 2
        (([1, 2], [1, 2, 3, 4]), lambda a, b: a),  # columns of unequal length
        (([1, 2],), lambda a: [sum(a)]),  # one value for two rows
    ],
)
def test_per_group_rejects_misshapen_input(columns, fn):
    with pytest.raises(ValueError):
        per_group(2, fn, *columns)


# --- kimi ---------------------------------------------------------------------------------------


def test_kimi_length_reward_within_a_group():
    # lo = 10, hi = 30: lambda = 0.5 - (L - 10) / 20 = 0.5, 0.0, -0.5; the wrong one gets min(0, 0.0) = 0
    assert kimi.length_rewards([10, 20, 30], [True, False, True]) == [0.5, 0.0, -0.5]
    # a short wrong rollout: lambda 0.5 -> min(0, 0.5) = 0; the long correct one -0.5
    assert kimi.length_rewards([10, 30], [False, True]) == [0.0, -0.5]


def test_kimi_total_reward_and_weight():
    # R = c + w * r_len, w = 0.5: wrong short 0 + 0.5 * 0 = 0; correct long 1 + 0.5 * -0.5 = 0.75
    assert kimi.rewards([10, 30], [False, True], weight=0.5) == [0.0, 0.75]
    # w = 1: 1 + 0.5, 0 + 0, 1 - 0.5
    assert kimi.rewards([10, 20, 30], [True, False, True], weight=1.0) == [1.5, 0.0, 0.5]


@pytest.mark.parametrize("lengths, correct", [([20, 20, 20], [True, False, True]), ([7], [True])])
def test_kimi_equal_lengths_or_a_single_rollout_get_no_length_reward(lengths, correct):
    assert kimi.length_rewards(lengths, correct) == [0.0] * len(lengths)
    assert kimi.rewards(lengths, correct, weight=1.0) == [float(c) for c in correct]


def test_kimi_empty_group_and_warmup():
    assert kimi.length_rewards([], []) == [] and kimi.rewards([], [], weight=1.0) == []
    # warmup_steps = 10: steps 0..9 correctness only, step 10 on with the length reward
    assert kimi.rewards([10, 20, 30], [True, False, True], weight=1.0, step=9, warmup_steps=10) == [1.0, 0.0, 1.0]
    assert kimi.rewards([10, 20, 30], [True, False, True], weight=1.0, step=10, warmup_steps=10) == [1.5, 0.0, 0.5]


# --- dapo_overlong ------------------------------------------------------------------------------


def test_dapo_overlong_hits_right_and_wrong_alike():
    # c + w * r_len, w = 1, r_len given (TRL computes it: test_baseline_rewards.py)
    # 1 + 0, 0 + 0, 1 - 0.5, 0 - 0.5
    assert dapo_overlong.rewards([True, False, True, False], [0.0, 0.0, -0.5, -0.5]) == [1.0, 0.0, 0.5, -0.5]
    # w = 0.5 on a truncated correct rollout (r_len = -1): 1 + 0.5 * -1 = 0.5
    assert dapo_overlong.rewards([True], [-1.0], weight=0.5) == [0.5]


def test_dapo_overlong_cache_above_the_max_length_is_refused():
    dapo_overlong.DAPOOverlongMethodConfig(cache=100).check_max_length(100)
    with pytest.raises(ConfigError, match="method.cache=101") as error:
        dapo_overlong.DAPOOverlongMethodConfig(cache=101).check_max_length(100)
    assert "\n" not in str(error.value)


# --- shorterbetter ------------------------------------------------------------------------------


def test_shorterbetter_sol_is_the_shortest_correct_length():
    # SOL = min correct length = 20; r = 2c - 0.02 |L - 20|: 0 - 0.2, 2 - 0, 2 - 0.2
    assert shorterbetter.sample_optimal_length([10, 20, 30], [False, True, True]) == 20.0
    got = shorterbetter.rewards([10, 20, 30], [False, True, True], alpha=2.0, beta=0.02)
    assert approx(got, [-0.2, 2.0, 1.8])


def test_shorterbetter_no_correct_rollout_uses_the_mean_length():
    # SOL = mean(10, 20, 30) = 20: -0.02 * 10, 0, -0.02 * 10
    assert approx(shorterbetter.rewards([10, 20, 30], [False] * 3, alpha=2.0, beta=0.02), [-0.2, 0.0, -0.2])
    # SOL = mean(10, 15) = 12.5: both 2.5 away, -0.05
    assert approx(shorterbetter.rewards([10, 15], [False, False], alpha=2.0, beta=0.02), [-0.05, -0.05])


def test_shorterbetter_single_correct_rollout_and_empty_group():
    # SOL = 40 (the one correct): wrong short one 35 away -> -0.7; the correct one 2
    assert approx(shorterbetter.rewards([5, 40], [False, True], alpha=2.0, beta=0.02), [-0.7, 2.0])
    assert shorterbetter.sample_optimal_length([], []) is None
    assert shorterbetter.rewards([], [], alpha=2.0, beta=0.02) == []


# --- efficient ----------------------------------------------------------------------------------


def test_efficient_sigmoid_normalized_penalty():
    # pool = correct finished = (10, 30): mu 20, sigma 10 (population); z = -1, +1
    # sigmoid(-1) = 1 / (1 + e) = 0.268941, sigmoid(1) = 0.731059; r = 1 - 0.1 * sigmoid; wrong -> 0
    got = efficient.rewards([10, 30, 50], [True, True, False], [True, True, True], alpha=0.1)
    assert approx(got, [0.9731059, 0.9268941, 0.0])


def test_efficient_unfinished_correct_rollouts_are_outside_the_pool_and_get_zero():
    # the cut 160-token rollout is correct but not finished: same pool (10, 30) as above, and 0 itself
    got = efficient.rewards([10, 30, 160], [True, True, True], [True, True, False], alpha=0.1)
    assert approx(got, [0.9731059, 0.9268941, 0.0])


@pytest.mark.parametrize(
    "lengths, correct",
    [([10, 20], [True, False]), ([20, 20], [True, True])],  # one correct; equal lengths (sigma = 0)
)
def test_efficient_one_correct_or_equal_lengths_give_one_minus_half_alpha(lengths, correct):
    # z = 0 / (0 + 1e-7) = 0, sigmoid(0) = 0.5: 1 - 0.1 / 2 = 0.95
    got = efficient.rewards(lengths, correct, [True] * len(lengths), alpha=0.1)
    assert approx(got, [0.95 if c else 0.0 for c in correct])


def test_efficient_no_correct_rollout_empty_group_and_sigmoid_extremes():
    assert efficient.rewards([10, 20], [False, False], [True, True], alpha=0.1) == [0.0, 0.0]
    assert efficient.rewards([], [], [], alpha=0.1) == []
    assert efficient.sigmoid(1000.0) == 1.0 and efficient.sigmoid(-1000.0) == 0.0 and efficient.sigmoid(0.0) == 0.5


# --- thinkprune ---------------------------------------------------------------------------------


def test_thinkprune_schedule_of_shrinking_limits():
    limits, steps = [160, 120, 80], [20, 20, 20]
    # stages: steps 0-19 -> 160, 20-39 -> 120, 40-59 -> 80, later steps stay at 80
    assert [thinkprune.limit_at(s, limits, steps) for s in (0, 19, 20, 39, 40, 59, 100)] == [
        160, 160, 120, 120, 80, 80, 80
    ]
    assert thinkprune.stage_at(25, [10, 30]) == 1  # stage 0 is steps 0-9, stage 1 steps 10-39
    with pytest.raises(ValueError):
        thinkprune.limit_at(0, [160, 120], [20])
    with pytest.raises(ValueError):
        thinkprune.stage_at(-1, steps)


def test_thinkprune_a_rollout_is_cut_when_it_reaches_the_limit_unfinished():
    assert not thinkprune.cut(80, True, 80)  # EOS is the 80th token: within the limit
    assert thinkprune.cut(80, False, 80)  # 80 tokens, no EOS: cut
    assert not thinkprune.cut(79, True, 80)
    assert thinkprune.cut(100, True, 80)  # generated past the stage's limit (the engine's cap is higher)


def test_thinkprune_rewards_zero_or_grade():
    correct, was_cut = [True, True, False, False], [False, True, True, False]
    assert thinkprune.rewards(correct, was_cut) == [1.0, 0.0, 0.0, 0.0]  # paper: a cut rollout earns 0
    assert thinkprune.rewards(correct, was_cut, truncated="grade") == [1.0, 1.0, 0.0, 0.0]  # official code
    assert thinkprune.rewards([], []) == []
    with pytest.raises(ValueError):
        thinkprune.rewards(correct, was_cut, truncated="drop")


# --- l1 -----------------------------------------------------------------------------------------


def test_l1_instruction_and_prompt():
    assert l1.L1MethodConfig(mode="exact").instruction(40) == "Think for 40 tokens."
    assert l1.L1MethodConfig(mode="max").instruction(40) == "Think for maximum 40 tokens."
    # a raw-text prompt ending with its think marker gets the instruction before the marker
    assert l1.budget_prompt("compute 7 + 5 <think>", "Think for 40 tokens.", before="<think>") == (
        "compute 7 + 5 Think for 40 tokens. <think>"
    )
    assert l1.budget_prompt("What is 2 + 2?", "Think for 40 tokens.") == "What is 2 + 2? Think for 40 tokens."
    assert l1.budget_prompt("What is 2 + 2?", "Think for 40 tokens.", before="<think>") == (
        "What is 2 + 2? Think for 40 tokens."
    )


@pytest.mark.parametrize("text", ["Think for {n} tokens in {language}.", "Think for {n} tokens {0}.",
                                  "Think for {n} {tokens", "Think for {n} tokens, {n.real.x}."])
def test_an_l1_instruction_that_cannot_be_filled_is_a_config_error(text):
    message = r"^method.exact_instruction=.* cannot be filled in .*allowed: text with \{n\}"
    with pytest.raises(ConfigError, match=message):
        l1.L1MethodConfig(exact_instruction=text).validate()
    l1.L1MethodConfig(exact_instruction="Think for {n} tokens {{inside braces}}.").validate()  # doubled braces


def test_l1_budget_sampling_is_seeded_uniform_and_inclusive():
    first = [l1.sample_budget(random.Random(3), 1, 3) for _ in range(5)]
    rng_a, rng_b = random.Random(7), random.Random(7)
    draws_a = [l1.sample_budget(rng_a, 10, 120) for _ in range(50)]
    assert draws_a == [l1.sample_budget(rng_b, 10, 120) for _ in range(50)]
    assert len(set(first)) == 1  # a fresh rng of the same seed draws the same first N
    rng = random.Random(0)
    draws = [l1.sample_budget(rng, 1, 3) for _ in range(300)]
    assert set(draws) == {1, 2, 3}  # both ends included (P(an end never drawn in 300) = (2/3)^300)
    assert l1.sample_budget(rng, 50, 50) == 50
    with pytest.raises(ValueError):
        l1.sample_budget(rng, 0, 10)


def test_l1_visit_budget_is_a_function_of_seed_prompt_and_visit():
    assert l1.visit_budget(0, "p1", 3, 10, 120) == l1.visit_budget(0, "p1", 3, 10, 120)
    assert len({l1.visit_budget(0, "p1", visit, 10, 120) for visit in range(20)}) > 1  # visits differ
    assert all(10 <= l1.visit_budget(1, f"p{i}", 0, 10, 120) <= 120 for i in range(50))


def test_l1_exact_reward():
    # r = c - 0.0003 |N - L|: N = 100, L = 50 -> 1 - 0.015; wrong -> -0.015; L = 150 symmetric
    got = l1.rewards([50, 50, 150], [100, 100, 100], [True, False, True], mode="exact", alpha=0.0003)
    assert approx(got, [0.985, -0.015, 0.985])
    # testbed alpha 0.0075: N = 40, L = 60 -> 1 - 0.15
    assert approx(l1.rewards([60], [40], [True], mode="exact", alpha=0.0075), [0.85])


def test_l1_max_reward_is_clipped_and_gated_by_correctness():
    # r = c * clip(0.0003 (N - L) + 0.5, 0, 1)
    # N 100, L 50: 0.015 + 0.5 = 0.515; L = N: 0.5; L 3000: -0.87 + 0.5 < 0 -> 0;
    # N 4000, L 10: 1.197 + 0.5 > 1 -> 1; wrong -> 0
    got = l1.rewards(
        [50, 100, 3000, 10, 50], [100, 100, 100, 4000, 100], [True, True, True, True, False],
        mode="max", alpha=0.0003, delta=0.5,
    )
    assert approx(got, [0.515, 0.5, 0.0, 1.0, 0.0])
    with pytest.raises(ValueError):
        l1.rewards([1], [1], [True], mode="min", alpha=0.1)


def test_l1_controllability_per_budget():
    # N = 20: samples (25, right), (15, wrong): accuracy 0.5, |N - L| = 5, 5 -> 5, over budget 1 of 2
    # N = 40: samples (40, right), (60, right): accuracy 1, |N - L| = 0, 20 -> 10, over budget 1 of 2
    got = l1.controllability([40, 20, 20, 40], [40, 25, 15, 60], [True, True, False, True])
    assert list(got) == [20, 40]
    assert got[20] == {"accuracy": 0.5, "deviation": 5.0, "over_budget": 0.5}
    assert got[40] == {"accuracy": 1.0, "deviation": 10.0, "over_budget": 0.5}
    assert l1.controllability([], [], []) == {}


# --- gfpo ---------------------------------------------------------------------------------------


def test_gfpo_keeps_the_shortest_and_normalizes_over_them():
    # lengths 30, 10, 5, 20, keep 2 -> rows 2 (5) and 1 (10); kept rewards (1, 0): mean 0.5,
    # unbiased std sqrt((0.25 + 0.25) / 1) = 0.707107; A = +-0.5 / (0.707107 + 1e-4) = +-0.707007
    values, kept = gfpo.group_advantages([1.0, 1.0, 0.0, 1.0], [30, 10, 5, 20], keep=2, metric="length")
    assert kept == [False, True, True, False]
    assert approx(values, [0.0, 0.5 / (math.sqrt(0.5) + 1e-4), -0.5 / (math.sqrt(0.5) + 1e-4), 0.0])


def test_gfpo_reward_per_token():
    # R / L = 1/10, 0.5/2, 0/5, 1/40 = 0.1, 0.25, 0, 0.025: keep rows 1 and 0; kept rewards (1, 0.5):
    # mean 0.75, std sqrt(2 * 0.0625 / 1) = 0.353553; A0 = 0.25 / 0.353653 = 0.706912, A1 = -0.706912
    values, kept = gfpo.group_advantages([1.0, 0.5, 0.0, 1.0], [10, 2, 5, 40], keep=2, metric="reward_per_token")
    assert kept == [True, True, False, False]
    assert approx(values, [0.25 / (math.sqrt(0.125) + 1e-4), -0.25 / (math.sqrt(0.125) + 1e-4), 0.0, 0.0])


def test_gfpo_edge_cases():
    # equal kept rewards: std 0, all advantages 0
    values, _ = gfpo.group_advantages([1.0, 1.0, 0.0, 1.0], [30, 10, 5, 20], keep=2, metric="reward_per_token")
    assert values == [0.0] * 4
    # ties in length: the earlier rows are kept
    assert gfpo.keep_mask([0.0] * 4, [10, 10, 10, 10], 2, "length") == [True, True, False, False]
    # k >= G keeps everything: plain GRPO normalization, (1 - 0.5) / (0.707107 + 1e-4)
    values, kept = gfpo.group_advantages([1.0, 0.0], [5, 6], keep=4, metric="length")
    assert kept == [True, True] and approx(values, [0.5 / (math.sqrt(0.5) + 1e-4), -0.5 / (math.sqrt(0.5) + 1e-4)])
    # a single kept rollout: advantage 0
    assert gfpo.group_advantages([1.0, 0.0], [5, 6], keep=1, metric="length") == ([0.0, 0.0], [True, False])
    assert gfpo.group_advantages([], [], keep=2, metric="length") == ([], [])
    with pytest.raises(ValueError):
        gfpo.keep_mask([1.0], [5], 0, "length")
    with pytest.raises(ValueError):
        gfpo.scores([1.0], [5], "accuracy")


def test_gfpo_adaptive_k_by_mean_reward():
    thresholds, keeps = [0.75, 0.5, 0.25], [2, 3, 4, 5]
    # 1.0 and 0.75 reach the first cut point; 0.6 the second; 0.25 the third; 0.0 none (the last k)
    assert [gfpo.adaptive_keep(m, thresholds, keeps) for m in (1.0, 0.75, 0.6, 0.25, 0.0)] == [2, 2, 3, 4, 5]
    with pytest.raises(ValueError):
        gfpo.adaptive_keep(0.5, thresholds, [2, 3])


def test_gfpo_batch_with_adaptive_k():
    # group A: rewards (1, 1, 1, 0), mean 0.75 -> k = 2; lengths 4, 3, 2, 1 -> rows 3 (R 0) and 2 (R 1)
    #   kept (1, 0) -> +-0.5 / (0.707107 + 1e-4)
    # group B: rewards (0, 0, 0, 1), mean 0.25 -> k = 4, all kept: mean 0.25,
    #   unbiased std sqrt((3 * 0.0625 + 0.5625) / 3) = 0.5 -> -0.25 / 0.5001, 0.75 / 0.5001
    rewards = [1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0]
    lengths = [4, 3, 2, 1, 4, 3, 2, 1]
    values, kept = gfpo.advantages(
        rewards, lengths, 4, keep=99, metric="length",
        adaptive_thresholds=[0.75, 0.5, 0.25], adaptive_keeps=[2, 3, 4, 5],
    )
    assert kept == [False, False, True, True, True, True, True, True]
    a = 0.5 / (math.sqrt(0.5) + 1e-4)
    assert approx(values, [0.0, 0.0, a, -a, -0.25 / 0.5001, -0.25 / 0.5001, -0.25 / 0.5001, 0.75 / 0.5001])
    # without adaptive k, keep = 2 applies to both groups (group B keeps rows 7 (R 1) and 6 (R 0))
    _, kept = gfpo.advantages(rewards, lengths, 4, keep=2, metric="length")
    assert kept == [False, False, True, True, False, False, True, True]


# --- dler ---------------------------------------------------------------------------------------


def test_dler_reward():
    # c * (1 if finished else 0.1): right finished 1, right cut 0.1, wrong 0 either way
    assert dler.rewards([True, True, False, False], [True, False, True, False], coef=0.1) == [1.0, 0.1, 0.0, 0.0]
    assert dler.rewards([True], [False], coef=0.0) == [0.0]


def test_dler_advantages_are_token_weighted():
    # one group (1, 0): centred (0.5, -0.5); token counts 1, 3:
    # weighted mean (0.5 * 1 - 0.5 * 3) / 4 = -0.25; var (1 * 0.75^2 + 3 * 0.25^2) / (4 - 1) = 0.25, std 0.5
    # A = (0.5 + 0.25) / 0.5 = 1.5, (-0.5 + 0.25) / 0.5 = -0.5
    got = dler.advantages([1.0, 0.0], [1, 3], 2, eps=0.0)
    assert torch.allclose(got, torch.tensor([1.5, -0.5], dtype=torch.float64))


def test_dler_advantages_use_group_means_then_whiten_the_batch():
    # groups (1, 0) and (1, 1): means 0.5, 1 -> centred (0.5, -0.5, 0, 0); tokens 10, 10, 20, 20:
    # weighted mean 0; var (10 * 0.25 + 10 * 0.25) / (60 - 1) = 5 / 59
    got = dler.advantages([1.0, 0.0, 1.0, 1.0], [10, 10, 20, 20], 2, eps=0.0)
    s = math.sqrt(5 / 59)
    assert torch.allclose(got, torch.tensor([0.5 / s, -0.5 / s, 0.0, 0.0], dtype=torch.float64))


def test_dler_edge_cases():
    assert torch.equal(dler.advantages([1.0, 1.0, 0.0, 0.0], [5, 6, 7, 8], 2), torch.zeros(4, dtype=torch.float64))
    assert dler.advantages([], [], 2).numel() == 0
    with pytest.raises(ValueError):
        dler.advantages([1.0, 0.0], [5], 2)
    # dynamic sampling keeps groups whose rewards differ
    assert dler.informative_groups([1.0, 1.0, 0.0, 1.0, 0.1, 0.1], 2) == [False, True, False]
