"""LAPO maths on hand-computed cases (shared/docs/methods.md, LAPO section)."""

import math

import pytest

from lenbench.methods.lapo import (
    LengthTable,
    band_reward,
    gaussian_length_reward,
    length_band,
    parse_plan,
    stage1_rewards,
    stage2_rewards,
)

TESTBED_PLAN = ("I will answer the question with", "tokens .")  # the testbed's words (its tokenizer splits on spaces)


def test_length_band_percentiles():
    # 30th: position 0.3 * 4 = 1.2 -> 20 + 0.2 * 10 = 22; 70th: 2.8 -> 30 + 0.8 * 10 = 38
    assert length_band([50, 10, 40, 20, 30]) == pytest.approx((22.0, 38.0))


def test_length_band_needs_two_distinct_lengths():
    assert length_band([30]) is None
    assert length_band([]) is None
    assert length_band([20, 20, 20]) is None  # L_lo == L_hi


@pytest.mark.parametrize(
    "length, expected",
    [(30, 1.0), (22, 1.0), (38, 1.0), (12, 0.9), (88, 0.5), (238, 0.0), (0, 0.78)],
)
def test_band_reward(length, expected):
    # band [22, 38], tau 100: 12 is 10 below -> 0.9; 88 is 50 above -> 0.5; 238 -> max(0, -1) = 0
    assert band_reward(length, (22.0, 38.0), tau=100) == pytest.approx(expected)


def test_stage1_mixed_group():
    lengths, correct = [10, 20, 30, 40, 50], [True, True, True, True, False]
    # band from the correct lengths [10, 20, 30, 40]: 30th = 10 + 0.9 * 10 = 19, 70th = 30 + 0.1 * 10 = 31
    # L=10 and L=40 are 9 outside: r = 1 - 9/100 = 0.91 -> R = 1 + 0.7 * 0.91 = 1.637; inside: 1.7
    rewards = stage1_rewards(lengths, correct, band_lengths=[10, 20, 30, 40], alpha=0.7, tau=100)
    assert rewards == pytest.approx([1.637, 1.7, 1.7, 1.637, 0.0])


def test_stage1_fewer_than_two_correct_has_no_length_term():
    rewards = stage1_rewards([10, 90, 160], [True, False, False], band_lengths=[10], alpha=0.7, tau=100)
    assert rewards == [1.0, 0.0, 0.0]


def test_stage1_equal_correct_lengths_have_no_length_term():
    rewards = stage1_rewards([20, 20, 70], [True, True, False], band_lengths=[20, 20], alpha=0.7, tau=100)
    assert rewards == [1.0, 1.0, 0.0]


def test_stage1_unsolved_and_truncated_rollouts_get_zero():
    # a truncated rollout counts as max length (160) and has no answer: wrong, no reward, not in the band
    assert stage1_rewards([160, 160, 45], [False, False, False], band_lengths=[], alpha=0.7, tau=100) == [0.0] * 3


def test_gaussian_length_reward():
    assert gaussian_length_reward(40, 40, sigma=120) == 1.0
    assert gaussian_length_reward(160, 40, sigma=120) == pytest.approx(math.exp(-0.5))  # one sigma away


def test_stage2_rewards():
    rewards = stage2_rewards([40, 160, 40], [True, True, False], target=40, beta=0.8, sigma=120)
    assert rewards == pytest.approx([1.8, 1 + 0.8 * math.exp(-0.5), 0.0])


def test_stage2_prompt_without_target_is_correctness_only():
    assert stage2_rewards([40, 3000], [True, False], target=None, beta=0.8, sigma=120) == [1.0, 0.0]


@pytest.mark.parametrize("suffix", ["tokens .", "tokens."])
@pytest.mark.parametrize("text, expected", [
    # the prompt holds the opening words; the completion starts at the number
    ("23 tokens . 3 + 4 = 7 ;", (23, 11)),
    (" 523 tokens. Okay, so", (523, 12)),
    ("523 tokens.", (523, 11)),
    (" 1,234 tokens.\nFirst", (1234, 14)),
    ("\n12 tokens  .", (12, 13)),
    ("3 + 4 = 7 ;", None),
    ("many tokens . 3", None),
    ("23 words . 3", None),
    ("23 tokens and more", None),
    ("23tokens.", None),
    ("1,23 tokens.", None),
])
def test_parse_plan_reads_the_number_with_or_without_a_space_before_the_period(suffix, text, expected):
    found = parse_plan(text, suffix)
    assert (found and (found.declared, found.end)) == expected if expected else found is None


