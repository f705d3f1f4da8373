"""LEAD maths on hand-computed batches (shared/docs/methods.md), config errors, the engine wiring."""

import math

import pytest
import torch

from lenbench.methods.lead import (
    LEADMethodConfig,
    PSIWeights,
    decoupled_advantages,
    efficiency_reward,
    pooled_moments,
    psi_targets,
    sequence_whiten,
    target_length,
    token_whiten,
)


@pytest.mark.parametrize(
    "aggregator, expected",
    [("mean_correct", 80 / 3), ("median_correct", 30.0), ("min_correct", 12.0), ("mean_all", 25.0)],
)
def test_target_length_mixed_group(aggregator, expected):
    # lengths 10, 20, 30, 40 with the 20 wrong: correct mean 80/3, median 30, min 10 (clamped up to
    # L_min 12), mean of all 25
    lengths, correct = [10, 20, 30, 40], [True, False, True, True]
    assert target_length(lengths, correct, aggregator, 12.0, 100.0) == pytest.approx(expected)


def test_target_length_clamps_and_unsolved():
    assert target_length([10, 20], [True, True], "mean_correct", 1.0, 100.0) == 15.0  # all correct
    assert target_length([90, 110], [True, True], "mean_correct", 1.0, 50.0) == 50.0  # clamped to L_max
    assert target_length([10, 20], [False, False], "mean_correct", 1.0, 160.0) == 160.0  # sentinel L_max
    assert target_length([10, 20], [False, False], "mean_all", 1.0, 160.0) == 160.0  # unsolved for every aggregator
    assert target_length([10, 20], [False, False], "mean_correct", 1.0, 160.0, unsolved="none") is None
    assert target_length([7], [True], "mean_correct", 1.0, 160.0) == 7.0  # singleton group


@pytest.mark.parametrize(
    "mode, length, correct, expected",
    [
        ("sym", 30, True, 0.5),  # 1 - |30 - 20| / 20
        ("sym", 10, False, 0.5),  # symmetric, correctness does not matter
        ("sym", 70, True, -1.0),  # 1 - 50/20 = -1.5, floored at -1
        ("asym", 10, True, 0.5),  # correct and shorter: 1 - 10/20
        ("asym", 30, True, 0.0),  # correct and longer: max(0, -0.5)
        ("asym", 30, False, -0.5),  # wrong and longer: clamp(-0.5, -1, 0)
        ("asym", 10, False, 0.0),  # wrong and shorter: clamp(0.5, -1, 0)
        ("asym", 70, False, -1.0),
        ("upper_only", 10, True, 0.0),
        ("upper_only", 30, True, -0.5),
        ("upper_only", 70, False, -1.0),
    ],
)
def test_efficiency_reward_modes(mode, length, correct, expected):
    assert efficiency_reward(length, 20.0, correct, mode) == pytest.approx(expected)


def test_efficiency_reward_unsolved():
    # sentinel L* = L_max = 160 under sym rewards the longer rollout of an unsolved prompt (documented)
    assert efficiency_reward(160, 160.0, False, "sym") == 1.0
    assert efficiency_reward(80, 160.0, False, "sym") == 0.5
    assert efficiency_reward(80, None, False, "sym") == 0.0  # unsolved=none: no efficiency reward


def test_pooled_moments_law_of_total_variance():
    # groups [1, 0] and [1, 1]: means 0.5, 1 -> mu 0.75; within (0.25 + 0) / 2; between var(0.5, 1) = 0.0625
    mu, sigma = pooled_moments([[1, 0], [1, 1]])
    assert mu == 0.75 and sigma == pytest.approx(math.sqrt(0.125 + 0.0625))
    # a singleton group has no spread of its own; groups weigh equally whatever their size
    mu, sigma = pooled_moments([[1], [0, 1]])
    assert mu == 0.75 and sigma == pytest.approx(math.sqrt(0.125 + 0.0625))
    assert pooled_moments([[1, 0], []]) == (0.5, 0.5)  # an empty group (no correct rollout) is skipped
    assert pooled_moments([[], []]) is None


