"""What a search needs of an indexed work besides its FAISS entries, kept small: a registry holds
one per work, a million of them in memory at the largest size BENCHMARKS.md measures."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from indexes import appearance
from indexes.fingerprinting import Fingerprint
from indexes.global_hashes import PHASH_BYTES
from indexes.local_features import LocalFeatures

# A work's keypoints are kept in fixed point, 1/32 px in uint16 (working images are at most
# 1,024 px): half the memory of float32, which was 1 GB of a million-work registry.
POINT_SCALE = 32
NO_PHASH = -1
# The appearance signature, the pHash's 8 bytes and a has-pHash flag, as int8.
SUMMARY_BYTES = appearance.SIGNATURE_BYTES + PHASH_BYTES + 1


@dataclass(frozen=True, eq=False, slots=True)
class IndexedWork:
    """One indexed work (slots, no per-instance dict; fixed-point keypoints)."""

    sha256: str
    working_size: tuple[int, int]
    fixed_points: np.ndarray  # (n, 2) uint16, working pixels x POINT_SCALE
    low_information: bool
    pdq: np.ndarray  # (views, 32) identity-orientation PDQ of each whole-image view
    # ``SUMMARY_BYTES`` int8: the ``indexes.appearance`` signature (zeros when unknown), the
    # pHash's 8 bytes and a has-pHash flag; in a loaded index, a view into one array. A signature
    # view plus the pHash as a Python int cost 61 MiB more at a million works (BENCHMARKS.md).
    summary: np.ndarray
    # (n, 32) uint8 ORB descriptors of ``fixed_points``, for matching a query against this work
    # alone (``work_matching``); empty when not kept (``Engine(exclusive_placements=False)``, or an
    # index written before format 7).
    descriptors: np.ndarray

    @classmethod
    def of(
        cls,
        fp: Fingerprint,
        local: LocalFeatures,
        working_size: tuple[int, int],
        *,
        descriptors_of: LocalFeatures | None = None,
    ) -> IndexedWork:
        """The entry for ``fp`` with the ``local`` features indexed for it; ``working_size`` is
        ``fp.working_size``, passed in so that the engine can share one tuple per size.
        ``descriptors_of``: the features whose descriptors are kept (default ``local``; none to
        save memory)."""
        summary = np.zeros(SUMMARY_BYTES, np.int8)
        # A signature of another size (none, or a future layout) is not compared, nor saved.
        if len(fp.appearance) == appearance.SIGNATURE_BYTES:
            summary[: appearance.SIGNATURE_BYTES] = fp.appearance
        if len(fp.phash) == PHASH_BYTES:  # a query's fingerprint has none
            summary[appearance.SIGNATURE_BYTES : -1] = fp.phash.view(np.int8)
            summary[-1] = 1
        points, pdq = to_fixed(local.points), fp.pdq[:, 0, :].copy()
        descriptors = np.ascontiguousarray((local if descriptors_of is None else descriptors_of).descriptors)
        return cls(fp.sha256, working_size, points, fp.low_information, pdq, summary, descriptors)

    @property
    def appearance(self) -> np.ndarray:
        """The signature (255,) int8; all zeros, which compares as 0, for fingerprints made before it."""
        return self.summary[: appearance.SIGNATURE_BYTES]

    @property
    def phash(self) -> int:
        """64-bit pHash of the whole image, NO_PHASH when unknown (an index saved before format 6,
        or a work added from a query fingerprint): it corroborates a drifted PDQ (``scoring``)."""
        return phash_int(self.summary[appearance.SIGNATURE_BYTES : -1]) if self.summary[-1] else NO_PHASH

    @property
    def points(self) -> np.ndarray:
        """(n, 2) float32 working pixels."""
        return self.fixed_points.astype(np.float32) / POINT_SCALE

    @property
    def whole_views(self) -> int:
        """PDQ ids below this are whole-image views, the rest sub-regions."""
        return len(self.pdq)


def phash_int(packed: np.ndarray) -> int:
    """8 packed pHash bytes as an int, or NO_PHASH when there are none (a query's)."""
    return int.from_bytes(packed.tobytes(), "big") if len(packed) == PHASH_BYTES else NO_PHASH


def to_fixed(points: np.ndarray) -> np.ndarray:
    """Working-pixel keypoints as uint16 fixed point (``POINT_SCALE``)."""
    return np.clip(np.rint(points * POINT_SCALE), 0, np.iinfo(np.uint16).max).astype(np.uint16)
