"""Stop signals during a tracked run: the first one stops the job, the ones right after it wait.

Inside `stop_signals_raise()` the first SIGTERM (what Slurm, submitit and `kill` send) raises
`Terminated` in the main thread and the first SIGINT (Ctrl-C) raises KeyboardInterrupt, so the run
unwinds and is ended KILLED. A second signal a few milliseconds later (a double Ctrl-C, a scheduler
that signals twice) would otherwise cut that unwinding short and leave the run RUNNING: for
`hold_seconds` after the first, further signals are logged and ignored. After that, one raises again
(a job that swallowed the first signal can still be stopped). On leaving, the previous handlers
return. A signal the process ignores when entering (SIGINT of a job started in the background with
`&`) stays ignored.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

log = logging.getLogger(__name__)

HOLD_SECONDS = 60.0
"""How long after a first stop signal the next ones are ignored while the run is ended."""


class Terminated(KeyboardInterrupt):
    """Raised in the main thread when the process receives SIGTERM."""

    def __init__(self, signum: int = signal.SIGTERM):
        super().__init__(f"received signal {signum}")
        self.signum = signum


@contextmanager
def stop_signals_raise(hold_seconds: float = HOLD_SECONDS) -> Iterator[None]:
    """SIGTERM raises Terminated, SIGINT KeyboardInterrupt; repeats within `hold_seconds` are ignored."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    first: list[float] = []

    def handler(signum, frame):
        if first and time.monotonic() - first[0] < hold_seconds:
            log.warning("received signal %d again while stopping: ending the run first", signum)
            return
        first[:] = [time.monotonic()]
        if signum == signal.SIGINT:
            raise KeyboardInterrupt
        raise Terminated(signum)

    # a signal this process ignores (SIGINT of a job started in the background) stays ignored, as Python's own
    # KeyboardInterrupt handler leaves it
    previous = {signum: signal.signal(signum, handler) for signum in (signal.SIGTERM, signal.SIGINT)
                if signal.getsignal(signum) is not signal.SIG_IGN}
    try:
        yield
    finally:
        for signum, handler_before in previous.items():
            if handler_before is not None:  # None: a handler not installed from Python, cannot be restored
                signal.signal(signum, handler_before)
