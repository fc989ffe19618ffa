"""Find separate items laid out on a page: the products of a search-results grid, the stickers of
a sheet, the pictures of a listing page.

A work shown at a tenth of a page's width is out of reach of the page's own fingerprint: its PDQ is
lost in the page's, and its ORB features sit at a scale ten times below the registered work's,
beyond the pyramids' overlap. Cut out and searched as a picture of its own, it is found
(``Engine.search`` searches the items of a page where the page itself matched nothing).

An item is a connected patch of pixels off the page's background colour, of a picture's shape and
small beside the page: a product photo's square, or a drawing's silhouette on a white page. Words,
buttons, rules and card outlines fail the size, shape or fill tests; a caption's letters, lined up
in one ink, are dropped, and a picture repeated on the page is one item, since each item costs a
fingerprint and a search. Found on the 256 px thumbnail the whole-image hashes use; at 1,024 px,
JPEG speckle made it cost 23 ms a query.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import cv2
import numpy as np

from indexes.content_box import off_colour
from indexes.geometry import overlap_area
from indexes.panels import MIN_BACKGROUND_SHARE, page_background

Box = tuple[int, int, int, int]  # x, y, w, h

MAX_ITEMS = 12
# An item this much of one colour (within the tolerance) is a swatch, not a picture.
_FLAT_SHARE = 0.97
_FLAT_TOLERANCE = 12
# Per channel, from the page's colour: a product's own off-white canvas (248 on a 255 page) is
# an item's square, not page. Chosen on generated product grids (BENCHMARKS.md).
_TOLERANCE = 3
# ...but JPEG ringing strays further from the page colour, and bridged the 4 px gaps (at 256 px)
# between the pictures of a collage: each row became one patch as wide as the page, and no item
# was found. Items this looser tolerance finds are added where they overlap none found before.
_JPEG_TOLERANCE = 12
# ...on a plain page only: one where most pixels within the looser tolerance of the page's colour
# are within the strict one too (ringing strays only along edges; collages 0.89-0.99). On a
# textured background (fabric, paper, noise: 0.24-0.40 on the unseen edits' T-shirt mock-ups) the
# looser pass's patches are the texture's blobs: 12 items a mock-up, each fingerprinted and
# searched when nothing matched, 82 ms a mock-up on average against 21 (BENCHMARKS.md).
_PLAIN_SHARE = 0.6
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
# within 12 levels on average. On seed 0's 1,848 queries the page alone does not settle, items
# searched fell 273 -> 234 with the same `match`es (BENCHMARKS.md).
_REPEAT_SIDE = 0.2
_REPEAT_LEVELS = 12.0
# Letters and words of a caption: patches side by side on one line (their heights within 30 % and
# overlapping by 70 %, gaps under half a height) that together are 2.5 times longer than high, each in
# one ink (every pixel on the way from the page's colour to it, within 24 levels, anti-aliasing
# included). A row of product photos is many-coloured: only the ink rule tells it from a caption.
_LINE_OVERLAP = 0.7
_LINE_ASPECT = 2.5
_LINE_HEIGHTS = 0.3
_LINE_GAP = 0.5
_INK_RESIDUAL = 24.0
_INK_SHARE = 0.9


def page_items(rgb: np.ndarray) -> list[Box]:
    """(x, y, w, h) of up to ``MAX_ITEMS`` items on the image's page, largest first."""
    colour, share = page_background(rgb[::4, ::4].reshape(-1, 3))
    if share < MIN_BACKGROUND_SHARE:
        return []
    strict = off_colour(rgb, colour, _TOLERANCE)
    boxes = _items_at(rgb, colour, strict)
    loose = off_colour(rgb, colour, _JPEG_TOLERANCE)
    if np.count_nonzero(~strict) >= _PLAIN_SHARE * np.count_nonzero(~loose):
        more = _items_at(rgb, colour, loose)
        boxes += [box for box in more if not any(overlap_area(box, b) for b in boxes)]
    boxes.sort(key=lambda box: -box[2] * box[3])
    return _distinct(rgb, boxes)[:MAX_ITEMS]


