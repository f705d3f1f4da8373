"""File datasets: the six real benchmark files load with their presets; malformed rows and bad paths
are config errors. Expected values are read from the raw files here, independently of the loader."""

import json
import os
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from lenbench.config import DataFileConfig, DatasetConfig, FieldMapConfig, load_run_config
from lenbench.data import load_task_data
from lenbench.errors import ConfigError
from lenbench.testbed.data import load_testbed

REPO = Path(__file__).resolve().parents[1]
BENCH = Path(os.environ.get("LENBENCH_BENCHMARKS", REPO.parent / "shared" / "data" / "benchmarks")).resolve()
needs_files = pytest.mark.skipif(not BENCH.is_dir(), reason=f"benchmark files not found in {BENCH}")
INSTRUCTION = DataFileConfig().instruction

# README row counts: (preset, train rows, eval rows)
PRESETS = [
    ("math500", 0, 500),
    ("aime24", 0, 30),
    ("amc23", 0, 83),
    ("gsm8k", 0, 1319),
    ("olympiadbench", 0, 675),
    ("math_l3to5", 8521, 500),
]


@pytest.fixture
def preset(compose, monkeypatch):
    """TaskData of conf/dataset/<name>.yaml reading the real files."""
    monkeypatch.setenv("LENBENCH_BENCHMARKS", str(BENCH))

    def _load(name: str, *overrides: str):
        run = load_run_config(compose(f"dataset={name}", *overrides))
        return run.dataset, load_task_data(run.dataset)

    return _load


def raw(name: str) -> list[dict]:
    return json.loads((BENCH / name).read_text())


def file_dataset(path: Path, **kwargs) -> DatasetConfig:
    """A validated file DatasetConfig evaluating on `path` (kwargs override any field, `eval` too)."""
    cfg = DatasetConfig(**{"name": "tmp", "adapter": "file", "grader": "math", "eval": DataFileConfig(path=str(path)),
                           **kwargs})
    cfg.validate()
    return cfg


@needs_files
@pytest.mark.parametrize("name, train_rows, eval_rows", PRESETS)
def test_each_preset_loads_its_file_with_the_readme_row_count(preset, name, train_rows, eval_rows):
    cfg, data = preset(name)
    assert (len(data.train), len(data.eval)) == (train_rows, eval_rows)
    assert data.grader.kind == "math" and data.skipped == 0 and cfg.name == name
    for split in (data.train, data.eval):
        assert set(split.column_names) == {"prompt", "answer", "difficulty", "oracle_length", "problem_id", "unit",
                                           "alternatives"}
        assert len(set(split["problem_id"])) == len(split)
        assert all(isinstance(a, str) and a for a in split["answer"])
        assert all(length is None for length in split["oracle_length"])
    assert all("\\boxed{}" in prompt for prompt in data.eval["prompt"])


@needs_files
def test_eval_prompts_are_question_plus_instruction_as_plain_text(preset):
    _, data = preset("math500")
    rows = raw("math500.json")
    assert data.eval["prompt"] == [f"{r['problem'].strip()} {INSTRUCTION}" for r in rows]
    assert data.eval["problem_id"] == [r["unique_id"] for r in rows]
    assert data.eval["answer"] == [r["answer"] for r in rows]
    assert data.eval["difficulty"] == [int(r["difficulty"]) for r in rows]
    assert sorted(set(data.eval["difficulty"])) == [1, 2, 3, 4, 5]


@needs_files
def test_gsm8k_answers_come_from_the_solution_hash_line(preset):
    _, data = preset("gsm8k")
    rows = raw("gsm8k.json")
    assert all(r["answer"] is None for r in rows)  # the published answer field is empty
    expected = [r["solution"].split("####")[-1].strip().replace(",", "") for r in rows]
    assert data.eval["answer"] == expected
    assert all(a.lstrip("-").isdigit() for a in data.eval["answer"])
    assert set(data.eval["difficulty"]) == {0}  # the file's -1.0 placeholder is not mapped


@needs_files
def test_amc_float_answers_are_normalised(preset):
    _, data = preset("amc23")
    rows = raw("amc23.json")
    assert all(isinstance(r["answer"], float) for r in rows)
    for row, answer in zip(rows, data.eval["answer"], strict=True):
        assert float(answer) == row["answer"]
        assert not answer.endswith(".0")
    assert "142" in data.eval["answer"]


