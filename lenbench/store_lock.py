"""A file lock beside a sqlite store while it may be created or migrated (MLflow, Optuna).

Parallel jobs that open a new sqlite store at once race in its schema creation ("table
_alembic_tmp_metrics already exists" from MLflow, measured with a 2-job Submitit sweep); one at a
time, the first creates the store and the others find it ready. Other stores need no lock.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from pathlib import Path

from filelock import FileLock

from lenbench.errors import ConfigError


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
