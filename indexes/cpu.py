"""How many cores this process may use, and FAISS's thread count for a stretch of work."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import faiss


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