@needs_files
def test_olympiadbench_answer_lists_and_units(preset):
    _, data = preset("olympiadbench")
    rows = raw("olympiadbench.json")
    assert all(isinstance(r["answer"], list) for r in rows)
    assert data.eval["answer"] == [", ".join(part.strip() for part in r["answer"]) for r in rows]
    assert data.eval["problem_id"] == [str(r["id"]) for r in rows]
    assert data.eval["unit"] == [r["unit"] or "" for r in rows]
    assert sum(bool(u) for u in data.eval["unit"]) == sum(bool(r["unit"]) for r in rows) > 0


@needs_files
def test_math_train_parquet_reads_nested_fields_and_chat_prompts(preset):
    _, data = preset("math_l3to5")
    rows = pq.read_table(BENCH / "math_train_l3to5.parquet").to_pylist()
    assert data.train["answer"] == [r["reward_model"]["ground_truth"] for r in rows]
    assert data.train["prompt"] == [r["prompt"][-1]["content"].strip() for r in rows]  # instruction already in it
    assert data.train["difficulty"] == [int(r["extra_info"]["level"].removeprefix("Level ")) for r in rows]
    assert data.train["problem_id"] == [str(r["extra_info"]["index"]) for r in rows]
    # train and eval prompts end in the same instruction sentence
    train_tail = data.train["prompt"][0][-60:]
    assert all(prompt.endswith(train_tail) for prompt in data.eval["prompt"])


@needs_files
def test_hashes_follow_the_problems_and_the_prompt(preset):
    _, first = preset("math500")
    _, again = preset("math500")
    _, other = preset("math500", "dataset.eval.instruction=Answer briefly.")
    _, fewer = preset("math500", "dataset.limit=20")
    assert first.eval_hash == again.eval_hash
    assert other.eval_hash != first.eval_hash and fewer.eval_hash != first.eval_hash
    assert len(fewer.eval) == 20 and fewer.eval["problem_id"] == first.eval["problem_id"][:20]


def test_missing_benchmark_root_names_the_path_field(compose, monkeypatch, tmp_path):
    monkeypatch.setenv("LENBENCH_BENCHMARKS", str(tmp_path / "nowhere"))
    run = load_run_config(compose("dataset=aime24"))
    with pytest.raises(ConfigError, match="dataset.eval.path=.*nowhere/aime24.json.*is not a file"):
        load_task_data(run.dataset)


