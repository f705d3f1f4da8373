"""Dataset adapter for math problems in local files (json, jsonl, parquet) -> TaskData.

Each split (`dataset.train`, `dataset.eval`) is one file plus a field map saying where a row keeps
its question, answer, solution, difficulty, id and unit (dotted paths reach nested objects; a
chat-list question stands for its last user message). Answers are normalized to strings: numbers
without a spurious `.0`, a missing answer taken from the solution's `#### <answer>` line (GSM8K).
A list answer is a set of alternatives (`fields.answer_list=any`, the default: column
`alternatives`, any one is right; `answer` shows them joined with " | ") or one multi-part answer
(`all`: joined with ", ", every part must be answered; OlympiadBench). Prompts are the question plus the split's
instruction as plain text; chat templates are applied later, by whoever holds the tokenizer.

A malformed row (no question, or no answer anywhere) stops loading with a ConfigError naming the
file, the row and the field, unless `dataset.skip_invalid` is set: then such rows are skipped and
counted (TaskData.skipped, and a warning).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import re
from collections import Counter
from pathlib import Path
from typing import Any

from datasets import Dataset, Features, Sequence, Value

from lenbench.config import DataFileConfig, DatasetConfig
from lenbench.data.task import TaskData
from lenbench.errors import ConfigError
from lenbench.grading import Grader
from lenbench.testbed.arith import DEV_HASH_MODULUS, stable_hash

logger = logging.getLogger(__name__)

FORMAT_BY_SUFFIX = {".json": "json", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet", ".pq": "parquet"}
FEATURES = Features(
    {
        "prompt": Value("string"),
        "answer": Value("string"),
        "difficulty": Value("int64"),
        "oracle_length": Value("int64"),
        "problem_id": Value("string"),
        "unit": Value("string"),
        "alternatives": Sequence(Value("string")),
    }
)
ALTERNATIVES_SHOWN_AS = " | "
"""How the `answer` column shows a list of alternatives (grading reads the `alternatives` column)."""
_THOUSANDS = re.compile(r"-?\d{1,3}(?:,\d{3})+(?:\.\d+)?")


class InvalidRow(ValueError):
    """One row cannot become a problem; the message names the missing field."""


# --- reading files --------------------------------------------------------------------------------


def file_format(source: DataFileConfig, split: str) -> str:
    """The split's file format: `format`, or the path's extension when it is `auto`."""
    if source.format != "auto":
        return source.format
    suffix = Path(source.path).suffix.lower()
    if suffix not in FORMAT_BY_SUFFIX:
        raise ConfigError(
            f"dataset.{split}.path={source.path!r}: cannot tell the format from the extension {suffix!r}; "
            f"set dataset.{split}.format (allowed: json, jsonl, parquet)"
        )
    return FORMAT_BY_SUFFIX[suffix]


def check_dataset_files(cfg: DatasetConfig) -> None:
    """ConfigError naming the path field unless every split file of a file dataset exists."""
    if cfg.adapter != "file":
        return
    for split in ("train", "eval"):
        source: DataFileConfig = getattr(cfg, split)
        if source.path is None:
            continue
        path = Path(source.path).expanduser()
        if not path.is_file():
            what = "a dangling symlink or a symlink loop" if path.is_symlink() else "not a file"
            raise ConfigError(
                f"dataset.{split}.path={source.path!r} is {what} (resolved from {Path.cwd()}: "
                f"{os.path.realpath(path)}); point it at a local json, jsonl or parquet file"
            )
        file_format(source, split)


def read_rows(path: Path, fmt: str, limit: int | None = None) -> list[Any]:
    """The first `limit` rows of a file (all when None); a jsonl line that is not JSON is kept as
    an InvalidRow so it is reported (or skipped) like any malformed row. A file that is not parquet
    or not UTF-8 text (as its format says it is) is a ConfigError."""
    if fmt == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        try:
            table = pq.read_table(path)
        except (pa.ArrowException, OSError) as error:
            raise ConfigError(f"{path}: not a readable parquet file ({' '.join(str(error).split())})") from None
        return table.slice(0, limit).to_pylist() if limit is not None else table.to_pylist()
    try:
        return _read_text_rows(path, fmt, limit)
    except UnicodeDecodeError as error:
        raise ConfigError(
            f"{path}: not UTF-8 text (byte {error.start}: {error.reason}); json and jsonl files must be UTF-8"
        ) from None


def _read_text_rows(path: Path, fmt: str, limit: int | None) -> list[Any]:
    """The rows of a json or jsonl file (read_rows without the encoding check)."""
    if fmt == "json":
        try:
            rows = json.loads(path.read_text(encoding="utf-8-sig"))  # -sig: a byte-order mark is not a row
        except json.JSONDecodeError as error:
            raise ConfigError(f"{path}: not valid JSON ({error})") from None
        if not isinstance(rows, list):
            raise ConfigError(f"{path}: a json dataset must be a list of objects, found {type(rows).__name__}")
        return rows[:limit]
    rows = []
    with path.open(encoding="utf-8-sig") as lines:  # -sig: a byte-order mark is not part of the first row
        for number, line in enumerate(lines, start=1):
            if limit is not None and len(rows) >= limit:
                break
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as error:
                rows.append(InvalidRow(f"line {number} is not JSON ({error})"))
    return rows


# --- one row -> one problem (pure functions) ------------------------------------------------------


def field_value(row: dict, path: str | None) -> Any:
    """The value at a dotted path (`reward_model.ground_truth`), None when any step is missing."""
    if not path:
        return None
    value: Any = row
    for key in path.split("."):
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return value


def question_text(value: Any) -> str | None:
    """The question as text: a string, or the last user message of a chat list."""
    if isinstance(value, list):
        users = [m.get("content") for m in value if isinstance(m, dict) and m.get("role") == "user"]
        value = users[-1] if users else None
    return value.strip() if isinstance(value, str) and value.strip() else None


def answer_text(value: Any) -> str | None:
    """A gold answer as a string: 142.0 -> "142", lists joined with ", ", empty -> None."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, float):
        if math.isnan(value):
            return None
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, (list, tuple)):
        parts = [answer_text(part) for part in value]
        parts = [part for part in parts if part]
        return ", ".join(parts) or None
    return None


