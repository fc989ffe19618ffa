"""Find the artwork printed on a product photo: the largest patch of strong edges on a page that
has no plain background.

A drawing printed on a T-shirt and photographed covers a third of the photo or less. ORB spreads a
query's descriptor budget over the whole image, so the fabric's grain takes most of it, and the
page is not plain, so ``page_items`` cuts nothing out. On the 256 px thumbnail the grain is averaged
away while the drawing's edges stay sharp: closed up, the largest patch of strong edges is the
drawing, and searched as a picture of its own it is found (``fingerprinting._items``).
"""

from __future__ import annotations

import cv2
import numpy as np

from indexes.page_items import Box

# A strong edge: this many times the thumbnail's median gradient magnitude, and at least this much
# (Sobel on 0-255 grey). Fabric, paper and skin stay below it at 256 px.
_EDGE_FACTOR = 4.0
_MIN_EDGE = 60.0
# Gaps closed between a drawing's edges (thumbnail pixels), so its outline and inner lines are one patch.
_CLOSE = 9
# The patch's box, as a share of the thumbnail: smaller is a logo or a label, larger is the photo itself.
_MIN_SHARE = 0.04
_MAX_SHARE = 0.6
# Margin added around the box, as a share of its longer side: the outline's own pixels stay inside.
_PAD = 0.05


def salient_region(rgb: np.ndarray) -> Box | None:
    """(x, y, w, h) in ``rgb``'s pixels of its largest patch of strong edges, padded, or None when
    there is none of an artwork's size."""
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32)
    magnitude = cv2.magnitude(cv2.Sobel(grey, cv2.CV_32F, 1, 0), cv2.Sobel(grey, cv2.CV_32F, 0, 1))
    strong = magnitude > max(_EDGE_FACTOR * float(np.median(magnitude)), _MIN_EDGE)
    closed = cv2.morphologyEx(strong.astype(np.uint8), cv2.MORPH_CLOSE, np.ones((_CLOSE, _CLOSE), np.uint8))
    count, _, stats, _ = cv2.connectedComponentsWithStats(closed, connectivity=8)
    if count <= 1:
        return None
    x, y, w, h, _ = (int(v) for v in stats[1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))])
    height, width = closed.shape
    if not _MIN_SHARE * width * height <= w * h <= _MAX_SHARE * width * height:
        return None
    pad = round(_PAD * max(w, h))
    x0, y0 = max(0, x - pad), max(0, y - pad)
    return x0, y0, min(width, x + w + pad) - x0, min(height, y + h + pad) - y0