def write_jsonl(path: Path, rows: list) -> Path:
    path.write_text("\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows) + "\n")
    return path


GOOD = {"problem": "What is 1+1?", "answer": 2}
NO_QUESTION = {"problem": "  ", "answer": "3"}
NO_ANSWER = {"problem": "What is 2+2?", "answer": None, "solution": "It is four."}


def test_malformed_rows_stop_loading_naming_file_row_and_field(tmp_path):
    path = write_jsonl(tmp_path / "bad.jsonl", [GOOD, NO_QUESTION, GOOD, NO_ANSWER])
    with pytest.raises(ConfigError, match=r"bad\.jsonl: row 1 has no question: field 'problem'.*skip_invalid"):
        load_task_data(file_dataset(path))
    path = write_jsonl(tmp_path / "bad2.jsonl", [GOOD, GOOD, GOOD, NO_ANSWER])
    cfg = file_dataset(path, eval=DataFileConfig(path=str(path), fields=FieldMapConfig(solution="solution")))
    expected = r"bad2\.jsonl: row 3 has no answer: field 'answer'.*'solution' has no '####'"
    with pytest.raises(ConfigError, match=expected):
        load_task_data(cfg)


def test_skip_invalid_skips_and_counts_malformed_rows(tmp_path):
    rows = [GOOD, NO_QUESTION, "{not json", GOOD, NO_ANSWER, {"question": "wrong key", "answer": "1"}, GOOD]
    path = write_jsonl(tmp_path / "mixed.jsonl", rows)
    data = load_task_data(file_dataset(path, skip_invalid=True))
    assert data.skipped == 4 and len(data.eval) == 3
    assert data.eval["problem_id"] == ["mixed:0", "mixed:3", "mixed:6"]  # row numbers of the file
    assert data.eval["answer"] == ["2", "2", "2"] and len(data.train) == 0


def test_limit_reads_only_the_first_rows(tmp_path):
    path = write_jsonl(tmp_path / "long.jsonl", [{"problem": f"q{i}", "answer": i} for i in range(10)] + [NO_QUESTION])
    data = load_task_data(file_dataset(path, limit=4))
    assert data.eval["answer"] == ["0", "1", "2", "3"]


def test_difficulties_keep_listed_levels_and_limit_counts_kept_problems(tmp_path):
    rows = [{"problem": f"q{i}", "answer": i, "level": f"Level {i % 3 + 1}"} for i in range(12)]
    path = write_jsonl(tmp_path / "levels.jsonl", rows)
    fields = FieldMapConfig(difficulty="level")
    kept = load_task_data(file_dataset(path, eval=DataFileConfig(path=str(path), fields=fields, difficulties=[1, 3])))
    # levels of rows 0..11 cycle 1, 2, 3: rows 1, 4, 7, 10 are level 2 and go
    assert kept.eval["answer"] == ["0", "2", "3", "5", "6", "8", "9", "11"]
    first = load_task_data(file_dataset(path, limit=3, eval=DataFileConfig(path=str(path), fields=fields,
                                                                               difficulties=[2])))
    assert first.eval["answer"] == ["1", "4", "7"] and first.eval["difficulty"] == [2, 2, 2]
    assert first.eval_hash != load_task_data(file_dataset(path, limit=3)).eval_hash


def test_difficulties_that_keep_nothing_name_the_field_and_the_levels_present(tmp_path):
    path = write_jsonl(tmp_path / "levels.jsonl", [{"problem": "q", "answer": 1, "level": 2}] * 2 + [GOOD])
    cfg = file_dataset(path, eval=DataFileConfig(path=str(path), fields=FieldMapConfig(difficulty="level"),
                                                 difficulties=[5]))
    with pytest.raises(ConfigError, match=r"dataset.eval.difficulties=\[5\] keeps no problem of .*levels.jsonl; "
                                          r"its levels \(problems\): 0 \(1\), 2 \(2\)"):
        load_task_data(cfg)


def test_answer_shapes_nested_fields_and_levels(tmp_path):
    rows = [
        {"q": [{"role": "system", "content": "Be terse."}, {"role": "user", "content": "Roots?"}],
         "meta": {"gold": ["$1$", "$-2$"], "level": "Level 4"}, "uid": "a"},
        {"q": "Half?", "meta": {"gold": 0.5, "level": 2.0}, "uid": "b"},
        {"q": "Big?", "meta": {"gold": 1e3, "level": "Level ?"}, "uid": "c"},
        {"q": "Sum?", "meta": {"gold": ""}, "work": "1 + 2 = 3\n#### 1,234", "uid": "d"},
    ]
    path = tmp_path / "shapes.json"
    path.write_text(json.dumps(rows))
    fields = FieldMapConfig(question="q", answer="meta.gold", solution="work", difficulty="meta.level", id="uid")
    data = load_task_data(file_dataset(path, eval=DataFileConfig(path=str(path), fields=fields, instruction="")))
    assert data.eval["prompt"] == ["Roots?", "Half?", "Big?", "Sum?"]
    assert data.eval["answer"] == ["$1$ | $-2$", "0.5", "1000", "1234"]  # a list: alternatives by default
    assert data.eval["alternatives"] == [["$1$", "$-2$"], [], [], []]
    assert data.eval["difficulty"] == [4, 2, 0, 0]
    assert data.eval["problem_id"] == ["a", "b", "c", "d"]
    fields.answer_list = "all"  # a list: the parts of one answer
    data = load_task_data(file_dataset(path, eval=DataFileConfig(path=str(path), fields=fields, instruction="")))
    assert data.eval["answer"][0] == "$1$, $-2$" and data.eval["alternatives"][0] == []


def test_any_of_answers_grade_each_alternative_alone_and_all_of_needs_every_part(tmp_path):
    from lenbench.eval.backend import Completion
    from lenbench.eval.grade import graded_rows

    path = tmp_path / "alts.json"
    path.write_text(json.dumps([{"problem": "Which?", "answer": ["3", "4"]}]))
    any_of = load_task_data(file_dataset(path))
    all_of = load_task_data(file_dataset(path, eval=DataFileConfig(
        path=str(path), fields=FieldMapConfig(answer_list="all"))))
    texts = [r"\boxed{3}", r"\boxed{4}", r"\boxed{3, 4}", r"\boxed{5}"]
    for data, expected in ((any_of, [True, True, False, False]), (all_of, [False, False, True, False])):
        rows = graded_rows(data.eval, [[Completion(t, 5, False) for t in texts]], "sample", data.grader)
        assert [row["correct"] for row in rows] == expected
        assert [row["extracted"] for row in rows] == ["3", "4", "3, 4", "5"]


def test_parquet_and_explicit_format(tmp_path):
    import pyarrow as pa

    path = tmp_path / "data.bin"
    pq.write_table(pa.Table.from_pylist([{"problem": "p", "answer": "7"}]), path)
    data = load_task_data(file_dataset(path, eval=DataFileConfig(path=str(path), format="parquet")))
    assert data.eval["answer"] == ["7"]
    with pytest.raises(ConfigError, match="cannot tell the format.*'.bin'.*dataset.eval.format"):
        load_task_data(file_dataset(path))


def test_duplicate_ids_are_a_config_error(tmp_path):
    path = write_jsonl(tmp_path / "dup.jsonl", [{**GOOD, "id": 1}, {**GOOD, "id": 1}])
    cfg = file_dataset(path, eval=DataFileConfig(path=str(path), fields=FieldMapConfig(id="id")))
    with pytest.raises(ConfigError, match="problem id '1' appears more than once"):
        load_task_data(cfg)


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"eval": DataFileConfig(path="x.json", format="csv")}, "dataset.eval.format='csv' is not a known option"),
        ({"eval": DataFileConfig()}, "dataset.eval.path must be set when dataset.adapter=file"),
        ({"eval": DataFileConfig(path="x.json"), "grader": "exact"}, "dataset.grader='exact'.*allowed: 'math'"),
        ({"eval": DataFileConfig(path="x.json"), "limit": 0}, "dataset.limit=0 is out of range"),
        ({"eval": DataFileConfig(path="x.json", fields=FieldMapConfig(answer=None))}, "fields.answer and"),
        ({"adapter": "hub"}, "dataset.adapter='hub' is not a known option; allowed: 'arith', 'file'"),
        ({"eval": DataFileConfig(path="x.json", difficulties=[1])}, r"dataset.eval.difficulties=\[1\] needs "
                                                                    "dataset.eval.fields.difficulty"),
        ({"eval": DataFileConfig(path="x.json", difficulties=[])}, "dataset.eval.difficulties is empty"),
    ],
)
def test_file_dataset_settings_are_validated(overrides, message):
    cfg = DatasetConfig(**{"name": "x", "adapter": "file", "grader": "math", **overrides})
    with pytest.raises(ConfigError, match=message):
        cfg.validate()


