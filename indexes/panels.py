"""Find image panels in a screenshot.

A listing page shows the artwork in a filled rectangle on the page's background. Its whole-image
hash is lost among the page's header, buttons and text, and a work with few corners (a smooth
photo, enlarged) gives ORB nothing to place; hashing the panel itself brings the work back to the
framing of its registration.
"""

from __future__ import annotations

import cv2
import numpy as np

# How far (per channel) a pixel may differ from the page background and still be background.
_BACKGROUND_TOLERANCE = 12
# A panel covers this share of the image: smaller ones are swatches, buttons and words.
_MIN_SHARE = 0.08
_MAX_SHARE = 0.9
# Share of its bounding box a panel fills: text, outlines and rings fill far less.
_MIN_FILL = 0.85
MAX_PANELS = 2


def panels(rgb: np.ndarray) -> list[tuple[int, int, int, int]]:
    """(x, y, w, h) of up to ``MAX_PANELS`` filled rectangles lying on the image's commonest
    colour (a page's background) without touching its edges, largest first. A panel's own thin
    border is kept: trimming uniform edges inside it also cut into artworks with a plain sky."""
    h, w = rgb.shape[:2]
    background = np.empty_like(rgb)
    background[:] = _background(rgb.reshape(-1, 3))
    diff = cv2.absdiff(rgb, background)
    mask = np.maximum(np.maximum(diff[..., 0], diff[..., 1]), diff[..., 2]) > _BACKGROUND_TOLERANCE
    count, _, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    found = []
    for x, y, bw, bh, area in stats[1:count].tolist():
        if x == 0 or y == 0 or x + bw == w or y + bh == h:
            continue  # a header, a photo's own content: part of the page, not on it
        if not _MIN_SHARE <= bw * bh / (w * h) <= _MAX_SHARE or area < _MIN_FILL * bw * bh:
            continue
        found.append((x, y, bw, bh))
    found.sort(key=lambda b: -b[2] * b[3])
    return found[:MAX_PANELS]


def _background(pixels: np.ndarray) -> np.ndarray:
    """The commonest colour (a page's background). Not the edges': a page's header and footer
    bars can outnumber its side margins there."""
    bins = (pixels // 16).astype(np.int32)
    codes = (bins[:, 0] << 8) | (bins[:, 1] << 4) | bins[:, 2]
    common = np.bincount(codes).argmax()
    return np.round(pixels[codes == common].mean(axis=0)).astype(np.uint8)
