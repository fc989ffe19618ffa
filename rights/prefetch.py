"""Bulk registration, pipelined: the next images are read and fingerprinted in worker processes while
the registry stores the current one, and works are still registered one at a time in file order
(the log's order, and which of two look-alikes is the contested one, follow the command line).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from types import TracebackType

from indexes import Fingerprint
from indexes.decode import MAX_FILE_BYTES
from indexes.fingerprint_pool import FingerprintPool
from rights.image_files import read_capped


class Prefetcher:
    """Use as ``registry.fingerprinter``; :meth:`read_ahead` yields each file's bytes in order, with
    its reference fingerprint already on the way. Holds at most ``2 x processes`` files in memory."""

    def __init__(self, processes: int) -> None:
        self._pool = FingerprintPool(processes)
        self.depth = 2 * processes
        # Threads only wait on the pool's processes; one per file in flight.
        self._threads = ThreadPoolExecutor(max_workers=self.depth, thread_name_prefix="prefetch")
        # id(bytes) -> (those bytes, their fingerprint). Holding the bytes keeps the id from being
        # reused by another object while the entry exists, and the identity check below trusts nothing else.
        self._pending: dict[int, tuple[bytes, Future[Fingerprint]]] = {}

    def read_ahead(self, paths: Iterable[Path]) -> Iterator[tuple[Path, bytes | OSError]]:
        """``(path, bytes)`` in order; a file that cannot be read, or is over ``MAX_FILE_BYTES``,
        comes as its ``OSError`` in its place."""
        window: deque[tuple[Path, bytes | OSError]] = deque()
        for path in paths:
            window.append((path, self._start(path)))
            if len(window) >= self.depth:
                yield window.popleft()
        while window:
            yield window.popleft()

    def __call__(self, data: bytes, *, role: str = "query") -> Fingerprint:
        pending = self._pending.pop(id(data), None)
        if pending is None or pending[0] is not data or role != "reference":
            return self._pool.fingerprint(data, role=role)
        return pending[1].result()

    def discard(self, data: bytes) -> None:
        """Drop the fingerprint started for ``data`` if nobody will ask for it (a file found damaged)."""
        pending = self._pending.pop(id(data), None)
        if pending is not None:
            pending[1].cancel()

    def close(self) -> None:
        self._threads.shutdown(wait=True, cancel_futures=True)
        self._pool.close()

    def __enter__(self) -> Prefetcher:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _start(self, path: Path) -> bytes | OSError:
        try:
            data = read_capped(path, MAX_FILE_BYTES)  # a 3 GB file is refused unread
        except OSError as exc:
            return exc
        self._pending[id(data)] = (data, self._threads.submit(self._pool.fingerprint, data, role="reference"))
        return data