def test_missing_file_names_the_path_field(tmp_path):
    cfg = file_dataset(tmp_path / "absent.json")
    with pytest.raises(ConfigError, match=r"dataset.eval.path=.*absent.json' is not a file"):
        load_task_data(cfg)
    train = DataFileConfig(path=str(tmp_path / "absent_train.json"))
    cfg = file_dataset(write_jsonl(tmp_path / "ok.jsonl", [GOOD]), train=train)
    with pytest.raises(ConfigError, match=r"dataset.train.path=.*absent_train.json' is not a file"):
        load_task_data(cfg)


def test_arith_goes_to_the_unchanged_testbed():
    cfg = DatasetConfig(max_difficulty=2, train_size=16, eval_per_difficulty=3)
    cfg.validate()
    via_dispatch, direct = load_task_data(cfg), load_testbed(cfg)
    assert via_dispatch.eval_hash == direct.eval_hash and via_dispatch.train_hash == direct.train_hash
    assert via_dispatch.grader.kind == "exact" and via_dispatch.skipped == 0
    assert via_dispatch.eval.to_dict() == direct.eval.to_dict()


def test_file_preset_matches_the_dataclass_defaults_and_needs_an_eval_path(compose, tmp_path):
    path = write_jsonl(tmp_path / "own.jsonl", [GOOD])
    run = load_run_config(compose("dataset=file", f"dataset.eval.path={path}", "dataset.limit=1"))
    expected = DatasetConfig(name="file", adapter="file", grader="math", eval=DataFileConfig(path=str(path)), limit=1)
    assert run.dataset == expected
    assert load_task_data(run.dataset).eval["prompt"] == [f"What is 1+1? {INSTRUCTION}"]
    with pytest.raises(ConfigError, match="dataset.eval.path must be set"):
        load_run_config(compose("dataset=file"))