def test_psi_targets_mixed_batch():
    # correctness [1, 0], [1, 1]: mu_c 0.75, sigma_c sqrt(3)/4, raw CV 1/sqrt(3)
    # efficiency of the correct rollouts [0.5], [1.0, 0.5]: mu_e 0.625, sigma_e sqrt(3)/8, raw CV sqrt(3)/5
    # normalized CVs (1/3) / (1/3 + 1/5) = 0.625 and 0.375; P_c = 0.25, P_e = (1 - 0.625) / 2 = 0.1875
    # D_c = 0.15625, D_e = 0.0703125 -> targets 20/29, 9/29
    t = psi_targets([[1, 0], [1, 1]], [[0.5], [1.0, 0.5]])
    assert (t.cv_c, t.cv_e) == (pytest.approx(0.625), pytest.approx(0.375))
    assert (t.potential_c, t.potential_e) == (pytest.approx(0.25), pytest.approx(0.1875))
    assert (t.target_c, t.target_e) == (pytest.approx(20 / 29), pytest.approx(9 / 29))
    # sharpness a = 2 squares the potentials: 0.625 * 0.0625 / (0.625 * 0.0625 + 0.375 * 0.03515625)
    sharp = psi_targets([[1, 0], [1, 1]], [[0.5], [1.0, 0.5]], sharpness=2.0)
    assert sharp.target_c == pytest.approx(0.0390625 / (0.0390625 + 0.375 * 0.1875**2))


def test_psi_targets_edge_batches():
    # all correct: no correctness spread and no correctness potential -> all weight on efficiency
    all_correct = psi_targets([[1, 1], [1, 1]], [[1.0, 0.5], [1.0, 1.0]])
    assert all_correct.target_c == 0.0 and all_correct.target_e == pytest.approx(1.0)
    # one all-wrong group beside a mixed one; efficiency constant -> all weight on correctness
    # mu_c 0.25, sigma_c sqrt(0.1875) -> raw CV sqrt(3); P_c 0.75; sigma_e 0
    wrong_group = psi_targets([[0, 0], [1, 0]], [[], [0.8]])
    assert wrong_group.cv_c == pytest.approx(1.0) and wrong_group.potential_c == 0.75
    assert wrong_group.target_c == pytest.approx(1.0) and wrong_group.target_e == 0.0
    # no correct rollout anywhere: D_e = 0 and D_c = 0 (no spread) -> both targets 0
    none_correct = psi_targets([[0, 0], [0, 0]], [[], []])
    assert (none_correct.target_c, none_correct.target_e, none_correct.potential_e) == (0.0, 0.0, 0.0)
    # a singleton group on its own has no spread at all
    singleton = psi_targets([[1]], [[0.5]])
    assert (singleton.target_c, singleton.target_e) == (0.0, 0.0)


def test_ema_and_floor():
    weights = PSIWeights()
    assert (weights.ema_c, weights.ema_e) == (0.5, 0.5)
    weights.update(psi_targets([[1, 0], [1, 1]], [[0.5], [1.0, 0.5]]), ema_lambda=0.95)
    assert weights.ema_c == pytest.approx(0.95 * 0.5 + 0.05 * 20 / 29)
    assert weights.ema_e == pytest.approx(0.95 * 0.5 + 0.05 * 9 / 29)
    assert weights.used(0.3) == (pytest.approx(weights.ema_c), pytest.approx(1 - weights.ema_c))
    low = PSIWeights(ema_c=0.1, ema_e=0.9)
    assert low.used(0.3) == (0.3, 0.7)  # the weight used is floored...
    low.update(psi_targets([[1, 1]], [[1.0, 0.5]]), ema_lambda=0.5)  # target_c 0
    assert low.ema_c == pytest.approx(0.05)  # ...the stored EMA is not


