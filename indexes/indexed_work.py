"""What a search needs of an indexed work besides its FAISS entries, kept small: a registry holds
one per work, a million of them in memory at the largest size BENCHMARKS.md measures."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from indexes import appearance, copy_embedding, lightness_map
from indexes.fingerprinting import Fingerprint
from indexes.global_hashes import PHASH_BYTES
from indexes.local_features import DESCRIPTOR_BYTES, LocalFeatures

# A work's keypoints are kept in fixed point, 1/32 px in uint16 (working images are at most
# 1,024 px): half the memory of float32, which was 1 GB of a million-work registry.
POINT_SCALE = 32
NO_PHASH = -1
# The appearance signature, the pHash's 8 bytes, a has-pHash flag and the copy descriptor, as int8.
PHASH_AT = appearance.SIGNATURE_BYTES
HAS_PHASH_AT = PHASH_AT + PHASH_BYTES
EMBEDDING_AT = HAS_PHASH_AT + 1
SUMMARY_BYTES = EMBEDDING_AT + copy_embedding.DIMENSIONS


_NO_DESCRIPTORS = np.zeros((0, DESCRIPTOR_BYTES), np.uint8)
_NO_DESCRIPTORS.setflags(write=False)
_VIEWS_SHAPE = (copy_embedding.VIEWS, copy_embedding.DIMENSIONS)


@dataclass(frozen=True, eq=False, slots=True)
class WorkArrays:
    """The per-work arrays of one work or of every work a saved index holds, concatenated: work
    ``i``'s rows are ``offsets[i]:offsets[i + 1]`` (points, descriptors) and
    ``pdq_offsets[i]:pdq_offsets[i + 1]`` (PDQ views). Works slice them when asked, instead of
    holding four array views each (536 bytes a work less when read back; a million-work registry
    served in 470 MiB less, BENCHMARKS.md)."""

    points: np.ndarray  # (N, 2) uint16, working pixels x POINT_SCALE
    offsets: np.ndarray  # (n + 1,) int64
    pdq: np.ndarray  # (M, 32) identity-orientation PDQ of each whole-image view
    pdq_offsets: np.ndarray  # (n + 1,) int64
    # (n, ``SUMMARY_BYTES``) int8: the ``indexes.appearance`` signature (zeros when unknown), the
    # pHash's 8 bytes and a has-pHash flag.
    summaries: np.ndarray
    # (N, 32) uint8 ORB descriptors of the points, for matching a query against one work alone
    # (``work_matching``); None when not kept (``Engine(exclusive_placements=False)``, or an
    # index written before format 7). A loaded index maps them from disk (``index_files``).
    descriptors: np.ndarray | None
    # (n, ``copy_embedding.VIEWS``, 128) int8 descriptors of each work's crops, all zeros for a
    # work without them; None when no work has them (an index written before format 10). Mapped
    # from disk when loaded, like ``descriptors``: 640 MB at a million works.
    views: np.ndarray | None = None
    # (n, ``lightness_map.MAP_BYTES``) uint8 lightness maps, all zeros for a work without one; None
    # when no work has one (an index written before format 11). Mapped from disk like ``views``.
    lightness: np.ndarray | None = None


@dataclass(frozen=True, eq=False, slots=True)
class IndexedWork:
    """One indexed work: row ``row`` of ``arrays`` (slots, no per-instance dict)."""

    sha256: str
    working_size: tuple[int, int]
    low_information: bool
    arrays: WorkArrays
    row: int

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
        summary = np.zeros((1, SUMMARY_BYTES), np.int8)
        # A signature of another size (none, or a future layout) is not compared, nor saved.
        if len(fp.appearance) == appearance.SIGNATURE_BYTES:
            summary[0, : appearance.SIGNATURE_BYTES] = fp.appearance
        if len(fp.phash) == PHASH_BYTES:  # a query's fingerprint has none
            summary[0, PHASH_AT:HAS_PHASH_AT] = fp.phash.view(np.int8)
            summary[0, HAS_PHASH_AT] = 1
        if len(fp.embedding) == copy_embedding.DIMENSIONS:  # a registered work's
            summary[0, EMBEDDING_AT:] = fp.embedding
        points, pdq = to_fixed(local.points), fp.pdq[:, 0, :].copy()
        kept = local if descriptors_of is None else descriptors_of
        arrays = WorkArrays(
            points,
            _span(len(points)),
            pdq,
            _span(len(pdq)),
            summary,
            np.ascontiguousarray(kept.descriptors) if len(kept) else None,
            fp.views[None, :, :].copy() if fp.views.shape == _VIEWS_SHAPE else None,
            fp.lightness[None, :].copy() if fp.lightness.shape == (lightness_map.MAP_BYTES,) else None,
        )
        return cls(fp.sha256, working_size, fp.low_information, arrays, 0)

    @property
    def fixed_points(self) -> np.ndarray:
        """(n, 2) uint16 keypoints, working pixels x POINT_SCALE."""
        a, i = self.arrays, self.row
        return a.points[a.offsets[i] : a.offsets[i + 1]]

    @property
    def pdq(self) -> np.ndarray:
        """(views, 32) identity-orientation PDQ of each whole-image view."""
        a, i = self.arrays, self.row
        return a.pdq[a.pdq_offsets[i] : a.pdq_offsets[i + 1]]

    @property
    def summary(self) -> np.ndarray:
        """``SUMMARY_BYTES`` int8: appearance signature, pHash bytes, has-pHash flag."""
        return self.arrays.summaries[self.row]

    @property
    def descriptors(self) -> np.ndarray:
        """(n, 32) uint8 ORB descriptors of ``fixed_points``; empty when not kept."""
        a, i = self.arrays, self.row
        return _NO_DESCRIPTORS if a.descriptors is None else a.descriptors[a.offsets[i] : a.offsets[i + 1]]

    @property
    def appearance(self) -> np.ndarray:
        """The signature (255,) int8; all zeros, which compares as 0, for fingerprints made before it."""
        return self.summary[: appearance.SIGNATURE_BYTES]

    @property
    def phash(self) -> int:
        """64-bit pHash of the whole image, NO_PHASH when unknown (an index saved before format 6,
        or a work added from a query fingerprint): it corroborates a drifted PDQ (``scoring``)."""
        summary = self.summary
        return phash_int(summary[PHASH_AT:HAS_PHASH_AT]) if summary[HAS_PHASH_AT] else NO_PHASH

    @property
    def embedding(self) -> np.ndarray:
        """The copy descriptor (``DIMENSIONS``,) int8 (``indexes.copy_embedding``); all zeros when
        unknown (a fingerprint or an index from before it)."""
        return self.summary[EMBEDDING_AT:]

    @property
    def views(self) -> np.ndarray:
        """(``copy_embedding.VIEWS``, 128) int8 descriptors of the work's crops; (0, 128) when
        unknown (a fingerprint or an index from before them)."""
        views = self.arrays.views
        if views is None or not views[self.row].any():
            return copy_embedding.NO_VIEWS
        return views[self.row]

    @property
    def lightness(self) -> np.ndarray:
        """(``lightness_map.MAP_BYTES``,) uint8 lightness map; empty when unknown (a fingerprint or an
        index from before them)."""
        maps = self.arrays.lightness
        if maps is None or not maps[self.row].any():
            return lightness_map.EMPTY
        return maps[self.row]

    @property
    def points(self) -> np.ndarray:
        """(n, 2) float32 working pixels."""
        return self.fixed_points.astype(np.float32) / POINT_SCALE

    @property
    def whole_views(self) -> int:
        """PDQ ids below this are whole-image views, the rest sub-regions."""
        a, i = self.arrays, self.row
        return int(a.pdq_offsets[i + 1] - a.pdq_offsets[i])


@functools.cache
def _span(rows: int) -> np.ndarray:
    """Offsets of one work of ``rows`` rows, shared by every work of that many (read-only)."""
    offsets = np.array([0, rows], np.int64)
    offsets.setflags(write=False)
    return offsets


def phash_int(packed: np.ndarray) -> int:
    """8 packed pHash bytes as an int, or NO_PHASH when there are none (a query's)."""
    return int.from_bytes(packed.tobytes(), "big") if len(packed) == PHASH_BYTES else NO_PHASH


def to_fixed(points: np.ndarray) -> np.ndarray:
    """Working-pixel keypoints as uint16 fixed point (``POINT_SCALE``)."""
    return np.clip(np.rint(points * POINT_SCALE), 0, np.iinfo(np.uint16).max).astype(np.uint16)
