"""A lock on an index folder shared by every process that saves or loads it.

``Engine.save`` writes a new generation of files and then deletes the old ones. Without a lock
across processes, two servers (or a server and a bulk ``rights register``) on one data directory
deleted each other's half-written generations, and a scan worker loading the index could find
its files gone. ``flock`` locks belong to an open file, so threads of one process exclude each
other too.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["LOCK_NAME", "locked"]

LOCK_NAME = "index.lock"


@contextmanager
def locked(directory: Path, *, shared: bool) -> Iterator[None]:
    """Hold ``directory``'s lock: ``shared`` for reading the files, exclusive for replacing them."""
    directory.mkdir(parents=True, exist_ok=True)
    fd = os.open(directory / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing the file releases the lock
