"""A FAISS binary index over caller-chosen int64 ids, with add, remove, save and load.

FAISS itself only knows positions; callers here encode their own meaning into the id
(work key and feature number), so FAISS stays private to this module.

Index type by size, measured in ``benchmarks/`` (see BENCHMARKS.md):
- below ``FLAT_LIMIT`` vectors an exact ``IndexBinaryFlat`` (behind an id map) is fastest to
  build and search;
- above it an ``IndexBinaryIVF`` trained by k-means on a small sample (nlist ~ 4 sqrt(n),
  nprobe 16: ~92 % of exact neighbours at 1/20 of the flat cost on 120k ORB descriptors).
  Once there are many lists the coarse quantizer becomes an HNSW graph over the trained
  centroids, so assigning a query costs O(log nlist).
The index is rebuilt with more lists when it grows ``_REGROW``x past the size it was built for.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import faiss
import numpy as np

FLAT_LIMIT = 60_000
# Lists probed per query vector: 8 keeps >= 90 % of true ORB neighbours in the benchmark.
DEFAULT_NPROBE = 16
_HNSW_QUANTIZER_ABOVE = 8192
_REGROW = 4
# k-means on a sample of ~40 points per list, few iterations: seconds, and +5-8 points of
# neighbour recall over sampled centroids at the same nprobe (measured on ORB descriptors).
_TRAIN_PER_LIST = 40
_TRAIN_ITERATIONS = 10
_SEED = 20261125


class BinaryIndex:
    """Hamming-space nearest neighbours over fixed-length packed bit vectors."""

    def __init__(self, nbytes: int, *, nprobe: int = DEFAULT_NPROBE) -> None:
        self.nbytes = nbytes
        self.nprobe = nprobe
        self._index: faiss.IndexBinary = self._flat()
        self._built_for = 0

    def __len__(self) -> int:
        return int(self._index.ntotal)

    @property
    def kind(self) -> str:
        return "ivf" if isinstance(self._index, faiss.IndexBinaryIVF) else "flat"

    def _flat(self) -> faiss.IndexBinary:
        return faiss.IndexBinaryIDMap2(faiss.IndexBinaryFlat(self.nbytes * 8))

    def add(self, vectors: np.ndarray, ids: np.ndarray) -> None:
        if len(ids) == 0:
            return
        vectors = np.ascontiguousarray(vectors, dtype=np.uint8).reshape(-1, self.nbytes)
        ids = np.ascontiguousarray(ids, dtype=np.int64)
        total = len(self) + len(ids)
        if total > FLAT_LIMIT and (self.kind == "flat" or total > self._built_for * _REGROW):
            old_vectors, old_ids = self.export()
            self._index = self._ivf(np.concatenate([old_vectors, vectors]))
            self._built_for = total
            if len(old_ids):
                self._index.add_with_ids(old_vectors, old_ids)
        self._index.add_with_ids(vectors, ids)

    def remove(self, ids: np.ndarray) -> int:
        if len(ids) == 0:
            return 0
        selector = faiss.IDSelectorBatch(np.ascontiguousarray(ids, dtype=np.int64))
        return int(self._index.remove_ids(selector))

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(distances, ids), each (n, k); missing neighbours have id -1."""
        queries = np.ascontiguousarray(queries, dtype=np.uint8).reshape(-1, self.nbytes)
        if len(self) == 0 or len(queries) == 0:
            return (np.full((len(queries), k), 1 << 30, np.int32), np.full((len(queries), k), -1, np.int64))
        distances, ids = self._index.search(queries, k)
        return distances, ids

    def export(self) -> tuple[np.ndarray, np.ndarray]:
        """All (vectors, ids) currently stored."""
        index = self._index
        if isinstance(index, faiss.IndexBinaryIVF):
            lists = index.invlists
            codes, ids = [], []
            for no in range(index.nlist):
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

    def _ivf(self, sample_from: np.ndarray) -> faiss.IndexBinary:
        n = len(sample_from)
        nlist = 1 << max(8, round(math.log2(4 * math.sqrt(n))))
        nlist = min(nlist, n)
        rng = np.random.default_rng(_SEED)
        sample = sample_from[rng.choice(n, min(n, nlist * _TRAIN_PER_LIST), replace=False)]
        index = faiss.IndexBinaryIVF(faiss.IndexBinaryFlat(self.nbytes * 8), self.nbytes * 8, nlist)
        index.cp.niter = _TRAIN_ITERATIONS
        index.cp.seed = _SEED
        index.train(sample)
        if nlist > _HNSW_QUANTIZER_ABOVE:
            # Many lists: assign queries through an HNSW graph over the trained centroids.
            centroids = faiss.vector_to_array(faiss.downcast_IndexBinary(index.quantizer).xb)
            hnsw = faiss.IndexBinaryHNSW(self.nbytes * 8, 32)
            hnsw.add(centroids.reshape(nlist, self.nbytes))
            trained = index
            index = faiss.IndexBinaryIVF(hnsw, self.nbytes * 8, nlist)
            hnsw.this.disown()
            index.own_fields = True
            del trained
        index.nprobe = self.nprobe
        return index

    def save(self, path: Path) -> None:
        """Write to ``path`` (callers make it atomic by writing a new name and switching a manifest)."""
        faiss.write_index_binary(self._index, os.fspath(path))

    @classmethod
    def load(cls, path: Path, nbytes: int, *, nprobe: int = DEFAULT_NPROBE) -> BinaryIndex:
        self = cls(nbytes, nprobe=nprobe)
        index = faiss.read_index_binary(os.fspath(path))
        if index.d != nbytes * 8:
            raise ValueError(f"{path}: index has {index.d} bits, expected {nbytes * 8}")
        if isinstance(index, faiss.IndexBinaryIVF):
            index.nprobe = nprobe
            self._built_for = int(index.ntotal)
        self._index = index
        return self
