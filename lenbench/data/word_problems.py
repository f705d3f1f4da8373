"""Generated one- and two-step word problems in English: real prose for small real models.

The testbed's arithmetic is written in the testbed's own words; a pretrained model needs problems in
ordinary prose. These are grade-school problems a 135M-parameter instruct model solves some of the
time (SmolLM2-135M-Instruct: see conf/dataset/word_problems.yaml), so GRPO groups mix right and
wrong answers. Each problem is a short story with small whole numbers and one or two operations
(`difficulty` = steps); the answer is a whole number, graded by the `math` grader.

The files the `word_problems` preset reads ship with the package (lenbench/data/word_problems/) and
are this generator's output (a test checks that they are):

    python -m lenbench.data.word_problems [--train 2000 --eval 300 --seed 0]
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

SHIPPED = Path(__file__).parent / "word_problems"
"""Where the generated files ship."""

NAMES = ("Ana", "Ben", "Carla", "Dev", "Emma", "Farid", "Grace", "Hugo", "Ines", "Jack", "Kofi", "Lena", "Mia",
         "Noah", "Omar", "Priya", "Quinn", "Rosa", "Sam", "Tara")
THINGS = ("apples", "pencils", "stickers", "marbles", "books", "cookies", "stamps", "shells", "coins", "cards")

ONE_STEP = (
    ("{a} has {x} {t}. {b} gives {a} {y} more {t}. How many {t} does {a} have now?", lambda x, y: x + y),
    ("{a} has {x} {t} and gives {y} of them to {b}. How many {t} does {a} have left?", lambda x, y: x - y),
    ("{a} buys {x} bags with {y} {t} in each bag. How many {t} does {a} buy?", lambda x, y: x * y),
    ("{a} has {x} {t} and {b} has {y} {t}. How many {t} do they have together?", lambda x, y: x + y),
)
TWO_STEP = (
    ("{a} has {x} {t}. {a} buys {y} more and then gives {z} to {b}. How many {t} does {a} have now?",
     lambda x, y, z: x + y - z),
    ("{a} buys {x} boxes of {t} with {y} in each box, and finds {z} more. How many {t} does {a} have?",
     lambda x, y, z: x * y + z),
    ("{a} has {x} {t}. {b} has {y} more than {a}, and {c} has {z} more than {b}. How many {t} does {c} have?",
     lambda x, y, z: x + y + z),
    ("{a} has {x} {t} and loses {y}. Then {a} shares the rest equally with {b}. How many {t} does each get?",
     lambda x, y, z: (x - y) // 2),
)


def problem(rng: random.Random) -> dict:
    """One problem: {problem, answer, difficulty}."""
    a, b, c = rng.sample(NAMES, 3)
    t = rng.choice(THINGS)
    steps = rng.choice((1, 2))
    if steps == 1:
        text, solve = rng.choice(ONE_STEP)
        x, y = rng.randint(2, 12), rng.randint(2, 9)
        if "gives {y} of them" in text:
            x += y
        answer = solve(x, y)
        return {"problem": text.format(a=a, b=b, t=t, x=x, y=y), "answer": str(answer), "difficulty": 1}
    text, solve = rng.choice(TWO_STEP)
    x, y, z = rng.randint(2, 9), rng.randint(2, 9), rng.randint(1, 9)
    if "shares the rest equally" in text:
        x = y + 2 * rng.randint(1, 9)
    elif "gives {z}" in text:
        z = rng.randint(1, x + y - 1)
    answer = solve(x, y, z)
    return {"problem": text.format(a=a, b=b, c=c, t=t, x=x, y=y, z=z), "answer": str(answer), "difficulty": 2}


def generate(count: int, seed: int, exclude: set[str] = frozenset()) -> list[dict]:
    """`count` distinct problems (none of whose text is in `exclude`), with ids, from `seed`."""
    rng, rows, seen = random.Random(seed), [], set(exclude)
    while len(rows) < count:
        row = problem(rng)
        if row["problem"] not in seen:
            seen.add(row["problem"])
            rows.append({"id": f"wp{seed}-{len(rows)}", **row})
    return rows


def splits(train: int, eval_: int, seed: int) -> dict[str, list[dict]]:
    """The eval split, then a train split that shares no problem text with it."""
    held_out = generate(eval_, seed + 1)
    return {"eval": held_out, "train": generate(train, seed, {row["problem"] for row in held_out})}


def write(out: Path, train: int = 2000, eval_: int = 300, seed: int = 0) -> dict[str, Path]:
    out.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, rows in splits(train, eval_, seed).items():
        paths[name] = out / f"{name}.jsonl"
        paths[name].write_text("".join(json.dumps(row) + "\n" for row in rows))
    return paths


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=SHIPPED)
    parser.add_argument("--train", type=int, default=2000)
    parser.add_argument("--eval", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    for name, path in write(args.out, args.train, args.eval, args.seed).items():
        print(f"{name}: {path}")


if __name__ == "__main__":
    main()