def answer_alternatives(value: Any, answer_list: str) -> list[str]:
    """The alternatives of a list answer read as any-of (two or more non-empty parts), else []."""
    if answer_list != "any" or not isinstance(value, (list, tuple)):
        return []
    parts = [part for part in (answer_text(item) for item in value) if part]
    return parts if len(parts) > 1 else []


def answer_from_solution(solution: Any) -> str | None:
    """The answer on a solution's last `####` line (GSM8K), thousands separators dropped."""
    if not isinstance(solution, str) or "####" not in solution:
        return None
    tail = solution.rsplit("####", 1)[1].strip()
    answer = tail.splitlines()[0].strip().rstrip(".") if tail else ""
    if _THOUSANDS.fullmatch(answer):
        answer = answer.replace(",", "")
    return answer or None


def difficulty_level(value: Any) -> int:
    """An integer level from 3, 3.0 or "Level 3" (rounded); 0 when there is none."""
    if isinstance(value, bool) or value is None:
        return 0
    if isinstance(value, (int, float)):
        return int(round(value)) if math.isfinite(value) else 0
    match = re.search(r"-?\d+(?:\.\d+)?", str(value))
    return int(round(float(match.group()))) if match else 0


def what_is_wrong(value: Any, expected: str) -> str:
    """Why a field's value gives no question or answer: it is missing or empty, or of another type."""
    if value is None or (isinstance(value, (str, list, tuple, dict)) and not value) or (
            isinstance(value, str) and not value.strip()) or (isinstance(value, float) and math.isnan(value)):
        return "is missing or empty"
    shown = repr(value)
    return f"holds a {type(value).__name__} ({shown[:40] + '...' if len(shown) > 40 else shown}), not {expected}"


def problem_row(row: Any, index: int, source: DataFileConfig, split: str, stem: str) -> dict:
    """One TaskData row from one file row; InvalidRow names the missing field."""
    if isinstance(row, InvalidRow):
        raise row
    if not isinstance(row, dict):
        raise InvalidRow(f"is a {type(row).__name__}, not an object")
    fields = source.fields
    raw_question = field_value(row, fields.question)
    question = question_text(raw_question)
    if question is None:
        raise InvalidRow(f"has no question: field {fields.question!r} (dataset.{split}.fields.question) "
                         f"{what_is_wrong(raw_question, 'text or a chat list')}")
    raw_answer = field_value(row, fields.answer)
    alternatives = answer_alternatives(raw_answer, fields.answer_list)
    answer = (ALTERNATIVES_SHOWN_AS.join(alternatives) if alternatives else answer_text(raw_answer)
              ) or answer_from_solution(field_value(row, fields.solution))
    if answer is None:
        where = (f"field {fields.answer!r} (dataset.{split}.fields.answer) "
                 f"{what_is_wrong(raw_answer, 'text, a number or a list of them')}") if fields.answer else ""
        if fields.solution:
            where += (" and " if where else "") + f"field {fields.solution!r} has no '####' answer line"
        raise InvalidRow(f"has no answer: {where}")
    problem_id = field_value(row, fields.id)
    unit = field_value(row, fields.unit)
    instruction = source.instruction.strip()
    return {
        "prompt": f"{question} {instruction}" if instruction else question,
        "answer": answer,
        "difficulty": difficulty_level(field_value(row, fields.difficulty)),
        "oracle_length": None,
        "problem_id": str(problem_id) if problem_id not in (None, "") else f"{stem}:{index}",
        "unit": str(unit).strip() if unit not in (None, "") else "",
        "alternatives": alternatives,
    }


