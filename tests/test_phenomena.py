"""The phenomena table's trace parser and aggregates, on hand-written completions."""

import pandas as pd
import pytest

from lenbench.testbed.phenomena import phenomena_table, trace_events, wrong_to_correct_ratio


def test_trace_events_counts_slips_checks_and_fixes():
    text = "3 + 4 = 8 ; check 3 + 4 = 7 fix ; 7 * 2 = 14 ; check 7 * 2 = 14 ok ; </think> answer 14"
    events = trace_events(text)
    assert (events.steps, events.slips, events.fixed, events.checks) == (2, 1, 1, 2)


def test_an_uncaught_slip_and_a_wrong_fix_are_not_fixed():
    uncaught = trace_events("3 + 4 = 8 ; 8 * 2 = 16 ; </think> answer 16")
    assert (uncaught.slips, uncaught.fixed) == (1, 0)  # 8 * 2 = 16 is right for its own operands
    wrong_fix = trace_events("3 + 4 = 8 ; check 3 + 4 = 9 fix ; </think> answer 9")
    assert (wrong_fix.slips, wrong_fix.fixed, wrong_fix.checks) == (1, 0, 1)
    loop = trace_events("3 + 4 = 8 ; check 3 + 4 = 7 ; check 3 + 4 = 8 ; check 3 + 4")
    assert (loop.slips, loop.fixed, loop.checks) == (1, 0, 3)
    assert trace_events("").steps == 0 and trace_events("garbage = ; 3 x 4 = 7 ;").steps == 0


def _samples(rows):
    columns = ["difficulty", "decoding", "completion", "tokens", "truncated", "correct", "oracle_length"]
    return pd.DataFrame(rows, columns=columns)


def test_phenomena_table_hand_computed():
    samples = _samples([
        (1, "sample", "3 + 4 = 7 ; </think> answer 7", 10, False, True, 10),
        (1, "sample", "3 + 4 = 8 ; check 3 + 4 = 7 fix ; </think> answer 7", 17, False, True, 10),
        (1, "sample", "3 + 4 = 8 ; check 3 + 4 = 7 ; check 3 + 4 = 8 ;", 30, True, False, 10),
        (1, "greedy", "3 + 4 = 7 ; </think> answer 7", 10, False, True, 10),
        (2, "sample", "1 + 1 = 2 ; 2 + 1 = 4 ; </think> answer 4", 16, False, False, 16),
        (2, "greedy", "1 + 1 = 2 ; 2 + 1 = 4 ; </think> answer 4", 16, False, False, 16),
    ])
    table = phenomena_table(samples)
    one = table.loc[1]
    assert one["pass@1"] == pytest.approx(2 / 3) and one["greedy_accuracy"] == 1.0
    assert one["tokens_correct"] == pytest.approx(13.5) and one["tokens_wrong"] == 30
    assert one["oracle_ratio"] == pytest.approx((1.0 + 1.7 + 3.0) / 3)
    assert one["truncation"] == pytest.approx(1 / 3) and one["checks"] == pytest.approx(1.0)
    assert one["slips_fixed"] == pytest.approx(1 / 2)  # two slips, one fixed
    assert table.loc["all", "pass@1"] == pytest.approx(2 / 4)
    assert table.loc["all", "slips_fixed"] == pytest.approx(1 / 3)
    # wrong/correct at equal difficulty: only k = 1 has both, 30 / 13.5
    assert wrong_to_correct_ratio(samples) == pytest.approx(30 / 13.5)
