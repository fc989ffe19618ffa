"""PDQ, Meta's 256-bit perceptual hash, computed with numpy and OpenCV.

The steps are those of the reference C++ (ThreatExchange ``pdq/cpp``; "PDQ and TMK + PDQF", 2017):
luma (Rec. 601), two X/Y passes of a 1-D box filter (Jarosz's tent) with windows of a 128th of each
side, 64 x 64 samples at the cell centres, the 16 x 16 DCT coefficients of frequencies 1-16, one bit
per coefficient above their median, and a quality (0-100) from the samples' gradients. The 8
rotations and mirrors come from sign flips and transposes of the coefficients, as in the reference.

Why not ``pdqhash`` (the reference C++ bound to Python): its box passes cost ~0.9 ms on a 256 px
image, and a listing hashes one to three such views. The passes and the sampling are linear, and only
64 x 64 of their outputs are kept, so each sample is a weighted sum of the few pixels under its tent
(``_taps``): all 8 hashes take ~0.2 ms.

The coefficients are rounded to ``_COEFFICIENT_STEP`` before the median, so that those that are zero
in exact arithmetic (all of a picture made of horizontal bands, the odd ones of a mirror-symmetric
picture) are exactly zero: their bits then no longer depend on rounding errors, which differ between
implementations and CPUs. On 3,000 views of benchmark images (1,500 thumbnails and a crop of each)
all qualities equal ``pdqhash``'s, and the 8 hashes are identical on 2,948. Of the others, 27 are
1-3 bits away (a coefficient within float32 rounding of the median), 8 have some coefficients
exactly zero (1-97 bits: the reference's bits there are its rounding noise), and 17 have all of them
zero, which ``pdqhash`` hashes to noise (72-128 bits away) and this module to an all-zero hash that
the engine treats as degenerate.
"""

from __future__ import annotations

import functools

import cv2
import numpy as np

SIDE = 64  # PDQ's sample grid
_FREQUENCIES = 16
_MIN_HASHABLE_SIDE = 5  # the reference hashes anything smaller to zeros, quality 0
# A 1,024th: far above float64 rounding (~1e-12 here), far below the spacing of real coefficients
# near the median (~1 on pictures whose pixels are 0-255).
_COEFFICIENT_STEP = 2.0**-10
_LUMA = np.array([[0.299, 0.587, 0.114]], np.float32)
# The reference keeps DCT-II frequencies 1-16 of the 64 x 64 samples, scaled by sqrt(2 / 64): rows
# 1-16 of OpenCV's orthonormal DCT. OpenCV rather than a numpy matrix product: OpenBLAS's threads
# spin between products, and in two worker processes they halved fingerprinting throughput
# (pool of 2: 94.6 -> 42.1 images/s).
_KEPT = slice(1, _FREQUENCIES + 1)
_EVEN_NEGATED = np.where(np.arange(_FREQUENCIES) & 1, 1.0, -1.0)  # the reference's sign rule for a flip
_CHECKERED = np.where(np.add.outer(np.arange(_FREQUENCIES), np.arange(_FREQUENCIES)) & 1, -1.0, 1.0)


def _box_spans(length: int, window: int) -> tuple[np.ndarray, np.ndarray]:
    """The reference's 1-D box filter: output i averages the inputs from ``lo[i]`` to ``hi[i]``, that
    is from ``i - (window - half)`` to ``i + half - 1`` where they exist, ``half = (window + 2) // 2``."""
    half = (window + 2) // 2
    i = np.arange(length)
    return np.maximum(0, i - (window - half)), np.minimum(length - 1, i + half - 1)