# --- splits and the task --------------------------------------------------------------------------


def load_split(cfg: DatasetConfig, split: str) -> tuple[list[dict], int]:
    """(problem rows, skipped rows) of one split's file."""
    source: DataFileConfig = getattr(cfg, split)
    path = Path(source.path).expanduser()
    rows = read_rows(path, file_format(source, split), cfg.limit if source.difficulties is None else None)
    problems, skipped = [], []
    for index, row in enumerate(rows):
        try:
            problems.append(problem_row(row, index, source, split, path.stem))
        except InvalidRow as error:
            if not cfg.skip_invalid:
                raise ConfigError(
                    f"{path}: row {index} {error}; fix the file, or set dataset.skip_invalid=true to skip such rows"
                ) from None
            skipped.append(index)
    if source.difficulties is not None:
        problems = keep_difficulties(problems, source.difficulties, f"dataset.{split}.difficulties", path)[:cfg.limit]
    if skipped:
        logger.warning("%s: skipped %d malformed rows (dataset.skip_invalid=true): %s", path, len(skipped),
                       ", ".join(map(str, skipped[:20])) + (" ..." if len(skipped) > 20 else ""))
    duplicate = next((pid for pid, count in Counter(p["problem_id"] for p in problems).items() if count > 1), None)
    if duplicate is not None:
        raise ConfigError(
            f"{path}: problem id {duplicate!r} appears more than once; dataset.{split}.fields.id must name a "
            "unique field (or be null for row numbers)"
        )
    return problems, len(skipped)


def keep_difficulties(problems: list[dict], levels: list[int], field: str, path: Path) -> list[dict]:
    """The problems at one of `levels`; a ConfigError naming `field` and the levels the file has when
    none is."""
    wanted = set(levels)
    kept = [p for p in problems if p["difficulty"] in wanted]
    if problems and not kept:
        present = sorted(Counter(p["difficulty"] for p in problems).items())
        raise ConfigError(f"{field}={list(levels)} keeps no problem of {path}; its levels (problems): "
                          + ", ".join(f"{level} ({count})" for level, count in present))
    return kept


def digest(problems: list[dict]) -> str:
    """Hash of a split's problems (id, prompt, answer, unit, any alternatives): runs compare only
    when it matches."""
    text = "\n".join(json.dumps([p["problem_id"], p["prompt"], p["answer"], p["unit"]] + p["alternatives"])
                     for p in problems)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def is_dev_id(problem_id: str) -> bool:
    """Stable dev split of a train file: a row is dev iff the hash of its problem id says so (about 1
    in DEV_HASH_MODULUS rows, the testbed's dev share)."""
    return stable_hash(problem_id) % DEV_HASH_MODULUS == 0


def to_dataset(problems: list[dict]) -> Dataset:
    return Dataset.from_dict({name: [p[name] for p in problems] for name in FEATURES}, features=FEATURES)


def load_file_dataset(cfg: DatasetConfig) -> TaskData:
    """TaskData of a file dataset (adapter=file); an empty train set when `train.path` is null."""
    check_dataset_files(cfg)
    eval_rows, eval_skipped = load_split(cfg, "eval")
    if not eval_rows:
        raise ConfigError(f"dataset.eval.path={cfg.eval.path!r} holds no valid problems")
    train_rows, train_skipped = load_split(cfg, "train") if cfg.train.path is not None else ([], 0)
    if cfg.eval_split == "dev":
        eval_rows = [row for row in train_rows if is_dev_id(row["problem_id"])]
        train_rows = [row for row in train_rows if not is_dev_id(row["problem_id"])]
        if not eval_rows or not train_rows:
            raise ConfigError(f"dataset.eval_split=dev: the train file {cfg.train.path!r} has {len(eval_rows)} dev and "
                              f"{len(train_rows)} other rows; both must be non-empty (about 1 in {DEV_HASH_MODULUS} "
                              "rows are dev), or use dataset.eval_split=held_out")
    return TaskData(
        to_dataset(train_rows),
        to_dataset(eval_rows),
        Grader(cfg.grader, cfg.grading),
        digest(eval_rows),
        digest(train_rows),
        skipped=train_skipped + eval_skipped,
    )
