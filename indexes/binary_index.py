"""A FAISS binary index over caller-chosen int64 ids, with add, remove, save and load.

FAISS itself only knows positions; callers here encode their own meaning into the id
(work key and feature number), so FAISS stays private to this module.

Index type by size, measured in ``benchmarks/`` (see BENCHMARKS.md):
- below a flat limit an exact ``IndexBinaryFlat`` (behind an id map) is fastest to build and
  search. The limit is the caller's: an index searched with a few vectors at a time (PDQ) stays
  flat far longer than one searched with ~600 ORB descriptors per query;
- above it an ``IndexBinaryIVF`` with ~512 vectors per list, trained by k-means on a small
  sample while there are at most 1024 lists. Larger indexes get two-level k-means centroids,
  and the list lookup follows the same two levels (a small IVF over the centroids), so
  building and assigning stay fast. Each query
  vector scans about ``DEFAULT_NPROBE`` x 512 codes: more lists are probed while lists are
  still short (a small index), never fewer than ``DEFAULT_NPROBE``, and no further lists once
  twice that many codes were scanned (lists in dense regions are much longer than average).
The index is rebuilt with more lists when it grows ``_REGROW``x past the size it was built for.

Vectors added to an IVF index after it was loaded go to a second IVF index over the same lists
(the *delta*), searched with the same list assignment and saved to its own file. A FAISS list
grows like a ``std::vector``, by doubling: a loaded list is exactly full, so the first add to
each doubled it, and a few adds per list after a start doubled the memory of the whole index
(a 30,000-work index: 462 MiB on load, then +226 MiB for 2,000 works, 25 MiB of codes; +37 MiB
with the delta). Lists built in this process already have that slack, so adds go to them.
"""

from __future__ import annotations

import errno
import math
import os
from pathlib import Path

import faiss
import numpy as np

# Flat up to this many vectors unless the caller says otherwise.
FLAT_LIMIT = 60_000
# Lists probed per query vector. True copies have near-identical descriptors that sit in the
# nearest lists: on the 2,000-work benchmark nprobe 6 / 3 / 2 gave µAP 0.887 / 0.887 / 0.885,
# recall at `match` 0.808 / 0.804 / 0.796 and search p50 11.1 / 6.6 / 5.3 ms (BENCHMARKS.md).
DEFAULT_NPROBE = 3
_REGROW = 4
# k-means on a sample of ~40 points per list, few iterations: seconds, and +5-8 points of
# neighbour recall over sampled centroids at the same nprobe (measured on ORB descriptors).
_TRAIN_PER_LIST = 40
_TRAIN_ITERATIONS = 10
# Past this many lists, two-level centroids and the nested lookup: at 5,000 works (4,096 lists,
# scale benchmark) one k-means + flat lookup built in 75 s and searched in 17.5 ms p50 (comparing
# each descriptor with 4,096 centroids); two levels built in 6 s and searched in 11.0 ms, same recall.
_KMEANS_MAX_LISTS = 1024
# About this many vectors per list: a query vector then scans nprobe x 512 codes.
_VECTORS_PER_LIST = 512
# Real descriptors crowd into some lists (corners of flat art look alike): on the scale benchmark
# the lists that queries probe held 5x the average, 9,400 codes per descriptor instead of 1,900.
# FAISS stops probing further lists once a query vector has scanned this many codes (the nearest
# list is always scanned whole). At 2,000 works: ORB search time -66 %, µAP 0.887 -> 0.884 and
# recall at `match` 0.804 -> 0.799 on the detection benchmark; at 10k works search p50 -67 %.
_MAX_CODES_FACTOR = 2


