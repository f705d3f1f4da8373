"""The benchmark command runs on the micro testbed and prints its figures (no timing asserted)."""

import re

from lenbench.bench import main


def test_bench_prints_step_time_and_eval_throughput(capsys):
    main(["--steps", "2", "--eval-problems", "4", "+experiment=micro"])
    out = capsys.readouterr().out
    assert re.search(r"grpo: 2 steps of 2 prompts x 2 rollouts", out)
    assert re.search(r"steady \d+\.\d+ s/step", out)
    assert re.search(r"eval: 4 problems x 2 samples, \d+ tokens in \d+\.\d+ s = \d+ tokens/s", out)


def test_bench_iapo_prints_a_ratio_per_estimator(capsys):
    main(["--iapo", "--steps", "2", "+experiment=micro"])
    out = capsys.readouterr().out
    assert re.search(r"grpo: \d+\.\d+ s/step", out)
    for estimator in ("early_exit", "answer_logprob", "next_token"):
        assert re.search(rf"iapo {estimator}: \d+\.\d+ s/step = \d+\.\d+x grpo", out)
