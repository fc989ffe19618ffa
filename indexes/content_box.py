"""Find the artwork inside padding or a solid frame.

Framed and padded copies defeat whole-image hashes; cropping the uniform border away first
brings the content back to the same framing as the registered work.
"""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

# How far (per channel) a pixel may differ from the border colour and still count as frame.
_BORDER_TOLERANCE = 24
# Ignore boxes that remove less than this share of either side: nothing to gain.
_MIN_TRIM = 0.04
# A border this light in every channel is already white for the hashes.
_WHITE_ENOUGH = 230


def content_box(rgb: np.ndarray, alpha: np.ndarray | None = None) -> tuple[int, int, int, int] | None:
    """(x, y, w, h) of the non-frame content, or None when there is no frame worth removing."""
    h, w = rgb.shape[:2]
    if alpha is not None:
        mask = alpha > 16
    else:
        colour = border_colour(rgb)
        if colour is None:
            return None
        mask = off_colour(rgb, colour, _BORDER_TOLERANCE)
    rows = np.flatnonzero(mask.mean(axis=1) > 0.01)
    cols = np.flatnonzero(mask.mean(axis=0) > 0.01)
    if rows.size == 0 or cols.size == 0:
        return None
    y0, y1, x0, x1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    bw, bh = x1 - x0, y1 - y0
    if bw < 16 or bh < 16:
        return None
    if bw > w * (1 - _MIN_TRIM) and bh > h * (1 - _MIN_TRIM):
        return None
    return int(x0), int(y0), int(bw), int(bh)


def border_colour(rgb: np.ndarray) -> np.ndarray | None:
    """The colour of a uniform border (the outermost pixel ring), or None when the ring varies."""
    ring = np.concatenate([rgb[0], rgb[-1], rgb[:, 0], rgb[:, -1]]).astype(np.int16)
    colour = np.median(ring, axis=0)
    # A frame is uniform: if the ring itself varies a lot there is no frame.
    if np.mean(np.abs(ring - colour).max(axis=1) > _BORDER_TOLERANCE) > 0.2:
        return None
    return np.asarray(np.round(colour), dtype=np.uint8)


def background_to_white(rgb: np.ndarray) -> np.ndarray | None:
    """``rgb`` with its uniform, non-white background made white, or None when there is none.

    A transparent work copied flattened onto a colour is registered flattened onto white (and
    black): whitening the query's background brings its whole-image hash back to the work's. On
    seed 0 (BENCHMARKS.md) 20 such copies came within PDQ's match distance, no wrong work did."""
    colour = border_colour(rgb)
    if colour is None or int(colour.min()) >= _WHITE_ENOUGH:
        return None
    out = rgb.copy()
    out[~off_colour(rgb, colour, _BORDER_TOLERANCE)] = 255
    return out


def off_colour(rgb: np.ndarray, colour: npt.ArrayLike, tolerance: int) -> np.ndarray:
    """Pixels differing from ``colour`` by more than ``tolerance`` in any channel.

    One ``cv2.inRange`` pass: numpy's channel-by-channel maximum of an ``absdiff`` cost ten times
    as much (0.44 against 0.05 ms at 256 px), and a clean scan listing asks this 4-5 times."""
    centre = np.asarray(colour).astype(np.int16).reshape(-1)
    low = np.clip(centre - tolerance, 0, 255).astype(np.uint8)
    high = np.clip(centre + tolerance, 0, 255).astype(np.uint8)
    return cv2.inRange(rgb, low, high) == 0
