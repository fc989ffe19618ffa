"""A readers-writer lock: searches run side by side, adds and removes run alone.

FAISS and OpenCV release the GIL while they search and verify, so two request threads can
really search at once; one plain lock made them take turns, and a save (which rewrites the
whole index, ~30 s at a million works) stopped every search. Writers are preferred, so a
steady stream of searches cannot hold a registration off for ever.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager


class ReadWriteLock:
    """Many readers or one writer. A thread may nest reads, and the writer may read or write
    again inside its write; a reader must not ask to write (that would wait for itself)."""

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._readers = 0
        self._writer: int | None = None  # ident of the thread holding the write side
        self._writer_depth = 0
        self._writers_waiting = 0
        self._held = threading.local()  # this thread's read depth

    @contextmanager
    def read(self) -> Iterator[None]:
        me = threading.get_ident()
        depth = getattr(self._held, "reads", 0)
        with self._cond:
            if self._writer == me:
                self._writer_depth += 1
            elif depth == 0:
                # A new reader waits for waiting writers too; a nested read must not (deadlock).
                while self._writer is not None or self._writers_waiting:
                    self._cond.wait()
                self._readers += 1
        self._held.reads = depth + 1
        try:
            yield
        finally:
            self._held.reads = depth
            with self._cond:
                if self._writer == me:
                    self._writer_depth -= 1
                elif depth == 0:
                    self._readers -= 1
                    if self._readers == 0:
                        self._cond.notify_all()

    @contextmanager
    def write(self) -> Iterator[None]:
        me = threading.get_ident()
        with self._cond:
            if self._writer == me:
                self._writer_depth += 1
            else:
                if getattr(self._held, "reads", 0):
                    raise RuntimeError("a reader cannot take the write lock (it would wait for itself)")
                self._writers_waiting += 1
                try:
                    while self._writer is not None or self._readers:
                        self._cond.wait()
                finally:
                    self._writers_waiting -= 1
                self._writer, self._writer_depth = me, 1
        try:
            yield
        finally:
            with self._cond:
                self._writer_depth -= 1
                if self._writer_depth == 0:
                    self._writer = None
                    self._cond.notify_all()