def _nlist(n: int) -> int:
    return min(n, 1 << max(6, round(math.log2(max(1, n // _VECTORS_PER_LIST)))))


_SEED = 20261125
_HIERARCHY_PER_LIST = 8
# Coarse clusters: 256, or sqrt(lists) past 65,536 lists (~100k works). A lookup compares
# every coarse centroid plus the fine ones of a few coarse lists, so keeping both terms near
# sqrt(lists) keeps it cheap at a million works (262,144 lists: 2,560 comparisons instead of 4,352).
_COARSE_LISTS = 256
# Coarse lists a list lookup searches. On the scale benchmark at 10k works (8,192 lists) 4 gave
# the exact nearest list for 87 % of query descriptors (8: 93 %) in 1.3 ms per query; the HNSW
# graph it replaced agreed 58 % of the time in 9.9 ms and took 4x longer to build.
_QUANTIZER_PROBES = 4


def _kmeans_bits(packed: np.ndarray, k: int, niter: int) -> np.ndarray:
    """k-means of bit vectors in float space, centroids rounded back to bits (as FAISS's binary IVF)."""
    bits = np.unpackbits(packed, axis=1).astype(np.float32)
    # min_points_per_centroid=1: small fine-level clusters are expected; FAISS would warn on each.
    km = faiss.Kmeans(
        bits.shape[1],
        k,
        niter=niter,
        seed=_SEED,
        verbose=False,
        max_points_per_centroid=64,
        min_points_per_centroid=1,
    )
    km.train(bits)
    return np.packbits(km.centroids > 0.5, axis=1)


def _two_level_centroids(sample: np.ndarray, nlist: int) -> tuple[np.ndarray, np.ndarray]:
    """``nlist`` centroids: coarse k-means, then each coarse cluster split by its share of
    ``sample``. Returns (coarse centroids, fine centroids)."""
    wanted = max(_COARSE_LISTS, math.isqrt(nlist))
    coarse = _kmeans_bits(sample, max(1, min(wanted, nlist // 16, len(sample))), _TRAIN_ITERATIONS)
    assign = faiss.IndexBinaryFlat(sample.shape[1] * 8)
    assign.add(coarse)
    _, label = assign.search(sample, 1)
    label = label.ravel()
    members = np.bincount(label, minlength=len(coarse))
    share = np.maximum(1, np.floor(members / len(sample) * nlist)).astype(np.int64) * (members > 0)
    # Hand the rounding remainder to the biggest clusters so exactly nlist centroids come out.
    for c in np.argsort(-members)[: max(0, nlist - int(share.sum()))]:
        share[c] += 1
    parts = []
    for c in np.flatnonzero(share):
        points = sample[label == c]
        k = int(min(share[c], len(points)))
        parts.append(points if k == len(points) else _kmeans_bits(points, k, _TRAIN_ITERATIONS // 2))
    centroids = np.concatenate(parts)[:nlist]
    if len(centroids) < nlist:  # tiny clusters gave fewer; top up with sampled points
        centroids = np.concatenate([centroids, sample[: nlist - len(centroids)]])
    return coarse, np.ascontiguousarray(centroids)


def _nested_quantizer(coarse: np.ndarray, fine: np.ndarray) -> faiss.IndexBinaryIVF:
    """The fine centroids in an IVF of their own over the coarse ones: a list lookup compares a
    vector with every coarse centroid and the fine ones of the nearest few coarse lists."""
    bits = fine.shape[1] * 8
    top = faiss.IndexBinaryFlat(bits)
    top.add(coarse)
    quantizer = faiss.IndexBinaryIVF(top, bits, len(coarse))
    top.this.disown()
    quantizer.own_fields = True
    quantizer.add(fine)  # ids 0..nlist-1: the list numbers of the outer index
    quantizer.nprobe = _QUANTIZER_PROBES
    return quantizer


# Vectors gathered per batch before it is packed into one array (bounds the per-array overhead
# of many small appends without holding a second copy of everything).
_BATCH_ROWS = 1 << 20


class VectorBatches:
    """(vectors, ids) gathered for a bulk build, packed into large arrays as they arrive, so a
    build holds the vectors once rather than one small array per item plus their concatenation."""

    def __init__(self, nbytes: int) -> None:
        self.nbytes = nbytes
        self.batches: list[tuple[np.ndarray, np.ndarray]] = []
        self._pending: list[tuple[np.ndarray, np.ndarray]] = []
        self._pending_rows = 0

    def __len__(self) -> int:
        return sum(len(ids) for _, ids in self.batches) + self._pending_rows

    def append(self, vectors: np.ndarray, ids: np.ndarray) -> None:
        if len(ids) == 0:
            return
        self._pending.append((np.asarray(vectors, dtype=np.uint8).reshape(-1, self.nbytes), ids))
        self._pending_rows += len(ids)
        if self._pending_rows >= _BATCH_ROWS:
            self._pack()

    def take(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """Every batch, handing them over (this object is empty afterwards)."""
        self._pack()
        batches, self.batches = self.batches, []
        return batches

    def _pack(self) -> None:
        if self._pending:
            vectors = np.concatenate([v for v, _ in self._pending])
            ids = np.concatenate([np.asarray(i, dtype=np.int64) for _, i in self._pending])
            self.batches.append((vectors, ids))
        self._pending, self._pending_rows = [], 0


def _sample_rows(batches: list[tuple[np.ndarray, np.ndarray]], rows: np.ndarray) -> np.ndarray:
    """Rows of the batches' vectors as if concatenated, in the order asked."""
    ends = np.cumsum([len(ids) for _, ids in batches])
    which = np.searchsorted(ends, rows, side="right")
    out = np.empty((len(rows), batches[0][0].shape[1]), np.uint8)
    for b in np.unique(which):
        sel = which == b
        start = ends[b - 1] if b else 0
        out[sel] = batches[b][0][rows[sel] - start]
    return out


class BinaryIndex:
    """Hamming-space nearest neighbours over fixed-length packed bit vectors."""

    def __init__(self, nbytes: int, *, nprobe: int = DEFAULT_NPROBE, flat_limit: int | None = None) -> None:
        self.nbytes = nbytes
        self._nprobe = nprobe
        self._flat_limit = flat_limit
        self._index: faiss.IndexBinary = self._flat()
        # Vectors added since the IVF index was loaded (see the module docstring). It shares the
        # base's list centroids, and is dropped whenever the base is replaced.
        self._delta: faiss.IndexBinaryIVF | None = None
        self._loaded = False  # the base's lists are exactly full (read from a file)
        self._built_for = 0

    def __len__(self) -> int:
        return int(self._index.ntotal) + (int(self._delta.ntotal) if self._delta is not None else 0)

    @property
    def delta_size(self) -> int:
        """Vectors added since the IVF index was loaded (held apart from it)."""
        return int(self._delta.ntotal) if self._delta is not None else 0

    @property
    def nprobe(self) -> int:
        """Base lists probed per query vector (``probes`` adds more while lists are short)."""
        return self._nprobe

    @nprobe.setter
    def nprobe(self, value: int) -> None:
        self._nprobe = value
        self._retune()

    def _retune(self) -> None:
        # Set where the index changes, never in search: searches then only read the index, so
        # several threads may search it at once.
        if isinstance(self._index, faiss.IndexBinaryIVF):
            self._index.nprobe = self.probes
            if self._delta is not None:
                self._delta.nprobe = self._index.nprobe  # searched with the base's assignment

    @property
    def kind(self) -> str:
        return "ivf" if isinstance(self._index, faiss.IndexBinaryIVF) else "flat"

    @property
    def flat_limit(self) -> int:
        return FLAT_LIMIT if self._flat_limit is None else self._flat_limit

    def _flat(self) -> faiss.IndexBinary:
        return faiss.IndexBinaryIDMap2(faiss.IndexBinaryFlat(self.nbytes * 8))

    def add(self, vectors: np.ndarray, ids: np.ndarray) -> None:
        if len(ids) == 0:
            return
        vectors = np.ascontiguousarray(vectors, dtype=np.uint8).reshape(-1, self.nbytes)
        ids = np.ascontiguousarray(ids, dtype=np.int64)
        total = len(self) + len(ids)
        if total > self.flat_limit and (self.kind == "flat" or total > self._built_for * _REGROW):
            old_vectors, old_ids = self.export()
            self._delta, self._loaded = None, False
            self._index = self._ivf([(old_vectors, old_ids), (vectors, ids)])
            self._built_for = total
            if len(old_ids):
                self._index.add_with_ids(old_vectors, old_ids)
            self._index.add_with_ids(vectors, ids)
        elif self._loaded and isinstance(self._index, faiss.IndexBinaryIVF):
            self._delta_index().add_with_ids(vectors, ids)
        else:
            self._index.add_with_ids(vectors, ids)
        self._retune()

    def _delta_index(self) -> faiss.IndexBinaryIVF:
        if self._delta is None:
            base = self._index
            # Not owning the quantizer: the base does, and outlives this (both are dropped together).
            self._delta = self._tune(faiss.IndexBinaryIVF(base.quantizer, base.d, base.nlist))
        return self._delta

    def remove(self, ids: np.ndarray) -> int:
        if len(ids) == 0:
            return 0
        selector = faiss.IDSelectorBatch(np.ascontiguousarray(ids, dtype=np.int64))
        removed = int(self._index.remove_ids(selector))
        if self._delta is not None:
            removed += int(self._delta.remove_ids(selector))
        self._retune()
        return removed

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(distances, ids), each (n, k); missing neighbours have id -1. Read-only: safe to call
        from several threads at once, but not while another adds or removes."""
        queries = np.ascontiguousarray(queries, dtype=np.uint8).reshape(-1, self.nbytes)
        if len(self) == 0 or len(queries) == 0:
            return (np.full((len(queries), k), 1 << 30, np.int32), np.full((len(queries), k), -1, np.int64))
        if not self.delta_size:
            distances, ids = self._index.search(queries, k)
            return distances, ids
        # Assign the lists once, scan them in both indexes, keep the k nearest of the two.
        base, delta = self._index, self._delta
        assert delta is not None
        list_distances, lists = base.quantizer.search(queries, base.nprobe)
        d1, i1 = base.search_preassigned(queries, k, lists, list_distances)
        d2, i2 = delta.search_preassigned(queries, k, lists, list_distances)
        distances, ids = np.concatenate([d1, d2], axis=1), np.concatenate([i1, i2], axis=1)
        nearest = np.argsort(distances, axis=1, kind="stable")[:, :k]
        return np.take_along_axis(distances, nearest, axis=1), np.take_along_axis(ids, nearest, axis=1)

    @property
    def lists(self) -> int:
        """Number of IVF lists (0 for a flat index)."""
        return int(self._index.nlist) if isinstance(self._index, faiss.IndexBinaryIVF) else 0

    @property
    def probes(self) -> int:
        """Lists probed per query vector so that it scans ~nprobe x 512 codes (short lists: more)."""
        if not self.lists:
            return 0
        budget = self.nprobe * _VECTORS_PER_LIST * self.lists // max(1, len(self))
        return min(self.lists, max(self.nprobe, budget))  # FAISS would clamp to the lists too

    def probed_codes(self, queries: np.ndarray) -> float:
        """Mean codes held by the lists each query vector probes, before the max_codes cap
        (a diagnostic for benchmarks; a flat index compares every code)."""
        queries = np.ascontiguousarray(queries, dtype=np.uint8).reshape(-1, self.nbytes)
        if not self.lists or len(queries) == 0:
            return float(len(self))
        ivf = self._index
        _, lists = ivf.quantizer.search(queries, self.probes)
        held = [ivf] if self._delta is None else [ivf, self._delta]
        sizes = [index.invlists.list_size(int(i)) for index in held for i in lists.ravel() if i >= 0]
        return float(sum(sizes)) / len(queries)

    def export(self) -> tuple[np.ndarray, np.ndarray]:
        """All (vectors, ids) currently stored."""
        index = self._index
        if isinstance(index, faiss.IndexBinaryIVF):
            codes, ids = [], []
            for ivf in [index] if self._delta is None else [index, self._delta]:
                lists = ivf.invlists
                for no in range(ivf.nlist):
                    size = lists.list_size(no)
                    if size:
                        codes.append(faiss.rev_swig_ptr(lists.get_codes(no), size * self.nbytes).copy())
                        ids.append(faiss.rev_swig_ptr(lists.get_ids(no), size).copy())
            if not ids:
                return np.zeros((0, self.nbytes), np.uint8), np.zeros(0, np.int64)
            return np.concatenate(codes).reshape(-1, self.nbytes), np.concatenate(ids)
        flat = faiss.downcast_IndexBinary(index.index)
        vectors = faiss.vector_to_array(flat.xb).reshape(-1, self.nbytes)
        return vectors, faiss.vector_to_array(index.id_map).astype(np.int64)

    def _ivf(self, batches: list[tuple[np.ndarray, np.ndarray]]) -> faiss.IndexBinary:
        """An empty IVF index trained on a sample of ``batches``' vectors."""
        n = sum(len(ids) for _, ids in batches)
        nlist = _nlist(n)
        rng = np.random.default_rng(_SEED)
        bits = self.nbytes * 8
        if nlist <= _KMEANS_MAX_LISTS:
            index = faiss.IndexBinaryIVF(faiss.IndexBinaryFlat(bits), bits, nlist)
            index.cp.niter = _TRAIN_ITERATIONS
            index.cp.seed = _SEED
            index.train(_sample_rows(batches, rng.choice(n, min(n, nlist * _TRAIN_PER_LIST), replace=False)))
        else:
            # Past a few thousand lists one k-means costs minutes. Two levels instead: coarse
            # clusters, then centroids inside each in proportion to its population, so dense
            # regions (where real queries land) get short lists too. A list lookup compares the
            # coarse centroids and the fine ones of the nearest few coarse clusters.
            sample = _sample_rows(batches, rng.choice(n, min(n, nlist * _HIERARCHY_PER_LIST), replace=False))
            quantizer = _nested_quantizer(*_two_level_centroids(sample, nlist))
            index = faiss.IndexBinaryIVF(quantizer, bits, nlist)
            quantizer.this.disown()
            index.own_fields = True
        return self._tune(index)

    def _tune(self, index: faiss.IndexBinaryIVF) -> faiss.IndexBinaryIVF:
        # Note: use_heap=False looks 7x faster but returned no neighbours at all for k=3 in
        # faiss 1.15 (all ids -1), so the default heap search stays.
        index.nprobe = self.nprobe
        index.max_codes = _MAX_CODES_FACTOR * self.nprobe * _VECTORS_PER_LIST
        return index

    @classmethod
    def build(
        cls,
        vectors: np.ndarray,
        ids: np.ndarray,
        *,
        nprobe: int = DEFAULT_NPROBE,
        flat_limit: int | None = None,
    ) -> BinaryIndex:
        """A new index over all ``vectors`` at once (the fast path for rebuilds)."""
        batches = VectorBatches(vectors.shape[1])
        batches.append(vectors, ids)
        return cls.build_from(batches, nprobe=nprobe, flat_limit=flat_limit)

    @classmethod
    def build_from(
        cls, vectors: VectorBatches, *, nprobe: int = DEFAULT_NPROBE, flat_limit: int | None = None
    ) -> BinaryIndex:
        """A new index over every batch in ``vectors`` (which it empties), added batch by batch
        and each released once added: the vectors are never held twice over."""
        self = cls(vectors.nbytes, nprobe=nprobe, flat_limit=flat_limit)
        batches = vectors.take()
        total = sum(len(ids) for _, ids in batches)
        if total > self.flat_limit:
            self._index = self._ivf(batches)
            self._built_for = total
        while batches:
            vecs, ids = batches.pop(0)
            self._index.add_with_ids(np.ascontiguousarray(vecs), np.ascontiguousarray(ids, dtype=np.int64))
            del vecs, ids
        self._retune()
        return self

    def save(self, path: Path, delta_path: Path) -> bool:
        """Write the index to ``path``, and the vectors added since it was loaded to
        ``delta_path`` when there are any (returns whether it wrote that file). Callers make
        this atomic by writing new names and switching a manifest."""
        _write(self._index, path)
        if not self.delta_size:
            return False
        _write(self._delta, delta_path)
        return True

    @classmethod
    def load(
        cls,
        path: Path,
        nbytes: int,
        *,
        delta_path: Path | None = None,
        nprobe: int = DEFAULT_NPROBE,
        flat_limit: int | None = None,
    ) -> BinaryIndex:
        """The index saved at ``path`` (and ``delta_path``, if it was written). Both stay apart
        as loaded, each list exactly its size: merging would double every list it touched."""
        self = cls(nbytes, nprobe=nprobe, flat_limit=flat_limit)
        index = faiss.read_index_binary(os.fspath(path))
        if index.d != nbytes * 8:
            raise ValueError(f"{path}: index has {index.d} bits, expected {nbytes * 8}")
        if isinstance(index, faiss.IndexBinaryIVF):
            self._tune(index)
        self._index = index
        if delta_path is not None:
            delta = faiss.read_index_binary(os.fspath(delta_path))
            if not isinstance(index, faiss.IndexBinaryIVF) or not isinstance(delta, faiss.IndexBinaryIVF):
                raise ValueError(f"{delta_path}: a delta needs an IVF index and base")
            if (delta.d, delta.nlist) != (index.d, index.nlist):
                raise ValueError(f"{delta_path}: does not fit the lists of {path}")
            self._delta = self._tune(delta)  # owns its copy of the centroids; lists match the base's
        self._built_for = len(self) if isinstance(index, faiss.IndexBinaryIVF) else 0
        self._loaded = True
        self._retune()
        return self


def _write(index: faiss.IndexBinary, path: Path) -> None:
    """``faiss.write_index_binary``, its failures raised as the ``OSError`` they are: FAISS raises
    a RuntimeError for a full disk, which callers took for a bug (a traceback; an audit)."""
    try:
        faiss.write_index_binary(index, os.fspath(path))
    except RuntimeError as exc:
        full = "No space left on device" in str(exc) or "Disk quota exceeded" in str(exc)
        code = errno.ENOSPC if full else errno.EIO
        raise OSError(code, f"{os.strerror(code)} ({exc})", os.fspath(path)) from exc