def test_length_table_never_overwritten_by_unsolved_visit():
    table = LengthTable()
    table.update("q", [10, 30])
    table.update("q", [])  # the reference wrote 0 here
    assert table.target("q", "median") == 20.0 and table.target("q", "mean") == 20.0
    table.update("q", [50, 70])
    # history [10, 30, 50, 70]: median 40, mean 40; a skewed visit separates the two statistics
    table.update("q", [200])
    assert table.target("q", "median") == 50.0 and table.target("q", "mean") == 72.0


def test_length_table_bounded_history_and_unsolved_prompts():
    table = LengthTable(history_size=2)
    table.update("q", [10, 30, 50])
    assert list(table.lengths["q"]) == [30, 50] and table.target("q") == 40.0
    assert table.target("never-solved") is None  # no target, never a magic 4096
    assert table.targets() == {"q": 40.0}


def test_length_table_windows():
    table = LengthTable()
    table.update("q", [10, 20])
    table.update("q", [30])
    assert table.band_lengths("q", [30], "group") == [30]
    assert table.band_lengths("q", [30], "history") == [10, 20, 30]
    with pytest.raises(ValueError, match="allowed: group, history"):
        table.band_lengths("q", [30], "all")
    with pytest.raises(ValueError, match="allowed: median, mean"):
        table.target("q", "mode")


def test_stage1_batch_groups_by_prompt_and_keeps_history():
    from lenbench.methods.lapo import stage1_batch

    table = LengthTable()
    # two groups of 4 consecutive rows (TRL's layout); p1 has correct lengths [10, 20, 30, 40], p2 none
    prompt_ids = ["p1", "p1", "p1", "p1", "p2", "p2", "p2", "p2"]
    lengths = [10, 20, 30, 40, 99, 50, 98, 97]
    correct = [True, True, True, True, False, False, False, False]
    batch = stage1_batch(table, prompt_ids, lengths, correct, group_size=4, alpha=0.7, tau=100, window="group")
    # p1's band is [19, 31] (see test_stage1_mixed_group): 10 and 40 are 9 outside -> 1.637; 20, 30 -> 1.7
    assert batch.rewards == pytest.approx([1.637, 1.7, 1.7, 1.637, 0.0, 0.0, 0.0, 0.0])
    assert batch.band_hit_rate == 0.5  # 2 of p1's 4 correct rollouts inside the band
    assert table.target("p1") == 25.0 and table.target("p2") is None
    # a second visit of p1 with one correct rollout: no band from the group alone ...
    again = stage1_batch(table, ["p1", "p1"], [60, 70], [True, False], group_size=2, alpha=0.7, tau=100,
                         window="group")
    assert again.rewards == [1.0, 0.0] and again.band_hit_rate is None
    # ... but with window=history the band comes from [10, 20, 30, 40, 60]: 30th at position 1.2 = 22,
    # 70th at position 2.8 = 30 + 0.8 * 10 = 38, so L=60 is 22 above: 1 + 0.7 * 0.78 = 1.546
    table_h = LengthTable()
    stage1_batch(table_h, prompt_ids, lengths, correct, group_size=4, alpha=0.7, tau=100, window="history")
    history = stage1_batch(table_h, ["p1", "p1"], [60, 70], [True, False], group_size=2, alpha=0.7, tau=100,
                           window="history")
    assert history.rewards == pytest.approx([1.546, 0.0])


def test_stage1_batch_keeps_two_groups_of_one_prompt_apart():
    """A prompt drawn twice into one batch is two visits: each group gets its own band (defect 6)."""
    from lenbench.methods.lapo import stage1_batch

    table = LengthTable()
    # q twice: lengths [10, 20, 30] and [100, 110, 120], all correct; merged, the band would be [24, 106]
    batch = stage1_batch(table, ["q"] * 6, [10, 20, 30, 100, 110, 120], [True] * 6, group_size=3, alpha=0.7,
                         tau=10, window="group")
    # each group's band: 30th/70th of [10, 20, 30] = [16, 24]; 10 and 30 are 6 outside -> 1 + 0.7 * 0.4
    assert batch.rewards == pytest.approx([1.28, 1.7, 1.28, 1.28, 1.7, 1.28])
    assert list(table.lengths["q"]) == [10, 20, 30, 100, 110, 120]  # two visits recorded
    with pytest.raises(ValueError, match="not one prompt's group"):
        stage1_batch(table, ["q", "r", "q", "r"], [1, 2, 3, 4], [True] * 4, group_size=2, alpha=0.7, tau=10,
                     window="group")