def test_job_check_needs_a_train_split_for_training_methods(compose, tmp_path, tiny_dir):
    from lenbench.preflight import check_job

    model = ("model=local", f"model.path={tiny_dir}")
    with pytest.raises(ConfigError, match="method=grpo trains, but dataset=math500 has no train split"):
        check_job(compose("method=grpo", "dataset=math500", *model))
    data = tmp_path / "eval.jsonl"
    data.write_text('{"problem": "1+1?", "answer": "2"}\n')
    run = check_job(compose("method=base", "dataset=file", f"dataset.eval.path={data}", *model))
    assert run.dataset.adapter == "file"


def test_job_check_names_a_missing_data_file(compose, tmp_path, tiny_dir):
    from lenbench.preflight import check_job

    missing = tmp_path / "nowhere.json"
    with pytest.raises(ConfigError, match=r"dataset\.eval\.path=.*nowhere\.json.* is not a file"):
        check_job(compose("method=base", "dataset=math500", f"dataset.eval.path={missing}", "model=local",
                          f"model.path={tiny_dir}"))


def test_dev_split_is_carved_from_the_train_file_by_problem_id(tmp_path):
    from lenbench.data.benchmarks import is_dev_id

    rows = [{"problem": f"q{i}", "answer": i, "id": f"p{i}"} for i in range(80)]
    train = DataFileConfig(path=str(write_jsonl(tmp_path / "train.jsonl", rows)),
                           fields=FieldMapConfig(id="id"))
    eval_path = write_jsonl(tmp_path / "eval.jsonl", [GOOD])
    held_out = load_task_data(file_dataset(eval_path, train=train))
    dev = load_task_data(file_dataset(eval_path, train=train, eval_split="dev"))
    expected_dev = {f"p{i}" for i in range(80) if is_dev_id(f"p{i}")}
    assert 0 < len(expected_dev) < 80
    assert set(dev.eval["problem_id"]) == expected_dev
    assert set(dev.train["problem_id"]) == {f"p{i}" for i in range(80)} - expected_dev
    assert held_out.eval_hash != dev.eval_hash and len(held_out.train) == 80


def test_dev_split_of_a_file_dataset_needs_a_train_file(tmp_path):
    with pytest.raises(ConfigError, match="dataset.eval_split=dev.*dataset.train.path"):
        file_dataset(write_jsonl(tmp_path / "eval.jsonl", [GOOD]), eval_split="dev")


def test_a_byte_order_mark_is_not_part_of_the_first_row(tmp_path):
    rows = [{"problem": "q0", "answer": 0}, {"problem": "q1", "answer": 1}]
    jsonl = tmp_path / "bom.jsonl"
    jsonl.write_bytes(b"\xef\xbb\xbf" + "".join(json.dumps(row) + "\n" for row in rows).encode())
    as_list = tmp_path / "bom.json"
    as_list.write_bytes(b"\xef\xbb\xbf" + json.dumps(rows).encode())
    for path in (jsonl, as_list):
        data = load_task_data(file_dataset(path, skip_invalid=True))
        assert data.eval["answer"] == ["0", "1"] and data.skipped == 0


def test_a_column_of_the_wrong_type_is_named_with_its_type_not_as_missing(tmp_path):
    import pyarrow as pa

    path = tmp_path / "typed.parquet"
    pq.write_table(pa.Table.from_pylist([{"problem": 12, "answer": "7"}]), path)
    with pytest.raises(ConfigError, match=r"row 0 has no question: field 'problem' \(dataset.eval.fields.question\) "
                                          r"holds a int \(12\), not text or a chat list"):
        load_task_data(file_dataset(path))
    path = write_jsonl(tmp_path / "answer.jsonl", [{"problem": "p", "answer": {"value": 7}}])
    with pytest.raises(ConfigError, match=r"row 0 has no answer: field 'answer' .*holds a dict \(\{'value': 7\}\)"):
        load_task_data(file_dataset(path))
    path = write_jsonl(tmp_path / "empty.jsonl", [{"problem": "p", "answer": " "}])
    with pytest.raises(ConfigError, match=r"field 'answer' \(dataset.eval.fields.answer\) is missing or empty"):
        load_task_data(file_dataset(path))


def test_a_symlink_loop_as_data_file_is_named_without_a_traceback(tmp_path):
    loop = tmp_path / "loop.jsonl"
    loop.symlink_to(loop)
    with pytest.raises(ConfigError, match=r"dataset.eval.path=.*loop.jsonl' is a dangling symlink or a symlink loop"):
        load_task_data(file_dataset(loop))
