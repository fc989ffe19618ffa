"""Whole-image perceptual hashes: PDQ (industry exchange format) and pHash (imagehash).

PDQ is Meta's 256-bit DCT hash (https://github.com/facebook/ThreatExchange/tree/main/pdq), computed
by ``indexes.pdq``; its 8 rotations/mirrors come from one pass, which is how HMA catches mirrored and
90-degree-rotated copies. pHash is the 64-bit DCT hash of imagehash
(hackerfactor's "Looks like it"), kept as a cheap corroborating signal.
"""

from __future__ import annotations

import functools

import cv2
import imagehash
import numpy as np
from PIL import Image

from indexes import pdq as pdq_hashing

PDQ_BYTES = 32
PHASH_BYTES = 8
# PDQ quality below this means the hash is mostly noise (Meta's recommended floor is 50).
PDQ_MIN_QUALITY = 50
# PDQ downsamples to 64x64 internally; feeding ~256 px keeps its filters accurate and fast.
_HASH_SIDE = 256
# A hash whose 16 x 16 bits repeat under a shift of one or two rows or columns (fewer than this
# share of the compared bits differ) describes a flat image, a gradient or a fine regular pattern,
# not a picture: a solid colour hashes to all zeros. On 1,997 registered works such hashes were 107
# of 2,832 flattened-on-black views (black line art), 2 of 2,000 whole images and 91 of 27,782
# sub-regions; any black text on a transparent background hashed equal to all those works (a
# 0.9999 `match`), and checkerboards to a gradient region of a glossy icon (0.92).
DEGENERATE_PERIODICITY = 0.05


def thumbnail(rgb: np.ndarray) -> np.ndarray:
    """``rgb`` resized to exactly 256 px on the long side, enlarging small images too.

    Small copies (a downscaled work, a 200 px thumbnail) hash closer to their work when
    enlarged first: PDQ of the raw pixels kept their noise and JPEG blocking (benchmark recall
    at `match` on 30 % downscales 0.58 -> 0.40 without this)."""
    h, w = rgb.shape[:2]
    longest = max(h, w)
    if longest == _HASH_SIDE:
        return rgb
    f = _HASH_SIDE / longest
    size = (max(1, round(w * f)), max(1, round(h * f)))
    # One exact area resize. A whole-number box-reduce first is ~2 ms faster from 1024 px, but
    # the edge pixels it drops and the second resampling moved aligned re-hashes of placed
    # works 4-10 bits further from the work (tests/test_indexes_alignment.py).
    return cv2.resize(rgb, size, interpolation=cv2.INTER_AREA if f < 1 else cv2.INTER_LINEAR)


def hash_input(rgb: np.ndarray) -> np.ndarray:
    """A copy of at most 256 px on the long side (or ``rgb`` itself when already small)."""
    return rgb if max(rgb.shape[:2]) <= _HASH_SIDE else thumbnail(rgb)


def pdq(rgb: np.ndarray) -> tuple[np.ndarray, int]:
    """PDQ hash as 32 packed bytes, and its quality (0-100)."""
    return pdq_hashing.hash_rgb(hash_input(rgb))


def pdq_dihedral(rgb: np.ndarray) -> tuple[np.ndarray, int]:
    """The 8 dihedral PDQ hashes, shape (8, 32) uint8, and the quality (0-100) they share."""
    return pdq_hashing.dihedral_rgb(hash_input(rgb))


@functools.cache
def warm_up_phash() -> None:
    """Make imagehash's pHash import SciPy now (~0.15-0.2 s, done on its first call), so that a
    process serving searches pays it at start-up, not on the first query a pHash corroborates.
    Once per process: later calls return at once."""
    imagehash.phash(Image.new("L", (32, 32)))


def phash(rgb: np.ndarray) -> np.ndarray:
    """64-bit imagehash pHash, packed as 8 bytes."""
    small = Image.fromarray(hash_input(rgb))
    return np.packbits(imagehash.phash(small).hash.flatten().astype(np.uint8))


