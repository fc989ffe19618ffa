"""Fingerprinting in worker processes, for a process that fingerprints from many threads at once.

Threads of one process cannot fingerprint in parallel end to end: the Python glue around OpenCV and
numpy holds the GIL for much of the run (and ``pdqhash``, PDQ when this was measured, held it
throughout). An API server with 8
concurrent registrations kept only 1.56 of its 2 cores busy. Worker processes each run the
whole pipeline; only the image bytes and the finished fingerprint cross the pipe (~2 ms).

Workers are spawned, never forked: a forked child of a process that has used FAISS's OpenMP
threads can hang. A worker that dies (killed, out of memory) breaks the pool for every call in
flight; each is retried once on a fresh pool (``indexes.process_pools`` notices the deaths the
pool itself misses).
"""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from types import TracebackType

from indexes import process_pools
from indexes.errors import ImageError
from indexes.fingerprinting import Fingerprint, fingerprint, one_image_thread
from indexes.orphans import exit_with_parent


def start_worker() -> None:
    """Pool initializer: one OpenCV thread (the pool is the parallelism), and end with the parent."""
    one_image_thread()
    exit_with_parent()


class WorkerDiedError(ImageError):
    """A worker process died twice while fingerprinting this image (out of memory, a decoder crash)."""

    code = "worker_died"


class FingerprintPool:
    """``fingerprint()`` run in ``processes`` spawned worker processes (started on first use)."""

    # What a worker runs, and runs first; module-level functions, so that spawned children can import them.
    _target: Callable[..., Fingerprint] = staticmethod(fingerprint)
    _start_worker: Callable[[], None] = staticmethod(start_worker)

    def __init__(self, processes: int, *, inline_when_idle: bool = False) -> None:
        if processes < 1:
            raise ValueError(f"processes must be at least 1, got {processes}")
        self.processes = processes
        # A lone call gains nothing from a worker and pays ~2 ms of pickling and pipes (one client
        # alone saw 68 -> 76 ms per match), so a server hashes it in the calling thread.
        self.inline_when_idle = inline_when_idle
        self._lock = threading.Lock()
        self._executor: ProcessPoolExecutor | None = None
        self._closed = False
        self._in_flight = 0

    def fingerprint(self, data: bytes, *, role: str = "query") -> Fingerprint:
        """Like :func:`indexes.fingerprint` on bytes; raises the same typed errors.

        A dead worker takes down every call in flight on the pool, so each is retried once on a
        fresh pool; an image that kills a worker twice gets ``WorkerDiedError``."""
        with self._lock:
            if self._closed:
                raise RuntimeError("the fingerprint pool is closed")
            inline = self.inline_when_idle and self._in_flight == 0
            self._in_flight += 1
        try:
            return self._target(data, role=role) if inline else self._in_worker(data, role)
        finally:
            with self._lock:
                self._in_flight -= 1

    def _in_worker(self, data: bytes, role: str) -> Fingerprint:
        for _ in range(2):
            executor = self._current()
            try:
                return process_pools.result(executor.submit(self._target, data, role=role), executor)
            except BrokenProcessPool:
                self._replace(executor)
        raise WorkerDiedError(
            "a fingerprinting worker process died twice on this image (out of memory or a decoder "
            "crash); it was not processed"
        )

    def warm_up(self) -> None:
        """Start every worker now, so the first requests do not wait for process start-up."""
        executor = self._current()
        try:
            for future in [executor.submit(one_image_thread) for _ in range(self.processes)]:
                future.result()
        except BrokenProcessPool as exc:
            self._replace(executor)
            raise RuntimeError(
                f"could not start {self.processes} fingerprinting worker process(es); "
                "RIGHTS_FINGERPRINT_PROCESSES=0 hashes in the calling threads instead"
            ) from exc

    def close(self) -> None:
        with self._lock:
            self._closed = True
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> FingerprintPool:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _current(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._closed:
                raise RuntimeError("the fingerprint pool is closed")
            if self._executor is None:
                self._executor = ProcessPoolExecutor(
                    max_workers=self.processes,
                    mp_context=multiprocessing.get_context("spawn"),
                    initializer=self._start_worker,
                )
            return self._executor

    def _replace(self, broken: ProcessPoolExecutor) -> None:
        with self._lock:
            if self._executor is broken:
                self._executor = None
        # Its other calls fail and are retried too; stopped at once, a worker that died half-way
        # through a result cannot leave the pool's thread waiting (and the server's exit with it).
        process_pools.stop_now(broken)
