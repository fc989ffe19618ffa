"""What ``concurrent.futures``' process pools leave to their users: noticing a worker that died
half-way through sending a result, and stopping a pool's running tasks at once.

A pool's manager thread reads each result whole. A worker killed in the middle of sending one
(Ctrl-C, an out-of-memory kill) leaves that thread waiting for the rest for ever: the pool never
notices the death, its tasks never finish, and interpreter exit, which joins the thread, hangs.
"""

from __future__ import annotations

import time
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from concurrent.futures.process import BrokenProcessPool
from typing import TypeVar

__all__ = ["WATCH_S", "check_workers", "result", "stop_now"]

T = TypeVar("T")

# How often a wait looks for a dead worker that the pool itself failed to notice.
WATCH_S = 2.0


def check_workers(pool: ProcessPoolExecutor) -> None:
    """Raise ``BrokenProcessPool`` if one of ``pool``'s worker processes has exited: they only do
    when the pool stops, so one that did died (and the pool may have missed it)."""
    workers = dict(getattr(pool, "_processes", None) or {}).values()
    if any(worker.exitcode is not None for worker in workers):
        raise BrokenProcessPool("a worker process died (killed for memory?)")


def result(future: Future[T], pool: ProcessPoolExecutor, *, watch_s: float = WATCH_S) -> T:
    """``future.result()``, raising ``BrokenProcessPool`` within ``watch_s`` seconds of a worker's
    death even when the pool missed it."""
    while True:
        try:
            return future.result(timeout=watch_s)
        except FutureTimeout:
            check_workers(pool)


def stop_now(pool: ProcessPoolExecutor, *, join_s: float = 10.0) -> None:
    """Shut ``pool`` down without waiting for running tasks: queued ones are dropped, workers
    terminated. No public way before Python 3.14's ``terminate_workers()``."""
    workers = list(dict(getattr(pool, "_processes", None) or {}).values())
    results = getattr(pool, "_result_queue", None)  # shutdown() forgets it
    pool.shutdown(wait=False, cancel_futures=True)
    for worker in workers:
        worker.terminate()
    deadline = time.monotonic() + join_s
    for worker in workers:
        worker.join(timeout=max(0.0, deadline - time.monotonic()))
    if results is not None and all(worker.exitcode is not None for worker in workers):
        # With the workers dead this process holds the result pipe's last write end: closing it
        # turns a manager thread's wait for the rest of a cut-off result into end-of-file.
        results._writer.close()
