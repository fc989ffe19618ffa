"""Find separate items laid out on a page: the products of a search-results grid, the stickers of
a sheet, the pictures of a listing page.

A work shown at a tenth of a page's width is out of reach of the page's own fingerprint: its PDQ is
lost in the page's, and its ORB features sit at a scale ten times below the registered work's,
beyond the pyramids' overlap. Cut out and searched as a picture of its own, it is found
(``Engine.search`` searches the items of a page where the page itself matched nothing).

An item is a connected patch of pixels off the page's background colour, of a picture's shape and
small beside the page: a product photo's square, or a drawing's silhouette on a white page. Words,
buttons, rules and card outlines fail the size, shape or fill tests. Found on the 256 px thumbnail
the whole-image hashes use; at 1,024 px, JPEG speckle made it cost 23 ms a query.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import cv2
import numpy as np

from indexes.content_box import off_colour
from indexes.panels import MIN_BACKGROUND_SHARE, page_background

Box = tuple[int, int, int, int]  # x, y, w, h

MAX_ITEMS = 12
# An item this much of one colour (within the tolerance) is a swatch, not a picture.
_FLAT_SHARE = 0.97
_FLAT_TOLERANCE = 12
# Per channel, from the page's colour: a product's own off-white canvas (248 on a 255 page) is
# an item's square, not page. Chosen on generated product grids (BENCHMARKS.md).
_TOLERANCE = 3
# An item's shorter side, as a share of the page's longer one, and the most its longer side may be:
# a listing page shows the work at about half the page's width (at 0.35, the benchmark's listing
# pages found by their items went from 10 to 0, BENCHMARKS.md).
_MIN_SIDE = 0.04
_MAX_SIDE = 0.6
_MAX_ASPECT = 4.0
# Share of its bounding box an item fills: a card's outline or a ruled frame fills far less.
_MIN_FILL = 0.25
# Items this alike are one picture repeated (a border of tomatoes, a flag's stars, a tiled
# watermark's words) and are searched once: sides within 20 %, and their 8 x 8 colour thumbnails
# within 12 levels on average. On seed 0's 1,848 queries the page alone does not settle, item
# searches fell 273 -> 224 with the same `match`es (BENCHMARKS.md).
_REPEAT_SIDE = 0.2
_REPEAT_LEVELS = 12.0


def page_items(rgb: np.ndarray) -> list[Box]:
    """(x, y, w, h) of up to ``MAX_ITEMS`` items on the image's page, largest first."""
    colour, share = page_background(rgb[::4, ::4].reshape(-1, 3))
    if share < MIN_BACKGROUND_SHARE:
        return []
    h, w = rgb.shape[:2]
    off = off_colour(rgb, colour, _TOLERANCE).astype(np.uint8)
    count, _, stats, _ = cv2.connectedComponentsWithStats(off, connectivity=8)
    x, y, bw, bh, area = stats[1:count].T.astype(np.int64)
    short, long = np.minimum(bw, bh), np.maximum(bw, bh)
    side = max(h, w)
    keep = (
        (x > 0)
        & (y > 0)
        & (x + bw < w)
        & (y + bh < h)  # a header bar or a photo's own content touches an edge
        & (short >= _MIN_SIDE * side)
        & (long <= _MAX_SIDE * side)
        & (long <= _MAX_ASPECT * short)
        & (area >= _MIN_FILL * bw * bh)
    )
    boxes = [(int(a), int(b), int(c), int(d)) for a, b, c, d in np.stack([x, y, bw, bh], axis=1)[keep]]
    boxes = [box for box in boxes if not _flat(rgb, box)]
    boxes.sort(key=lambda box: -box[2] * box[3])
    return _distinct(rgb, boxes)[:MAX_ITEMS]


def _flat(rgb: np.ndarray, box: Box) -> bool:
    """A swatch of one colour (a button, a coloured panel), not a picture: on held-out seed 1 a
    listing page's plain yellow sidebar swatch was a `match` for a registered yellow signal flag."""
    x, y, w, h = box
    # Its inner part: at 256 px a small swatch's rim is blended with the page.
    patch = np.ascontiguousarray(rgb[y + h // 8 : y + h - h // 8, x + w // 8 : x + w - w // 8])
    colour = np.median(patch.reshape(-1, 3), axis=0).astype(np.uint8)
    return float((~off_colour(patch, colour, _FLAT_TOLERANCE)).mean()) >= _FLAT_SHARE


def _distinct(rgb: np.ndarray, boxes: list[Box]) -> list[Box]:
    """``boxes`` less those repeating an earlier (larger) one."""
    kept: list[tuple[Box, np.ndarray]] = []
    for box in boxes:
        x, y, w, h = box
        look = cv2.resize(rgb[y : y + h, x : x + w], (8, 8), interpolation=cv2.INTER_AREA).astype(np.int16)
        if not any(_repeats(box, look, *other) for other in kept):
            kept.append((box, look))
    return [box for box, _ in kept]


def _repeats(box: Box, look: np.ndarray, other: Box, other_look: np.ndarray) -> bool:
    sides_alike = all(abs(a - b) <= _REPEAT_SIDE * b for a, b in zip(box[2:], other[2:], strict=True))
    return sides_alike and float(np.abs(look - other_look).mean()) < _REPEAT_LEVELS


class DeferredItems:
    """A query's page items, fingerprinted on first use (iteration), then kept.

    ``len`` and truth need no fingerprints: a search only iterates when the page itself matched
    nothing, so the 71 of 200 benchmark drawings with parts small beside their canvas (and
    every page a search matches) never pay for their items' fingerprints (~20 ms each). Pickled
    (to or from a worker process), they travel as the cut-out pixels, or as fingerprints once
    computed."""

    def __init__(self, pending: Sequence[tuple[Box, Any]], compute: Callable[[int, Box, Any], Any]) -> None:
        self._pending: tuple[tuple[Box, Any], ...] | None = tuple(pending)
        self._compute = compute
        self._done: tuple[tuple[Box, Any], ...] | None = None
        self._count = len(self._pending)
        self._lock = threading.Lock()

    @classmethod
    def computed(cls, done: Sequence[tuple[Box, Any]]) -> DeferredItems:
        out = cls((), _never)
        out._pending, out._done, out._count = None, tuple(done), len(done)
        return out

    def __len__(self) -> int:
        return self._count

    def __iter__(self) -> Iterator[tuple[Box, Any]]:
        return iter(self._items())

    def _items(self) -> tuple[tuple[Box, Any], ...]:
        with self._lock:  # two threads searching one query compute them once
            if self._done is None:
                assert self._pending is not None
                self._done = tuple(
                    (box, self._compute(n, box, crop)) for n, (box, crop) in enumerate(self._pending)
                )
                self._pending = None  # the pixels are no longer needed
            return self._done

    def __reduce__(self) -> tuple[Any, ...]:
        with self._lock:
            if self._done is not None:
                return DeferredItems.computed, (self._done,)
            return DeferredItems, (self._pending, self._compute)


def _never(n: int, box: Box, crop: Any) -> Any:
    raise AssertionError("computed items have nothing pending")