def degenerate(packed: np.ndarray) -> np.ndarray:
    """For each PDQ hash in ``packed`` (rows of 32 bytes), whether it is degenerate (see
    ``DEGENERATE_PERIODICITY``): such hashes are neither indexed nor searched."""
    bits = np.unpackbits(packed.reshape(-1, PDQ_BYTES), axis=1).reshape(-1, 16, 16)
    least = np.ones(len(bits))
    for shift in (1, 2):
        least = np.minimum(least, (bits[:, shift:] != bits[:, :-shift]).mean(axis=(1, 2)))
        least = np.minimum(least, (bits[:, :, shift:] != bits[:, :, :-shift]).mean(axis=(1, 2)))
    return least < DEGENERATE_PERIODICITY


# A whole-image hash that moves more than this under a light blur, a JPEG re-encode or a halving
# is noise: PDQ of bands of flat colour (most tricolour flags) sits on DCT coefficients near its
# median threshold, and France's moved 122 bits between its PNG and a JPEG q92. Where ORB finds
# no corners either, nothing could ever find such a work's copies (``quality.is_low_information``).
UNSTABLE_BITS = 64


def whole_hash_unusable(rgb: np.ndarray, whole: np.ndarray) -> bool:
    """Whether ``whole``, the 8 dihedral PDQ hashes of ``rgb``, cannot name copies of it: all
    degenerate (never searched), or unstable under edits far milder than any copy's."""
    if bool(degenerate(whole).all()):
        return True
    small = hash_input(rgb)
    h, w = small.shape[:2]
    ok, jpeg = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, 70])  # channel order is moot
    reencoded = cv2.imdecode(jpeg, cv2.IMREAD_UNCHANGED) if ok else None
    edits = [
        cv2.GaussianBlur(small, (0, 0), 1.5),
        small if reencoded is None else reencoded,
        cv2.resize(cv2.resize(small, (max(1, w // 2), max(1, h // 2)), interpolation=cv2.INTER_AREA), (w, h)),
    ]
    return any(int(hamming(whole[0], pdq(edit)[0])) > UNSTABLE_BITS for edit in edits)


def hamming(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Bitwise Hamming distance between packed rows of ``a`` and ``b`` (broadcasting)."""
    return np.unpackbits(np.bitwise_xor(a, b), axis=-1).sum(axis=-1)


# Multi-region hashing for crops: PDQ of each corner and the centre of a work at three sizes
# spanning the 40-60 % area crops pirates make. Corner crops of flat clip art have too few
# corners for ORB, but keep enough low-frequency structure for PDQ.
REGION_FRACTIONS = (0.63, 0.7, 0.77)
# Regions are cut from a half-size copy (~80-100 px each): PDQ reduces them to 64 x 64 anyway,
# its cost grows with the input, and it holds the GIL, which stalls a server's other requests.
# Per work with ``pdqhash`` 7.6 -> 3.5-4.8 ms (alternating runs); on the 2,000-work benchmark
# µAP 0.9082 -> 0.9075 and recall at `match` 0.8360 -> 0.8365 (2026-12-02).
_REGION_SOURCE_SIDE = _HASH_SIDE // 2


def region_hashes(rgb: np.ndarray) -> np.ndarray:
    """PDQ of 15 sub-regions; regions too plain to hash reliably are left out."""
    small = hash_input(rgb)
    h, w = small.shape[:2]
    if max(h, w) > _REGION_SOURCE_SIDE:
        f = _REGION_SOURCE_SIDE / max(h, w)
        small = cv2.resize(small, (max(8, round(w * f)), max(8, round(h * f))), interpolation=cv2.INTER_AREA)
        h, w = small.shape[:2]
    grey = pdq_hashing.luma(small)
    out = []
    for f in REGION_FRACTIONS:
        cw, ch = max(8, int(w * f)), max(8, int(h * f))
        for x, y in ((0, 0), (w - cw, 0), (0, h - ch), (w - cw, h - ch), ((w - cw) // 2, (h - ch) // 2)):
            bits, quality = pdq_hashing.hash_luma(grey[y : y + ch, x : x + cw])
            if quality >= PDQ_MIN_QUALITY:
                out.append(bits)
    return np.stack(out) if out else np.zeros((0, PDQ_BYTES), np.uint8)