def test_decoupled_advantages_by_hand():
    # groups of 2: correctness [1, 0] -> +-1/sqrt(2) (unbiased std), [1, 1] -> 0;
    # efficiency [0.5, -0.5] -> +-1/sqrt(2), [1.0, 0.5] -> +-1/sqrt(2)
    # w = (0.5, 0.5): combined [a, -a, a/2, -a/2] with a = 1/sqrt(2); mean 0, unbiased var 1.25/3
    corr, eff = torch.tensor([1.0, 0.0, 1.0, 1.0]), torch.tensor([0.5, -0.5, 1.0, 0.5])
    adv = decoupled_advantages(corr, eff, 2, 0.5, 0.5, "sequence", eps=1e-12)
    expected = torch.tensor([math.sqrt(1.2), -math.sqrt(1.2), math.sqrt(0.3), -math.sqrt(0.3)])
    assert torch.allclose(adv, expected, atol=1e-5)
    # token whitening with lengths 2, 2, 1, 1: mean 0, var (2 * 0.5 * 2 + 0.125 * 2) / 5 = 0.45
    adv = decoupled_advantages(corr, eff, 2, 0.5, 0.5, "token", torch.tensor([2, 2, 1, 1]), eps=1e-12)
    a, b = math.sqrt(0.5 / 0.45), math.sqrt(0.125 / 0.45)
    assert torch.allclose(adv, torch.tensor([a, -a, b, -b]), atol=1e-5)


def test_token_whiten_weights_by_length():
    # A = [1, 0], T = [3, 1]: mean 0.75, var (3 * 0.0625 + 0.5625) / 3 = 0.25 -> [0.5, -1.5]
    whitened = token_whiten(torch.tensor([1.0, 0.0]), torch.tensor([3, 1]), eps=0.0)
    assert torch.allclose(whitened, torch.tensor([0.5, -1.5]))
    # whitening is affine-invariant: re-whitening TRL's sequence-whitened advantages is exact
    raw, lengths = torch.tensor([0.3, -1.0, 2.0, 0.1]), torch.tensor([5, 9, 2, 4])
    assert torch.allclose(token_whiten(sequence_whiten(raw, 0.0), lengths, 0.0), token_whiten(raw, lengths, 0.0),
                          atol=1e-6)


def test_lead_config_defaults_validate():
    LEADMethodConfig().validate()


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"w_min": 1.5}, r"method.w_min=1.5 is out of range; allowed: in \[0.0, 1.0\]"),
        ({"w_min": -0.1}, r"method.w_min=-0.1 is out of range; allowed: in \[0.0, 1.0\]"),
        ({"ema_lambda": 1.0}, r"method.ema_lambda=1.0 is out of range; allowed: in \[0.0, 1.0\)"),
        ({"ema_lambda": -0.5}, r"method.ema_lambda=-0.5 is out of range"),
        ({"length_min": 200.0}, "method.length_min=200.0 must not exceed method.length_max=160.0"),
        ({"length_min": 0.0}, r"method.length_min=0.0 is out of range; allowed: > 0.0"),
        ({"efficiency_mode": "both"}, "method.efficiency_mode='both' is not a known option; allowed: 'sym', 'asym'"),
        ({"aggregator": "max_correct"}, "method.aggregator='max_correct'.*'mean_correct', 'median_correct'"),
        ({"unsolved": "skip"}, "method.unsolved='skip'.*'sentinel', 'none'"),
        ({"whiten": "batch"}, "method.whiten='batch'.*'sequence', 'token'"),
        ({"weights": "dynamic"}, "method.weights='dynamic'.*'psi', 'static'"),
        ({"static_w_c": 2.0}, r"method.static_w_c=2.0 is out of range"),
        ({"sharpness": 0.0}, r"method.sharpness=0.0 is out of range; allowed: > 0.0"),
    ],
)
def test_lead_config_bad_values(changes, message):
    from lenbench.errors import ConfigError

    with pytest.raises(ConfigError, match=message):
        LEADMethodConfig(**changes).validate()
