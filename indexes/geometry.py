"""Geometric verification: do the matched keypoints agree on one plausible placement?

Descriptor votes alone confuse clip art that shares fonts or outlines; requiring the
correspondences to fit a single affine map (RANSAC, Fischler & Bolles 1981) is what keeps
false matches near zero while accepting crops, rotations, stretches and screenshots.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace

import cv2
import numpy as np

# Reprojection tolerance in working pixels (~1.2 % of a 640 px side): loose enough for mild
# perspective and JPEG jitter, tight enough that random correspondences rarely agree.
REPROJECTION_PX = 8.0
# Plausible scale between registered work and its copy (area ratio 1/100 .. 100).
MIN_SCALE, MAX_SCALE = 0.1, 10.0
# Aspect stretch beyond 3:1 is not a copy anyone would list.
MAX_ANISOTROPY = 3.0
# Inliers must span a real part of the work, not one letter repeated. Clusters below
# ``scoring.SMALL_SPAN`` still count, discounted: 0.04 here cost 0.011 µAP on the benchmark.
MIN_SPAN_FRACTION = 0.01
_RANSAC_SEED = 20261125
# Inliers needed to fit a homography, and how far from affine it may go (the projective
# denominator may change by this much across the work: 15 % corner moves need ~0.3).
_MIN_HOMOGRAPHY = 8
_MAX_KEYSTONE = 0.5
# An affine fit with this many inliers is kept without also trying the similarity fit.
_CONFIDENT_INLIERS = 20


@dataclass(frozen=True)
class Placement:
    """How a registered work sits inside a query image."""

    inliers: int
    matrix: np.ndarray  # 2x3 affine: work working-pixels -> query working-pixels
    span: float  # share of the work's area covered by the inliers' bounding box
    # 3x3 least-squares homography on the inliers (perspective copies), when enough of them
    homography: np.ndarray | None = None


def verify(work_pts: np.ndarray, query_pts: np.ndarray, work_size: tuple[int, int]) -> Placement | None:
    """Best plausible placement with its one-to-one inlier count, or None.

    Full affine RANSAC alone can settle on a degenerate map (the whole work squashed onto a
    line) that repeated structure supports with more inliers than the true placement; it is
    then rejected and the copy lost. A similarity fit cannot degenerate, so both are tried."""
    if len(work_pts) < 4:
        return None
    best = _fit(cv2.estimateAffine2D, work_pts, query_pts, work_size)
    # A clear affine placement is kept: the similarity fit would not beat it by much.
    if best is None or best.placement.inliers < _CONFIDENT_INLIERS:
        similar = _fit(cv2.estimateAffinePartial2D, work_pts, query_pts, work_size)
        if similar is not None and (best is None or similar.placement.inliers > best.placement.inliers):
            best = similar
    if best is None:
        return None
    # The homography is fitted for the winning fit only (the loser's would be wasted work).
    placement = best.placement
    if placement.inliers < _MIN_HOMOGRAPHY:
        return placement
    return replace(placement, homography=_homography(best.work_inliers, best.query_inliers, work_size))


@dataclass(frozen=True)
class _Fit:
    placement: Placement
    work_inliers: np.ndarray
    query_inliers: np.ndarray


def _fit(
    estimate: Callable[..., tuple[np.ndarray | None, np.ndarray | None]],
    work_pts: np.ndarray,
    query_pts: np.ndarray,
    work_size: tuple[int, int],
) -> _Fit | None:
    # RANSAC draws from OpenCV's per-thread RNG; reseeding makes a query's score independent
    # of whatever ran before it in the process (scans must be reproducible across workers).
    cv2.setRNGSeed(_RANSAC_SEED)
    matrix, mask = estimate(
        work_pts,
        query_pts,
        method=cv2.RANSAC,
        ransacReprojThreshold=REPROJECTION_PX,
        maxIters=1000,
        confidence=0.995,
        refineIters=5,
    )
    if matrix is None or mask is None:
        return None
    inl = mask.ravel().astype(bool)
    if not _plausible(matrix):
        return None
    w_in, q_in = work_pts[inl], query_pts[inl]
    # Count one-to-one: many query points on one work point (or vice versa) are one match.
    unique = min(_distinct(w_in), _distinct(q_in))
    if unique < 3:
        return None
    span = _span(w_in, work_size)
    if span < MIN_SPAN_FRACTION:
        return None
    return _Fit(Placement(unique, matrix, span), w_in, q_in)


def _distinct(points: np.ndarray) -> int:
    """Distinct points after rounding to whole pixels (coordinates are small and non-negative;
    one int64 code per point, because np.unique along an axis is ~10x slower here)."""
    xy = np.round(points).astype(np.int64)
    return len(np.unique((xy[:, 0] << 32) | (xy[:, 1] & 0xFFFFFFFF)))


def _homography(work_pts: np.ndarray, query_pts: np.ndarray, size: tuple[int, int]) -> np.ndarray | None:
    """Least-squares homography through the affine inliers, if it stays close to an affine map
    (a wild one from a few clustered points would warp the region nonsensically)."""
    h, _ = cv2.findHomography(work_pts, query_pts, 0)
    if h is None or abs(h[2, 2]) < 1e-9:
        return None
    h = h / h[2, 2]
    if not _plausible(h[:2]) or max(abs(h[2, 0]) * size[0], abs(h[2, 1]) * size[1]) > _MAX_KEYSTONE:
        return None
    return np.asarray(h, dtype=np.float64)


def _plausible(matrix: np.ndarray) -> bool:
    (a, b), (c, d) = matrix[0, :2].tolist(), matrix[1, :2].tolist()
    det = a * d - b * c
    if det <= 0:  # a mirror cannot come from ORB matches of an unmirrored copy
        return False
    scale = det**0.5
    if not MIN_SCALE <= scale <= MAX_SCALE:
        return False
    # The 2x2 part's singular values in closed form (numpy's svd and det cost ~40 us a call,
    # and a clean scan listing checks ~20 fits): q + r and |q - r|.
    q = math.hypot((a + d) / 2, (c - b) / 2)
    r = math.hypot((a - d) / 2, (c + b) / 2)
    return (q + r) / max(abs(q - r), 1e-9) <= MAX_ANISOTROPY


def _span(points: np.ndarray, size: tuple[int, int]) -> float:
    lo, hi = points.min(axis=0), points.max(axis=0)
    return float((hi[0] - lo[0]) * (hi[1] - lo[1]) / max(1.0, size[0] * size[1]))


def project_box(
    matrix: np.ndarray, size: tuple[int, int], bounds: tuple[int, int]
) -> tuple[tuple[float, float, float, float], float]:
    """Bounding box (x, y, w, h) of the work's outline mapped into the query and clipped to it,
    and the share of the mapped outline's box that lies inside the query."""
    w, h = size
    corners = np.array([[0, 0], [w, 0], [w, h], [0, h]], dtype=np.float64)
    mapped = corners @ matrix[:, :2].T + matrix[:, 2]
    lo, hi = mapped.min(axis=0), mapped.max(axis=0)
    x0, y0 = np.clip(lo, 0, bounds)
    x1, y1 = np.clip(hi, 0, bounds)
    full = max(1e-9, float((hi[0] - lo[0]) * (hi[1] - lo[1])))
    inside = float((x1 - x0) * (y1 - y0))
    return (float(x0), float(y0), float(x1 - x0), float(y1 - y0)), inside / full


def overlap_area(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> int:
    """Pixels two (x, y, w, h) boxes share."""
    across = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
    down = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
    return max(0, across) * max(0, down)
