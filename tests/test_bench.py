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


def test_tiny_build_bad_input_is_one_line_and_writes_nothing(tmp_path, capsys):
    out = tmp_path / "tiny"
    assert main(["--build-tiny", str(out)]) == 2
    assert capsys.readouterr().err.strip() == ("lenbench bench: --build-tiny needs --data (the math data file whose "
                                               "problem texts train the tokenizer)")
    data = tmp_path / "problems.jsonl"
    data.write_text('{"problem": "1 + 1?"}\n')
    assert main(["--build-tiny", str(out), "--data", str(data), "--heads", "3"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("lenbench bench: --heads=3 must divide --hidden=64") and "\n" not in err
    assert not out.exists()


def test_bench_methods_prints_a_ratio_per_method(capsys):
    main(["--methods", "kimi,dler,l1", "--steps", "2", "+experiment=micro"])
    out = capsys.readouterr().out
    for name in ("grpo", "kimi", "dler", "l1"):
        assert re.search(rf"^{name}: \d+\.\d+ s/step = \d+\.\d+x grpo$", out, re.M), out


def test_bench_methods_refuses_a_two_stage_method(capsys):
    assert main(["--methods", "grpo,lapo", "--steps", "2", "+experiment=micro"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("lenbench bench: --methods: 'lapo' cannot be timed; allowed: grpo")
    assert "\n" not in err.strip()
