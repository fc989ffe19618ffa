"""How many cores this process may use, FAISS's threads for a stretch of work, and numpy's BLAS threads."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import faiss
from threadpoolctl import ThreadpoolController


def available_cores() -> int:
    """Cores this process may run on (a container's CPU set, not the host's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


@contextmanager
def faiss_threads(n: int) -> Iterator[None]:
    """FAISS's OpenMP threads set to ``n`` inside the block (for the calling thread: OpenMP keeps the
    count per thread)."""
    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(n)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(before)


def one_blas_thread() -> None:
    """Pin numpy's BLAS (and OpenCV's) to one thread in this process, for good.

    Where concurrent requests or worker processes are the parallelism, OpenBLAS splitting each
    matrix-vector product over every core makes the calls queue for its threads: step 8's 6,145
    background crops against a query took 0.1 ms alone and 2.3 ms (4.5 ms of CPU) each from 8
    threads at once (BENCHMARKS.md, forty-second session). A BLAS threaded by OpenMP (FAISS's own)
    is left alone: OpenMP counts threads per calling thread, and the engine sets FAISS's."""
    controller = ThreadpoolController()
    for library in controller.lib_controllers:
        if library.user_api == "blas" and getattr(library, "threading_layer", None) != "openmp":
            library.set_num_threads(1)