def _items_at(rgb: np.ndarray, colour: np.ndarray, off: np.ndarray) -> list[Box]:
    """The item boxes of the pixels ``off`` the page's colour (a boolean mask of ``rgb``)."""
    h, w = rgb.shape[:2]
    count, _, stats, _ = cv2.connectedComponentsWithStats(off.astype(np.uint8), connectivity=8)
    x, y, bw, bh, area = stats[1:count].T.astype(np.int64)
    short, long = np.minimum(bw, bh), np.maximum(bw, bh)
    side = max(h, w)
    inside = (x > 0) & (y > 0) & (x + bw < w) & (y + bh < h)  # a header bar touches an edge
    keep = (
        inside
        & (short >= _MIN_SIDE * side)
        & (long <= _MAX_SIDE * side)
        & (long <= _MAX_ASPECT * short)
        & (area >= _MIN_FILL * bw * bh)
    )
    if not keep.any():
        return []
    # Lines are traced through narrower patches too (an "I", an "l"), not only would-be items,
    # but only those as high as an item's line could be (JPEG speckle is many small patches).
    lower, upper = bh[keep].min() * (1 - _LINE_HEIGHTS), bh[keep].max() / (1 - _LINE_HEIGHTS)
    on_line = _on_text_line(np.stack([x, y, bw, bh], axis=1), inside & (bh >= lower) & (bh <= upper))
    boxes = []
    for i in np.flatnonzero(keep):
        box = (int(x[i]), int(y[i]), int(bw[i]), int(bh[i]))
        if _flat(rgb, box) or (on_line[i] and _one_ink(rgb, box, colour)):
            continue
        boxes.append(box)
    return boxes


