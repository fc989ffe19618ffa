"""Quality gate: is there enough visual information to identify this image?

Plain fills, soft gradients and tiny icons hash to near-constant PDQ/pHash values and give
ORB almost nothing, so they "match" unrelated uploads. They are refused at registration and
can never produce a ``match`` verdict as queries.
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

# Images smaller than this on their short side carry too little detail to be distinctive.
MIN_SIDE_PX = 32
# Share of pixels on a visible edge (Sobel magnitude > _EDGE_LEVEL); solid fills are ~0.
MIN_EDGE_DENSITY = 0.004
_EDGE_LEVEL = 40.0
# Below this many keypoints AND a weak PDQ, an image is a blob or a gradient.
MIN_KEYPOINTS = 24
MIN_PDQ_QUALITY_WITH_FEW_KEYPOINTS = 40
# A query under MIN_SIDE_PX is still a whole picture, only downscaled: PDQ hashes a 64 px DCT,
# which keeps a work's layout, so a whole-image near-duplicate may still be named; local features
# may not. On the benchmark, 15-31 px copies sat a median 14 bits from their work, and the nearest
# other work was never under 50 bits (92 such queries, 20 of them distractors).
MIN_WHOLE_IMAGE_SIDE_PX = 12


def edge_density(gray: np.ndarray) -> float:
    gx = cv2.Sobel(gray, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(gray, cv2.CV_32F, 0, 1, ksize=3)
    return float(np.mean(np.hypot(gx, gy) > _EDGE_LEVEL))


def information_score(size: tuple[int, int], edges: float, keypoints: int, pdq_quality: int) -> float:
    """0..1 summary for humans and the API; the gate itself uses :func:`is_low_information`.

    Scaled down below twice the smallest accepted side: an enlarged 16 px icon shows many corners
    (``local_features`` lowers its threshold for enlarged images), none of them information."""
    detail = min(1.0, edges / 0.05) * 0.5 + min(1.0, keypoints / 200) * 0.3 + pdq_quality / 100 * 0.2
    return float(detail * min(1.0, min(size) / (2 * MIN_SIDE_PX)))


def identifiable_as_whole(size: tuple[int, int], edges: float) -> bool:
    """True for an image too small for the gate that still has edges (it is not a plain fill),
    so that a whole, downscaled copy may be recognised by its whole-image hash alone. PDQ
    quality is not required, as for any query's whole-image match: the photo thumbnails'
    quality is often under 40 (blurred texture) while their hashes stay within 20 bits."""
    return MIN_WHOLE_IMAGE_SIDE_PX <= min(size) < MIN_SIDE_PX and edges >= MIN_EDGE_DENSITY


def is_low_information(
    size: tuple[int, int],
    edges: float,
    keypoints: int,
    pdq_quality: int,
    whole_hash_unusable: Callable[[], bool] | None = None,
) -> str | None:
    """A human-readable reason when the image is too plain, else None. ``whole_hash_unusable``
    (asked only of an image with few keypoints) says whether its whole-image hash could name its
    copies (``global_hashes.whole_hash_unusable``)."""
    if min(size) < MIN_SIDE_PX:
        return f"image is {size[0]}x{size[1]} px; at least {MIN_SIDE_PX} px on each side is needed"
    if edges < MIN_EDGE_DENSITY:
        return "image is nearly blank (almost no edges): a plain fill or soft gradient cannot be identified"
    if keypoints < MIN_KEYPOINTS and pdq_quality < MIN_PDQ_QUALITY_WITH_FEW_KEYPOINTS:
        return f"image has too little detail ({keypoints} distinctive points, PDQ quality {pdq_quality})"
    if keypoints < MIN_KEYPOINTS and whole_hash_unusable is not None and whole_hash_unusable():
        return (
            f"image is too plain to tell its copies from look-alikes ({keypoints} distinctive points, and a "
            "whole-image hash that is flat or changes under a light re-encode): bands of flat colour, "
            "as plain tricolour flags"
        )
    return None
