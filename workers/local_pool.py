"""Scan tasks on a local pool of worker processes (the default runner).

Always the *spawn* start method: forking a process after FAISS/OpenMP has run in the parent can hang
the child (OpenMP's thread pool does not survive fork). Each process loads the engine once, in the
pool initializer (``workers.task.warm_up``).
"""

from __future__ import annotations

import multiprocessing
import os
import time
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from types import TracebackType

from indexes.orphans import exit_with_parent
from indexes.process_pools import WATCH_S, check_workers, stop_now
from workers.task import Item, Result, WorkerContext, analyse_chunk, warm_up

__all__ = ["LocalPool"]


def _start_worker(ctx: WorkerContext) -> None:
    """Pool initializer: the engine loaded once, and an exit when the parent dies (a ``kill -9``'d
    scan or server must not leave its workers running)."""
    exit_with_parent()
    warm_up(ctx)


class LocalPool:
    """``submit`` chunks, ``wait`` for finished ones; at most as many in flight as the caller allows."""

    # Listings per task: amortises the per-task overhead (pickling, a pipe round trip) over ~8
    # images that each take tens of ms; small enough that a 2-worker pool stays evenly busy on a
    # 100-line feed. 16 and 32 were no faster here (BENCHMARKS.md, section 2).
    chunk_size = 8

    def __init__(self, ctx: WorkerContext, workers: int | None = None) -> None:
        self.ctx = ctx
        self.workers = max(1, workers or os.cpu_count() or 1)
        self._pending: set[Future[list[Result]]] = set()
        # Children inherit the environment at spawn time: one OpenMP thread each.
        os.environ.setdefault("OMP_NUM_THREADS", "1")
        self._pool = ProcessPoolExecutor(
            max_workers=self.workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_start_worker,
            initargs=(ctx,),
        )

    def __enter__(self) -> LocalPool:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close(cancel=exc_type is not None)

    def submit(self, chunk: list[Item]) -> None:
        self._pending.add(self._pool.submit(analyse_chunk, chunk, self.ctx))

    @property
    def in_flight(self) -> int:
        return len(self._pending)

    def wait(self, timeout: float | None = None) -> list[list[Result]]:
        """Block until at least one chunk is finished, or ``timeout`` seconds pass; return every
        finished chunk's results (none after a timeout). A worker crash raises ``BrokenProcessPool``."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while self._pending:
            left = WATCH_S if deadline is None else min(WATCH_S, max(0.0, deadline - time.monotonic()))
            done, self._pending = wait(self._pending, timeout=left, return_when=FIRST_COMPLETED)
            if done:
                return [f.result() for f in done]
            check_workers(self._pool)  # one the pool missed: it died half-way through a result
            if deadline is not None and time.monotonic() >= deadline:
                break
        return []

    def close(self, *, cancel: bool = False) -> None:
        """Shut the workers down; with ``cancel``, at once: tasks not started are dropped and
        running ones are not waited for (the scan resumes them). Waiting, a server stopping with
        8-URL tasks in flight on a host that never answers took 237 s to exit (an audit)."""
        if not cancel:
            self._pool.shutdown(wait=True)
            return
        stop_now(self._pool)
