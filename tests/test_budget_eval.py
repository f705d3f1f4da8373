"""Budget metrics in evaluation (lenbench.eval.budgets): hand-computed cases and a micro run with a marker."""

import math

import mlflow
import pandas as pd
import pytest

from lenbench.eval.backend import Completion
from lenbench.eval.budgets import budget_summary, think_counts


def _row(problem, correct, tokens, decoding="sample", difficulty=1):
    return {"problem_id": problem, "difficulty": difficulty, "decoding": decoding, "correct": correct,
            "tokens": tokens, "truncated": tokens == 40}


def test_budget_curve_area_and_tokens_by_outcome_by_hand():
    samples = pd.DataFrame([
        _row("p1", True, 10), _row("p1", True, 30),
        _row("p2", False, 20), _row("p2", True, 40),  # 40 = max length: truncated, still within B = 40
        _row("p1", False, 5, decoding="greedy"), _row("p2", True, 1, decoding="greedy"),  # not pass@1: ignored
    ])
    summary = budget_summary(samples, [10, 20, 30, 40])
    # B=10: p1 keeps 1 of 2 correct (0.5), p2 none (0) -> 0.25; B=20 the same; B=30: p1 1.0, p2 0 -> 0.5;
    # B=40: p1 1.0, p2 0.5 -> 0.75. Area = mean over the grid = (0.25 + 0.25 + 0.5 + 0.75) / 4
    assert summary["budget/acc_at_10"] == pytest.approx(0.25) and summary["budget/acc_at_20"] == pytest.approx(0.25)
    assert summary["budget/acc_at_30"] == pytest.approx(0.5) and summary["budget/acc_at_40"] == pytest.approx(0.75)
    assert summary["budget_auc"] == pytest.approx(1.75 / 4)
    assert summary["tokens_correct"] == pytest.approx((10 + 30 + 40) / 3) and summary["tokens_wrong"] == 20
    assert "thinking_tokens" not in summary  # no think-close marker: nothing about thinking
    scalars = budget_summary(samples, [10, 20, 30, 40], curve=False)
    assert not any(key.startswith("budget/") for key in scalars) and scalars["budget_auc"] == summary["budget_auc"]
    # nothing correct: no mean of correct lengths; a budget below every length: accuracy 0
    wrong = budget_summary(pd.DataFrame([_row("p1", False, 12), _row("p1", False, 8)]), [4, 12])
    assert math.isnan(wrong["tokens_correct"]) and wrong["tokens_wrong"] == 10 and wrong["budget_auc"] == 0


def test_thinking_and_answer_tokens_split_after_the_last_marker():
    marker = [7, 8]  # a two-token marker
    closed = Completion("", 7, False, (1, 7, 8, 2, 7, 8, 3))  # last marker ends at 6: 6 thinking, 1 answer
    unclosed = Completion("", 3, True, (1, 7, 2))
    assert think_counts(closed, marker) == {"thinking_tokens": 6, "answer_tokens": 1, "think_closed": True}
    assert think_counts(unclosed, marker) == {"thinking_tokens": 3, "answer_tokens": 0, "think_closed": False}
    with pytest.raises(ValueError, match="no token ids"):
        think_counts(Completion("x", 1, False), marker)
    rows = [{**_row("p1", True, 7), **think_counts(closed, marker)},
            {**_row("p2", False, 3), **think_counts(unclosed, marker)}]
    summary = budget_summary(pd.DataFrame(rows), [7])
    assert (summary["thinking_tokens"], summary["answer_tokens"], summary["think_closed_rate"]) == (4.5, 0.5, 0.5)


@pytest.mark.e2e
def test_a_think_close_marker_splits_thinking_and_answer_tokens(compose, tmp_path, monkeypatch):
    import lenbench.run as entry

    monkeypatch.chdir(tmp_path)
    uri = f"sqlite:///{tmp_path / 'think.db'}"
    # the testbed's vocabulary has a `</think>` word (its model has no think marker; exact grading ignores it)
    entry.run_job(compose("+experiment=micro", "method=base", "model.think_close='</think>'", f"tracking.uri={uri}"))
    mlflow.set_tracking_uri(uri)
    run_id = mlflow.search_runs(experiment_names=["lenbench"]).run_id.item()
    metrics = mlflow.MlflowClient().get_run(run_id).data.metrics
    samples = pd.read_csv(mlflow.MlflowClient().download_artifacts(run_id, "eval/samples.csv", str(tmp_path)))
    assert (samples.thinking_tokens + samples.answer_tokens == samples.tokens).all()
    assert (samples.think_closed == samples.completion.fillna("").str.contains("</think>")).all()
    sampled = samples[samples.decoding == "sample"]
    assert 0 < sampled.think_closed.mean() < 1  # both kinds occur: the split is exercised
    assert metrics["eval/think_closed_rate"] == pytest.approx(sampled.think_closed.mean())
    assert metrics["eval/thinking_tokens"] + metrics["eval/answer_tokens"] == pytest.approx(metrics["eval/tokens_mean"])
    assert (sampled[~sampled.think_closed].answer_tokens == 0).all()
    assert "eval/k1/thinking_tokens" in metrics
