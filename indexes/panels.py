"""Find image panels in a screenshot.

A listing page shows the artwork in a filled rectangle on the page's background. Its whole-image
hash is lost among the page's header, buttons and text, and a work with few corners (a smooth
photo, enlarged) gives ORB nothing to place; hashing the panel itself brings the work back to the
framing of its registration.
"""

from __future__ import annotations

import cv2
import numpy as np

from indexes.content_box import off_colour

# How far (per channel) a pixel may differ from the page background and still be background.
_BACKGROUND_TOLERANCE = 12
# A panel covers this share of the image: smaller ones are swatches, buttons and words.
_MIN_SHARE = 0.08
_MAX_SHARE = 0.9
# Share of its bounding box a panel fills: text, outlines and rings fill far less.
_MIN_FILL = 0.85
MAX_PANELS = 2
# A page's background covers at least this share of it (sampled, in 16-level colour bins).
MIN_BACKGROUND_SHARE = 0.2


def panels(rgb: np.ndarray) -> list[tuple[int, int, int, int]]:
    """(x, y, w, h) of up to ``MAX_PANELS`` filled rectangles lying on the image's commonest
    colour (a page's background) without touching its edges, largest first. A panel's own thin
    border is kept: trimming uniform edges inside it also cut into artworks with a plain sky."""
    colour, share = page_background(rgb[::4, ::4].reshape(-1, 3))
    if share < MIN_BACKGROUND_SHARE:
        return []  # no page around anything: a photo, a drawing filling the frame
    # At full size: found at half size, boxes moved by a pixel and the panel's PDQ drifted
    # (a blurred work on a generated page no longer matched; tests/test_indexes_panels.py).
    h, w = rgb.shape[:2]
    mask = off_colour(rgb, colour, _BACKGROUND_TOLERANCE)
    count, _, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    x, y, bw, bh, area = stats[1:count].T.astype(np.int64)
    # A header bar, or a photo's own content, touches an edge: part of the page, not on it.
    inside = (x > 0) & (y > 0) & (x + bw < w) & (y + bh < h)
    share_of_image = bw * bh / (w * h)
    keep = (
        inside
        & (share_of_image >= _MIN_SHARE)
        & (share_of_image <= _MAX_SHARE)
        & (area >= _MIN_FILL * bw * bh)
    )
    order = np.argsort(-(bw * bh)[keep], kind="stable")[:MAX_PANELS]
    boxes = np.stack([x, y, bw, bh], axis=1)[keep][order]
    return [(int(a), int(b), int(c), int(d)) for a, b, c, d in boxes]


def page_background(pixels: np.ndarray) -> tuple[np.ndarray, float]:
    """The commonest colour (a page's background) and the share of ``pixels`` near it. Not the
    edges' colour: a page's header and footer bars can outnumber its side margins there."""
    bins = (pixels >> 4).astype(np.int32)
    codes = (bins[:, 0] << 8) | (bins[:, 1] << 4) | bins[:, 2]
    counts = np.bincount(codes)
    common = int(counts.argmax())
    colour = np.round(pixels[codes == common].mean(axis=0)).astype(np.uint8)
    return colour, counts[common] / len(codes)