def _on_text_line(xywh: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    """For each box, whether it is one of two or more ``candidates`` side by side on a line
    longer than ``_LINE_ASPECT`` times its height (words, letters)."""
    idx = np.flatnonzero(candidates)
    out = np.zeros(len(xywh), bool)
    if len(idx) < 2:
        return out
    x, y, w, h = xywh[idx].T
    top, bottom = np.maximum.outer(y, y), np.minimum.outer(y + h, y + h)
    taller = np.maximum.outer(h, h)
    gap = np.maximum.outer(x, x) - np.minimum.outer(x + w, x + w)
    beside = (
        (bottom - top >= _LINE_OVERLAP * taller)
        & (np.minimum.outer(h, h) >= (1 - _LINE_HEIGHTS) * taller)
        & (gap <= _LINE_GAP * taller)
    )
    for members in _groups(beside):
        if members.sum() < 2:
            continue
        left, right = x[members].min(), (x + w)[members].max()
        upper, lower = y[members].min(), (y + h)[members].max()
        if right - left > _LINE_ASPECT * (lower - upper):
            out[idx[members]] = True
    return out


def _groups(adjacent: np.ndarray) -> list[np.ndarray]:
    """The connected groups of a symmetric adjacency matrix, as boolean masks."""
    left = np.ones(len(adjacent), bool)
    groups = []
    while left.any():
        members = np.zeros(len(adjacent), bool)
        members[np.flatnonzero(left)[0]] = True
        while True:
            grown = members | adjacent[members].any(axis=0)
            if (grown == members).all():
                break
            members = grown
        left &= ~members
        groups.append(members)
    return groups


def _one_ink(rgb: np.ndarray, box: Box, page: np.ndarray) -> bool:
    """Nearly every pixel of the box (``_INK_SHARE``) lies between the page's colour and one ink,
    as anti-aliased text does."""
    x, y, w, h = box
    pixels = rgb[y : y + h, x : x + w].reshape(-1, 3).astype(np.float32) - page.astype(np.float32)
    far = np.linalg.norm(pixels, axis=1)
    ink = pixels[far >= np.quantile(far, 0.9)].mean(axis=0)
    norm = float(np.linalg.norm(ink))
    if norm < 1.0:
        return True
    along = np.clip(pixels @ ink / norm, 0.0, norm)
    residual = np.linalg.norm(pixels - np.outer(along / norm, ink), axis=1)
    return float((residual <= _INK_RESIDUAL).mean()) >= _INK_SHARE


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
    """A query's page items, found on first use, each fingerprinted on first use, then kept.

    ``len``, truth and :meth:`boxes` need no fingerprints: a search iterates all of them only when
    the page itself matched nothing, so the 71 of 200 benchmark drawings with parts small beside
    their canvas (and every page a search matches whole) never pay for their items' fingerprints
    (~20 ms each); after a partial match only the items :meth:`where` picks are fingerprinted.
    Built with :meth:`found_later`, not even the items are looked for until something asks: a
    page the search matches whole never needs them (finding them was ~1.6 ms of a scan listing's
    13 ms fingerprint). Pickled (to or from a worker process), the items are found first, and each
    travels as its cut-out pixels, or as its fingerprint once computed."""

    def __init__(self, pending: Sequence[tuple[Box, Any]], compute: Callable[[int, Box, Any], Any]) -> None:
        self._find: Callable[[], DeferredItems] | None = None
        self._compute = compute
        self._lock = threading.Lock()
        self._keep(pending)

    @classmethod
    def found_later(cls, find: Callable[[], DeferredItems]) -> DeferredItems:
        """The items ``find`` returns, called once, when first needed."""
        out = cls((), _never)
        out._find = find
        return out

    @classmethod
    def computed(cls, done: Sequence[tuple[Box, Any]]) -> DeferredItems:
        out = cls([(box, None) for box, _ in done], _never)
        out._fingerprints = [item for _, item in done]
        return out

    def _keep(self, pending: Sequence[tuple[Box, Any]]) -> None:
        self._boxes: tuple[Box, ...] = tuple(box for box, _ in pending)
        self._crops: list[Any] = [crop for _, crop in pending]  # None once fingerprinted
        self._fingerprints: list[Any] = [None] * len(self._boxes)

    def _found(self) -> None:
        with self._lock:
            if self._find is not None:
                found = self._find()
                self._keep(tuple(zip(found._boxes, found._crops, strict=True)))
                self._compute = found._compute
                self._find = None  # drops the page it held

    def __len__(self) -> int:
        self._found()
        return len(self._boxes)

    def __iter__(self) -> Iterator[tuple[Box, Any]]:
        return self.where(lambda box: True)

    def boxes(self) -> tuple[Box, ...]:
        """Where the items are, in page pixels, without fingerprinting any."""
        self._found()
        return self._boxes

    @property
    def fingerprinted(self) -> int:
        """How many items have been fingerprinted so far."""
        return sum(item is not None for item in self._fingerprints)

    def where(self, keep: Callable[[Box], bool]) -> Iterator[tuple[Box, Any]]:
        """The items whose box ``keep`` accepts, with their fingerprints (computed as needed)."""
        for n, box in enumerate(self.boxes()):
            if keep(box):
                yield box, self._item(n)

    def _item(self, n: int) -> Any:
        with self._lock:  # two threads searching one query compute each item once
            if self._fingerprints[n] is None:
                self._fingerprints[n] = self._compute(n, self._boxes[n], self._crops[n])
                self._crops[n] = None  # the pixels are no longer needed
            return self._fingerprints[n]

    def __reduce__(self) -> tuple[Any, ...]:
        self._found()
        with self._lock:
            return _rebuilt, (self._boxes, list(self._crops), list(self._fingerprints), self._compute)


def _rebuilt(
    boxes: tuple[Box, ...], crops: list[Any], fingerprints: list[Any], compute: Callable[[int, Box, Any], Any]
) -> DeferredItems:
    out = DeferredItems([(box, crop) for box, crop in zip(boxes, crops, strict=True)], compute)
    out._fingerprints = fingerprints
    return out


def _never(n: int, box: Box, crop: Any) -> Any:
    raise AssertionError("computed items have nothing pending")
