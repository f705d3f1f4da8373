"""`python -m lenbench.testbed.build [--ship] [OVERRIDE ...]`: build a testbed base model from scratch.

With `--ship`, the default model (or the one the Hydra overrides select) is rebuilt into
`lenbench/testbed/shipped/<hash>`, the copy that ships with the repository, and other shipped
models are removed; without it, into the cache (`model.cache_dir`), replacing an entry there.
Nothing is ever downloaded.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import sys
import time
from contextlib import nullcontext
from pathlib import Path

from filelock import FileLock

from lenbench.errors import ConfigError


def main(argv: list[str] | None = None) -> int:
    from lenbench.config import compose_run
    from lenbench.testbed.base_model import SHIPPED_DIR, build, cache_key

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ship", action="store_true", help="rebuild the shipped copy in lenbench/testbed/shipped/")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides of the dataset/model settings")
    args = parser.parse_args(argv)
    logging.basicConfig(format="lenbench build: %(message)s")  # the build's progress (lenbench's log), on stderr
    logging.getLogger("lenbench").setLevel(logging.INFO)
    try:
        run = compose_run(args.overrides)
        if run.model.source != "testbed":
            raise ConfigError("model.source must be testbed to build a testbed base model")
    except ConfigError as error:
        print(f"lenbench build: {error}", file=sys.stderr)
        return 2
    key = cache_key(run.dataset, run.model)
    root = SHIPPED_DIR if args.ship else Path(run.model.cache_dir).expanduser() / "testbed"
    root.mkdir(parents=True, exist_ok=True)
    target = root / key
    start = time.perf_counter()
    # a cache entry: under the lock that jobs take to build it; the shipped copy: no job builds it
    with nullcontext() if args.ship else FileLock(str(target) + ".lock"):
        if target.exists():
            shutil.rmtree(target)
        build(run.dataset, run.model, target)
    if args.ship:
        for stale in SHIPPED_DIR.iterdir():
            if stale.is_dir() and stale.name != key:
                shutil.rmtree(stale)
    print(f"lenbench build: {target} in {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
