"""The generated word problems (dataset=word_problems): what ships is the generator's output, the
splits are disjoint, and the preset loads them through the file adapter like any data file."""

import json
import re

from lenbench.config import compose_run
from lenbench.data import load_task_data
from lenbench.data.word_problems import SHIPPED, write


def rows(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_the_shipped_files_are_the_generators_output(tmp_path):
    for name, path in write(tmp_path).items():
        stale = f"{name}: rerun python -m lenbench.data.word_problems"
        assert path.read_bytes() == (SHIPPED / path.name).read_bytes(), stale


def test_splits_share_no_problem_and_answers_are_whole_numbers():
    train, held_out = rows(SHIPPED / "train.jsonl"), rows(SHIPPED / "eval.jsonl")
    assert not {r["problem"] for r in train} & {r["problem"] for r in held_out}
    for row in train + held_out:
        assert re.fullmatch(r"\d+", row["answer"]) and row["difficulty"] in (1, 2)
        assert len(re.findall(r"\d+", row["problem"])) >= 2  # a story with at least two numbers
    assert {r["difficulty"] for r in held_out} == {1, 2}


def test_the_preset_loads_from_any_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    run = compose_run(["dataset=word_problems", "model=local", f"model.path={tmp_path}"])
    data = load_task_data(run.dataset)
    assert (len(data.train), len(data.eval)) == (len(rows(SHIPPED / "train.jsonl")), len(rows(SHIPPED / "eval.jsonl")))
    first = rows(SHIPPED / "eval.jsonl")[0]
    assert data.eval[0]["prompt"] == f"{first['problem']} {run.dataset.eval.instruction}"
    assert data.eval[0]["answer"] == first["answer"] and data.eval[0]["problem_id"] == first["id"]
