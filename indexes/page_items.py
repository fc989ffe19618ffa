"""Find separate items laid out on a page: the products of a search-results grid, the stickers of
a sheet, the pictures of a listing page.

A work shown at a tenth of a page's width is out of reach of the page's own fingerprint: its PDQ is
lost in the page's, and its ORB features sit at a scale ten times below the registered work's,
beyond the pyramids' overlap. Cut out and searched as a picture of its own, it is found
(``Engine.search`` searches the items of a page where the page itself matched nothing).

An item is a connected patch of pixels off the page's background colour, of a picture's shape and
size: a product photo's square, or a drawing's silhouette on a white page. Words, rules and card
outlines fail the size, shape or fill tests.
"""

from __future__ import annotations

import cv2
import numpy as np

from indexes.content_box import off_colour
from indexes.panels import MIN_BACKGROUND_SHARE, page_background

# Fewer items is a picture with a few parts, not a page of them (a drawing's separate pieces).
MIN_ITEMS = 3
MAX_ITEMS = 12
# Per channel, from the page's colour: a product's own off-white canvas (248 on a 255 page) is
# an item's square, not page. Chosen on generated product grids (BENCHMARKS.md).
_TOLERANCE = 3
# An item's shorter side, as a share of the page's longer one; its longer side at most this share.
_MIN_SIDE = 0.04
_MAX_SIDE = 0.6
_MAX_ASPECT = 4.0
# Share of its bounding box an item fills: a card's outline or a ruled frame fills far less.
_MIN_FILL = 0.25


def page_items(rgb: np.ndarray) -> list[tuple[int, int, int, int]]:
    """(x, y, w, h) of up to ``MAX_ITEMS`` items on the image's page, largest first; none unless
    there are at least ``MIN_ITEMS``."""
    colour, share = page_background(rgb[::4, ::4].reshape(-1, 3))
    if share < MIN_BACKGROUND_SHARE:
        return []
    h, w = rgb.shape[:2]
    off = off_colour(rgb, colour, _TOLERANCE).astype(np.uint8)
    # Joins an item's pixels across one-pixel seams (JPEG, anti-aliasing), not across gaps.
    joined = cv2.dilate(off, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3)))
    count, _, stats, _ = cv2.connectedComponentsWithStats(joined, connectivity=8)
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
    if int(keep.sum()) < MIN_ITEMS:
        return []
    boxes = np.stack([x, y, bw, bh], axis=1)[keep]
    order = np.argsort(-(boxes[:, 2] * boxes[:, 3]), kind="stable")[:MAX_ITEMS]
    return [(int(a), int(b), int(c), int(d)) for a, b, c, d in boxes[order]]