def test_stage2_prompts_for_both_plan_modes():
    from lenbench.methods.lapo import stage2_prompt

    prompt = "compute 3 + 4 <think>"
    assert stage2_prompt(prompt, "prompt", 23.6, *TESTBED_PLAN) == (
        "compute 3 + 4 <think> I will answer the question with 24 tokens ."
    )
    assert stage2_prompt(prompt, "prompt", None, *TESTBED_PLAN) is None  # no target: left out
    assert stage2_prompt(prompt, "self", None, *TESTBED_PLAN) == (
        "compute 3 + 4 <think> I will answer the question with"
    )
    with pytest.raises(ValueError, match="allowed: prompt, self"):
        stage2_prompt(prompt, "both", 10, *TESTBED_PLAN)
    # a real model's plan sentence (the default of file datasets): no space before the period, and no
    # doubled space after a chat template's newline
    from lenbench.data.prompts import PLAN_SENTENCE

    assert stage2_prompt("<|assistant|>\n", "prompt", 1234.4, *PLAN_SENTENCE) == (
        "<|assistant|>\nI will answer the question with 1234 tokens."
    )


def test_self_plan_reward_by_hand():
    from lenbench.methods.lapo import self_plan_reward

    knobs = dict(beta=0.8, sigma=10.0, plan_weight=0.5, plan_sigma=5.0)
    # declared 20 and L' = 20 tokens after the plan: length term 0.8;
    # declared 20 vs target 25 is one plan_sigma away: 0.5 * exp(-0.5)
    assert self_plan_reward(20, 20, True, 25.0, **knobs) == pytest.approx(1 + 0.8 + 0.5 * math.exp(-0.5))
    # wrong answer: no correctness, so neither length nor plan term
    assert self_plan_reward(20, 20, False, 25.0, **knobs) == 0.0
    # no target: correctness and length term only
    assert self_plan_reward(20, 20, True, None, **knobs) == pytest.approx(1.8)
    # no plan: correctness only
    assert self_plan_reward(None, 23, True, 25.0, **knobs) == 1.0


def test_lapo_config_defaults_validate():
    from lenbench.methods.lapo import LAPOMethodConfig

    LAPOMethodConfig().validate()


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"stage": "warmup"}, "method.stage='warmup' is not a known option; allowed: 'discovery'"),
        ({"window": "all"}, "method.window='all'.*'group', 'history'"),
        ({"target_stat": "mode"}, "method.target_stat='mode'.*'median', 'mean'"),
        ({"plan_mode": "both"}, "method.plan_mode='both'.*'prompt', 'self'"),
        ({"tau": 0.0}, r"method.tau=0.0 is out of range; allowed: > 0.0"),
        ({"alpha": -0.1}, r"method.alpha=-0.1 is out of range; allowed: >= 0.0"),
        ({"band_low_pct": 70.0, "band_high_pct": 30.0}, "band_low_pct=70.0 must be below"),
        ({"band_high_pct": 101.0}, r"method.band_high_pct=101.0 is out of range; allowed: in \[0.0, 100.0\]"),
        ({"stage": "internalization"}, "needs method.length_table"),
        ({"discovery_steps": 0}, r"method.discovery_steps=0 is out of range; allowed: >= 1"),
        ({"internalization_steps": -2}, r"method.internalization_steps=-2 is out of range; allowed: >= 1"),
    ],
)
def test_lapo_config_bad_values(changes, message):
    from lenbench.errors import ConfigError
    from lenbench.methods.lapo import LAPOMethodConfig

    with pytest.raises(ConfigError, match=message):
        LAPOMethodConfig(**changes).validate()


def test_each_stage_runs_its_own_steps_else_the_trainers():
    from lenbench.methods.lapo import LAPOMethodConfig, stage_steps

    assert stage_steps(LAPOMethodConfig(), 7) == (7, 7)
    assert stage_steps(LAPOMethodConfig(discovery_steps=3), 7) == (3, 7)
    assert stage_steps(LAPOMethodConfig(discovery_steps=3, internalization_steps=5), 7) == (3, 5)


def test_plan_fidelity_by_hand():
    from lenbench.methods.lapo import plan_fidelity

    # three plans (one completion has none): declared 10, 20, 30 vs actual 12, 20, 34
    result = plan_fidelity([10, None, 20, 30], [12, 50, 20, 34])
    assert result["plan_rate"] == 0.75
    assert result["plan_median_abs_error"] == 2.0  # errors 2, 0, 4
    # Pearson: x - mean = (-10, 0, 10), y - mean(22) = (-10, -2, 12) -> 220 / sqrt(200 * 248)
    assert result["plan_corr"] == pytest.approx(220 / math.sqrt(200 * 248))
    assert plan_fidelity([None, None], [5, 6]) == {"plan_rate": 0.0}
    assert math.isnan(plan_fidelity([10, 10], [5, 6])["plan_corr"])
