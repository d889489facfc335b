"""Stop requests: SIGINT/SIGTERM as a flag the training loop checks after each step, and the relay an
experiment sweep's worker processes use (:func:`defer_stop_signals`)."""

from __future__ import annotations

import os
import signal
import threading
import time
from typing import Any


class StopSignals:
    """Turn SIGINT/SIGTERM into a flag the loop checks after each step (main thread only).

    In a worker process set up by :func:`defer_stop_signals` (an experiment sweep's),
    only SIGTERM counts (the sweep's parent turns a Ctrl-C into one SIGTERM per worker),
    and ``pending`` keeps the stop for every later loop of the process, including a
    signal that arrived between two loops: the next one stops at its first step, with
    a checkpoint, instead of running to its end.
    """

    pending = 0
    deferring = False  # set by defer_stop_signals
    active = 0  # training loops running in this process (the parent watch waits for them to stop)

    def __init__(self) -> None:
        self.signum = 0
        self._old: dict[int, Any] = {}

    def __enter__(self) -> StopSignals:
        StopSignals.active += 1
        if threading.current_thread() is threading.main_thread():
            listen = (signal.SIGTERM,) if StopSignals.deferring else (signal.SIGINT, signal.SIGTERM)
            for s in listen:
                self._old[s] = signal.signal(s, self._handle)
        pending = StopSignals.pending  # read after installing the handlers: no signal falls between
        if pending:
            self.signum = pending
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        if self.signum:  # a second signal: stop now
            raise KeyboardInterrupt
        self.signum = signum
        if StopSignals.deferring:
            StopSignals.pending = signum

    def __exit__(self, *exc: Any) -> None:
        StopSignals.active -= 1
        for s, h in self._old.items():
            signal.signal(s, h)


def _remember_stop(signum: int, frame: Any) -> None:
    StopSignals.pending = signum


def defer_stop_signals() -> None:
    """Set up a process that runs several trainings for a parent that relays stop requests.

    SIGINT is ignored (a terminal's Ctrl-C reaches the whole process group; the parent
    answers it with one SIGTERM per worker, and two signals would abort a run without its
    checkpoint), and a SIGTERM outside a training loop is kept for the next loop rather
    than killing the process or being lost.  POSIX only: elsewhere SIGTERM is a hard kill.
    """
    StopSignals.deferring = True
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _remember_stop)
    stop_with_parent()


def stop_with_parent(poll_s: float = 0.5) -> threading.Thread:
    """Watch the parent from a daemon thread; when it is gone, stop as if it had relayed a stop, then exit.

    A sweep's worker whose parent was killed outright (SIGKILL, a crash: nothing relays a stop) would
    otherwise train on as an orphan and then block forever on a task queue nobody feeds. The watch sends
    this process the SIGTERM the parent would have sent (the run in progress stops at its next step, with
    a checkpoint), waits until no training loop runs, and ends the process (status 128 + SIGTERM).
    """
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(poll_s)
        os.kill(os.getpid(), signal.SIGTERM)
        while StopSignals.active:
            time.sleep(poll_s)
        os._exit(128 + int(signal.SIGTERM))

    thread = threading.Thread(target=watch, name="classicnets-parent-watch", daemon=True)
    thread.start()
    return thread
