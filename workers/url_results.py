"""What each image URL a worker process fetched came to, so a URL repeated in a feed is fetched once.

Marketplace feeds name one image many times (a seller's re-listings, a placeholder picture). The
result of a URL, fetched, fingerprinted and searched, depends only on its bytes and the index, so
the worker keeps it (most recent first, bounded, for ``ttl_s``: a long-lived server's worker must
not answer next week's scan with last week's picture at that URL) and forgets everything when it
loads another index. A fetch that failed is not kept: the next listing tries again.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from typing import Generic, TypeVar

__all__ = ["RecentResults"]

T = TypeVar("T")


class RecentResults(Generic[T]):
    """A thread-safe map of the ``size`` most recently used keys, each kept ``ttl_s`` seconds
    (Dask may run tasks in threads)."""

    def __init__(self, size: int, ttl_s: float) -> None:
        self.size = size
        self.ttl_s = ttl_s
        self._items: OrderedDict[str, tuple[float, T]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> T | None:
        with self._lock:
            item = self._items.get(key)
            if item is None:
                return None
            if time.monotonic() - item[0] > self.ttl_s:
                del self._items[key]
                return None
            self._items.move_to_end(key)
            return item[1]

    def put(self, key: str, value: T) -> None:
        with self._lock:
            self._items[key] = (time.monotonic(), value)
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def __len__(self) -> int:
        return len(self._items)