@functools.lru_cache(maxsize=256)
def _taps(length: int) -> tuple[np.ndarray, np.ndarray]:
    """Two box passes along a side of ``length`` pixels, then the 64 cell-centre samples, as the
    pixels each sample weighs and their weights: (64, k) indices and (64, k) weights, where k, the
    tent's width, is 1 for sides up to 128 px and 3 up to 256 px. A few KiB per side length."""
    lo, hi = _box_spans(length, (length + 2 * SIDE - 1) // (2 * SIDE))
    centres = ((np.arange(SIDE) + 0.5) * length / SIDE).astype(int)
    width = int((hi[hi[centres]] - lo[lo[centres]]).max()) + 1
    pixels = np.zeros((SIDE, width), np.int64)  # padding taps weigh 0 at pixel 0
    weights = np.zeros((SIDE, width))
    for row, c in enumerate(centres):
        first = lo[lo[c]]
        tent = np.zeros(hi[hi[c]] - first + 1)
        for j in range(lo[c], hi[c] + 1):  # the second pass's inputs, each a first-pass average
            tent[lo[j] - first : hi[j] - first + 1] += 1.0 / ((hi[c] - lo[c] + 1) * (hi[j] - lo[j] + 1))
        pixels[row, : len(tent)] = np.arange(first, first + len(tent))
        weights[row, : len(tent)] = tent
    return pixels, weights


def luma(rgb: np.ndarray) -> np.ndarray:
    """Rec. 601 luma of an RGB uint8 image (h, w, 3), in float32 like the reference's; a fourth
    channel (alpha) is ignored, as the reference ignores it."""
    return cv2.transform(rgb[..., :3].astype(np.float32), _LUMA)


def coefficients(grey: np.ndarray) -> tuple[np.ndarray, int]:
    """The 16 x 16 DCT coefficients PDQ thresholds, and its quality (0-100), of a luma image. For
    views of a few hundred pixels (``global_hashes.hash_input``): the memory taken grows with the side
    times the tent's width, ~side / 64."""
    h, w = grey.shape
    if min(h, w) < _MIN_HASHABLE_SIDE:
        return np.zeros((_FREQUENCIES, _FREQUENCIES)), 0
    rows, row_weights = _taps(h)
    cols, col_weights = _taps(w)
    # Only the pixels under the 64 x 64 samples' tents are filtered; float64 from here on, so that
    # no rounding reaches the coefficients' step.
    across = (grey[rows].astype(np.float64) * row_weights[:, :, None]).sum(axis=1)
    samples = (across[:, cols] * col_weights[None]).sum(axis=2)
    # Gradients in percent of full scale, each truncated toward zero as the reference's int cast does.
    down = np.abs(np.trunc((samples[:-1] - samples[1:]) * 100 / 255)).sum()
    sideways = np.abs(np.trunc((samples[:, :-1] - samples[:, 1:]) * 100 / 255)).sum()
    quality = min(100, int(down + sideways) // 90)
    dct = cv2.dct(samples)[_KEPT, _KEPT]
    return np.round(dct / _COEFFICIENT_STEP) * _COEFFICIENT_STEP, quality


def _bits(dct: np.ndarray) -> np.ndarray:
    """Packed hashes (rows of 32 bytes) of a stack of 16 x 16 coefficient blocks. A bit is set when
    its coefficient is above the block's lower median; bit order is ``pdqhash``'s (last coefficient
    first)."""
    flat = dct.reshape(len(dct), -1)
    median = np.partition(flat, flat.shape[1] // 2 - 1, axis=1)[:, flat.shape[1] // 2 - 1]
    return np.packbits((flat > median[:, None])[:, ::-1], axis=1)


def hash_luma(grey: np.ndarray) -> tuple[np.ndarray, int]:
    """PDQ of a luma image: 32 packed bytes, and its quality."""
    dct, quality = coefficients(grey)
    return _bits(dct[None])[0], quality


def hash_rgb(rgb: np.ndarray) -> tuple[np.ndarray, int]:
    """PDQ of an RGB uint8 image: 32 packed bytes, and its quality."""
    return hash_luma(luma(rgb))


def dihedral_rgb(rgb: np.ndarray) -> tuple[np.ndarray, int]:
    """The 8 PDQ hashes, (8, 32) uint8, in ``pdqhash.compute_dihedral``'s order: as is, turned 90,
    180 and 270 degrees, flipped about the x axis, the y axis, and the two diagonals."""
    dct, quality = coefficients(luma(rgb))
    variants = np.stack(
        [
            dct,
            (dct * _EVEN_NEGATED[None, :]).T,
            dct * _CHECKERED,
            (dct * _EVEN_NEGATED[:, None]).T,
            dct * _EVEN_NEGATED[:, None],
            dct * _EVEN_NEGATED[None, :],
            dct.T,
            (dct * _CHECKERED).T,
        ]
    )
    return _bits(variants), quality
