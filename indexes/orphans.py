"""Worker processes that end when their parent does, even when the parent is killed with SIGKILL.

A ``ProcessPoolExecutor`` worker waits on a queue whose write end it holds itself, so it never
sees end-of-file: after a ``kill -9`` of the server (no chance to shut its pools down), the
workers ran on forever, re-parented to init, each holding its memory. ``prctl(PR_SET_PDEATHSIG)``
would be instant, but it fires when the *thread* that started the worker exits, and pools start
workers from whichever request thread happens to submit first.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
import time

__all__ = ["exit_with_parent"]

POLL_S = 1.0


def exit_with_parent(poll_s: float = POLL_S) -> None:
    """In a worker process: exit within ``poll_s`` seconds of the parent's death, or at once if
    the parent is already gone. The parent is the process that started this one (multiprocessing
    records its PID): asked here, in the pool's initializer, ``getppid()`` named init instead when
    the parent was killed while the worker was still starting, and such workers never exited."""
    started_by = multiprocessing.parent_process()
    parent = started_by.pid if started_by is not None and started_by.pid else os.getppid()
    if os.getppid() != parent:
        os._exit(0)

    def watch() -> None:
        while True:
            time.sleep(poll_s)
            if os.getppid() != parent:  # re-parented: the process that gave us work is gone
                os._exit(0)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()
