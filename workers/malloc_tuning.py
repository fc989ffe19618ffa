"""glibc malloc settings for scan worker processes.

Dask's nanny starts workers with ``MALLOC_TRIM_THRESHOLD_=65536`` so that they hand freed memory back
to the OS. Setting that variable also switches off glibc's adaptive mmap threshold, so every
allocation over 128 KiB (each decoded image, resize buffer and FAISS result array) becomes an
``mmap``/``munmap`` pair with fresh page faults: measured, a listing cost ~30 % more CPU in a Dask
worker than in a local pool worker. Restoring large thresholds makes those buffers reusable again;
a worker's memory stays bounded by the largest listing it handles.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

__all__ = ["reuse_freed_memory"]

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
# Allocations above this still get their own mapping (so a huge image's buffer is returned at once).
MMAP_THRESHOLD = 32 << 20
TRIM_THRESHOLD = 64 << 20


def reuse_freed_memory() -> bool:
    """Let this process reuse freed heap memory; True where glibc accepted it."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl and others have no mallopt: nothing to undo there
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mmap_ok = mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)
    return bool(mmap_ok) and bool(mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))
