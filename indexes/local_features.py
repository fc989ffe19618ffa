"""ORB keypoints and 256-bit binary descriptors, spread evenly over the image.

Why ORB (Rublee et al., ICCV 2011): it is rotation invariant, multi-scale, ~5 ms on a 640 px
image, and its binary descriptors go straight into FAISS binary indexes. AKAZE/BRISK were
3-6x slower per image for the throughput target. Plain ORB spends its budget on the strongest
corners, which on a copy are the caption text or sticker edges; picking the best corners per
grid cell keeps descriptors on the artwork itself (a cheap stand-in for ANMS).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import cv2
import numpy as np

DESCRIPTOR_BYTES = 32
# Low FAST threshold: flat clip art has soft, low-contrast corners that the default 20 misses.
FAST_THRESHOLD = 8
# The threshold is a grey-level difference across 3 px, so enlarging an image f times divides its
# corners' contrast by ~f: callers that upscaled pass ``upscale`` and the threshold shrinks with it,
# down to this. A faint 96 px photo tile enlarged to 640 px found 0-4 corners at 8 and was refused
# as blank (46 of the benchmark's 300 photo works); photo µAP 0.828 -> 0.91 (BENCHMARKS.md).
MIN_FAST_THRESHOLD = 1
_GRID = 8
# Thinner images get no keypoints: ORB's pyramid would shrink a side to 0 px and fail (a
# 5000 x 3 strip), and no keypoint fits a 31 px patch in them anyway.
_MIN_SIDE = 32
# FAST corners kept per descriptor wanted, for the grid spread to choose from.
_DETECT_FACTOR = 4


@dataclass(frozen=True, eq=False)
class LocalFeatures:
    """Keypoint positions (working-image pixels) and their descriptors, by pyramid level, finest first."""

    points: np.ndarray  # (n, 2) float32, x/y in working pixels
    descriptors: np.ndarray  # (n, 32) uint8

    def __len__(self) -> int:
        return int(self.points.shape[0])

    def head(self, n: int) -> LocalFeatures:
        return LocalFeatures(self.points[:n], self.descriptors[:n])

    def every_other(self) -> LocalFeatures:
        """Half the features, from every pyramid level (they are stored level by level)."""
        return LocalFeatures(self.points[::2], self.descriptors[::2])


def _detector(n: int, upscale: float = 1.0) -> cv2.ORB:
    threshold = max(MIN_FAST_THRESHOLD, round(FAST_THRESHOLD / max(1.0, upscale)))
    return cv2.ORB.create(
        nfeatures=n, scaleFactor=1.2, nlevels=8, edgeThreshold=19, patchSize=31, fastThreshold=threshold
    )


def _empty() -> LocalFeatures:
    return LocalFeatures(np.zeros((0, 2), np.float32), np.zeros((0, DESCRIPTOR_BYTES), np.uint8))


# No features, shared: its arrays are read-only.
NONE = _empty()
NONE.points.setflags(write=False)
NONE.descriptors.setflags(write=False)


def extract(
    gray: np.ndarray,
    budget: int,
    *,
    mirror_budget: int = 0,
    alternates: tuple[tuple[np.ndarray, np.ndarray, int], ...] = (),
    upscale: float = 1.0,
) -> tuple[LocalFeatures, LocalFeatures]:
    """Up to ``budget`` descriptors, ordered round-robin over grid cells by response, and
    up to ``mirror_budget`` descriptors of the horizontally mirrored image.

    Detection runs once: FAST corners and Harris scores are mirror-symmetric, so the mirrored
    set reuses the keypoints (x and angle reflected) and only recomputes descriptors.

    Each ``(other_gray, mask, n)`` in ``alternates`` appends descriptors computed on
    ``other_gray`` for up to ``n`` of its own keypoints where ``mask`` is set: for transparent
    art, the silhouette over darker backgrounds. Detection reruns there because ORB's patch
    orientation (intensity centroid) flips with the background, not just the descriptor bits.
    """
    if budget <= 0 or min(gray.shape[:2]) < _MIN_SIDE:
        return _empty(), _empty()
    detector = _detector(budget * _DETECT_FACTOR, upscale)
    keypoints, order, local = _detect_and_describe(detector, gray, None, budget)
    if not keypoints:
        return _empty(), _empty()
    chosen = [keypoints[i] for i in order]
    for other, mask, limit in alternates:
        local = _concat(local, _masked(detector, other, mask, limit))
    if mirror_budget <= 0:
        return local, _empty()
    to_mirror = chosen[:mirror_budget]

    def mirrored() -> LocalFeatures:
        width = gray.shape[1]
        flipped = [
            cv2.KeyPoint(
                width - 1 - k.pt[0], k.pt[1], k.size, (180.0 - k.angle) % 360.0, k.response, k.octave
            )
            for k in to_mirror
        ]
        return _describe(detector, np.ascontiguousarray(gray[:, ::-1]), flipped)

    return local, DeferredFeatures(mirrored)


class DeferredFeatures(LocalFeatures):
    """Features computed on first use, then kept: ``len``, ``points``, ``descriptors``, ``head``
    and pickling all compute them, so a caller cannot tell them from computed ones.

    For a query's mirrored set: describing the flipped image builds ORB's pyramid once more, a fifth
    of a query's fingerprint (8.2 of 40.9 ms on ~1 MP JPEGs), and the engine searches the mirrored
    set only when the unmirrored one found no match."""

    _compute: Callable[[], LocalFeatures] | None  # None once computed: the image it held is dropped
    _result: LocalFeatures | None
    _lock: threading.Lock

    def __init__(self, compute: Callable[[], LocalFeatures]) -> None:
        # Frozen like its base: no field is assigned, the computed features live in ``_result``.
        object.__setattr__(self, "_compute", compute)
        object.__setattr__(self, "_result", None)
        object.__setattr__(self, "_lock", threading.Lock())

    def _features(self) -> LocalFeatures:
        with self._lock:  # two threads searching one query compute it once
            if self._result is None:
                assert self._compute is not None
                object.__setattr__(self, "_result", self._compute())
                object.__setattr__(self, "_compute", None)
            assert self._result is not None
            return self._result

    @property
    def points(self) -> np.ndarray:
        return self._features().points

    @property
    def descriptors(self) -> np.ndarray:
        return self._features().descriptors

    def __reduce__(self) -> tuple[type[LocalFeatures], tuple[np.ndarray, np.ndarray]]:
        # Pickled (to or from a worker process) as the computed features, not the closure.
        done = self._features()
        return LocalFeatures, (done.points, done.descriptors)


def _masked(detector: cv2.ORB, gray: np.ndarray, mask: np.ndarray, limit: int) -> LocalFeatures:
    if limit <= 0:
        return _empty()
    return _detect_and_describe(detector, gray, mask.astype(np.uint8), limit)[2]


def _detect_and_describe(
    detector: cv2.ORB, gray: np.ndarray, mask: np.ndarray | None, limit: int
) -> tuple[list[cv2.KeyPoint], np.ndarray, LocalFeatures]:
    """Every detected keypoint, the indices of the ``limit`` chosen ones, and their features.

    Only the chosen quarter is described: ``compute`` builds ORB's pyramid a second time, but that
    costs less than describing every detection in ``detectAndCompute`` (scan pictures 9.36 ->
    9.17 ms a fingerprint, benchmark queries 13.73 -> 13.50, OpenCV 5.1; BENCHMARKS.md). The
    descriptors are the same bit for bit: ORB describes each keypoint from its own pyramid level
    whichever way it was found."""
    keypoints = detector.detect(gray, mask)
    if not keypoints:
        return [], np.zeros(0, np.int64), _empty()
    pts = _positions(keypoints)
    response = np.fromiter((k.response for k in keypoints), np.float32, len(keypoints))
    octave = np.fromiter((k.octave for k in keypoints), np.int32, len(keypoints))
    order = _balanced_order(pts, response, octave, gray.shape)[:limit]
    # Described and stored by pyramid level (``compute`` returns them so, and fingerprints keep
    # the bytes they had when they were).
    stored = order[np.argsort(octave[order], kind="stable")]
    return list(keypoints), order, _describe(detector, gray, [keypoints[i] for i in stored])


def _concat(a: LocalFeatures, b: LocalFeatures) -> LocalFeatures:
    return LocalFeatures(np.concatenate([a.points, b.points]), np.concatenate([a.descriptors, b.descriptors]))


def _describe(detector: cv2.ORB, gray: np.ndarray, keypoints: list[cv2.KeyPoint]) -> LocalFeatures:
    kept, descriptors = detector.compute(gray, keypoints)
    if descriptors is None or not kept:
        return _empty()
    return LocalFeatures(_positions(kept), np.ascontiguousarray(descriptors))


def _positions(keypoints: Sequence[cv2.KeyPoint]) -> np.ndarray:
    """(n, 2) float32 x, y of each keypoint, converted in C++ (a list comprehension cost ~0.1 ms)."""
    return np.asarray(cv2.KeyPoint.convert(keypoints), np.float32).reshape(-1, 2)


def _balanced_order(
    pts: np.ndarray, response: np.ndarray, octave: np.ndarray, shape: tuple[int, ...]
) -> np.ndarray:
    """Interleave pyramid levels, each spread over the grid: sorted by (rank within the level,
    level), where a level ranks its keypoints by (rank within their grid cell, -response, cell),
    so every cell gets its best first.

    Left alone, ORB's strongest corners are mostly fine-scale; a work shown at a third of its
    size (a T-shirt mock-up, a phone screenshot) is only matched by coarse-scale features, so
    every level gets an equal share of any prefix of the order. All levels are ranked at once
    (a loop over them cost ~0.2 ms more per image)."""
    h, w = shape[:2]
    cx = np.minimum((pts[:, 0] * _GRID / max(w, 1)).astype(np.int32), _GRID - 1)
    cy = np.minimum((pts[:, 1] * _GRID / max(h, 1)).astype(np.int32), _GRID - 1)
    cell = cy * _GRID + cx
    in_cell = _rank_within(
        octave.astype(np.int64) * _GRID * _GRID + cell, np.lexsort((-response, cell, octave))
    )
    in_level = _rank_within(octave, np.lexsort((cell, -response, in_cell, octave)))
    return np.lexsort((octave, in_level))


def _rank_within(group: np.ndarray, order: np.ndarray) -> np.ndarray:
    """Each element's position within its ``group``, in ``order`` (which sorts by group first)."""
    grouped = group[order]
    rank = np.empty(len(order), np.int64)
    rank[order] = np.arange(len(order)) - np.searchsorted(grouped, grouped, side="left")
    return rank
