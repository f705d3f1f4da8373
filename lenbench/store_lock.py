"""File locks: beside a sqlite store while it may be created or migrated (MLflow, Optuna), and in a
job's output directory while the job runs.

Parallel jobs that open a new sqlite store at once race in its schema creation ("table
_alembic_tmp_metrics already exists" from MLflow, measured with a 2-job Submitit sweep); one at a
time, the first creates the store and the others find it ready. Other stores need no lock.
Two jobs in one output directory (the same `hydra.run.dir`, e.g. resuming one interrupted job
twice) would write their checkpoints into each other's: the second is refused.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path

from filelock import FileLock, Timeout

from lenbench.errors import ConfigError
from lenbench.process_group import is_main_process


def sqlite_path(uri: str) -> Path | None:
    """The file of a `sqlite:///...` SQLAlchemy URL (None for any other store)."""
    if not uri.startswith("sqlite:///"):
        return None
    return Path(uri.removeprefix("sqlite:///")).expanduser()


def store_setup_lock(uri: str, timeout: float = 600) -> AbstractContextManager:
    """Hold `<file>.lock` while a sqlite store is opened for the first time; a no-op otherwise."""
    path = sqlite_path(uri)
    if path is None:
        return nullcontext()
    lock = Path(str(path) + ".lock")
    try:  # fail now, not after `timeout`: FileLock retries a lock file it cannot create until then
        path.parent.mkdir(parents=True, exist_ok=True)
        lock.touch(exist_ok=True)
    except OSError as error:
        reason = f"{type(error).__name__}: {error.strerror or error}"
        raise ConfigError(f"store {uri!r}: cannot create its lock file {lock} ({reason})") from None
    return FileLock(str(lock), timeout=timeout)


OUTPUT_DIR_LOCK = ".lenbench.lock"


@contextmanager
def output_dir_lock(out_dir: Path) -> Iterator[None]:
    """Hold `<out_dir>/.lenbench.lock` while a job runs; a ConfigError at once when another job holds it.
    Only the main process of a multi-process launch locks (the others share its directory)."""
    if not is_main_process():
        yield
        return
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / OUTPUT_DIR_LOCK
    lock = FileLock(str(path), timeout=0)
    try:
        lock.acquire()
    except Timeout:
        raise ConfigError(f"another job is running in {out_dir} (it holds {path}); wait for it to end, or give this "
                          "one another directory (hydra.run.dir)") from None
    try:
        yield
    finally:
        lock.release()
