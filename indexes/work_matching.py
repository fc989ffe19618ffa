"""Matching a query's descriptors against one work's own, with Lowe's ratio test inside the work.

The index search keeps a query descriptor's 3 nearest features among all works and drops it when
another work's feature is about as close (the ratio test across works). Among a registry's
hundreds of thousands of features, a recoloured, captioned crop of a small drawing has most of
its true correspondences crowded out of those 3 by generic features of other works: a smiley's
copy had 16 of its descriptors near the work in the index, and 26 RANSAC inliers when matched
against the work alone. Matching against one shortlisted work at a time recovers them; whether
the placement found that way can be trusted is decided by the engine, against the other
shortlisted works (``Engine._exclusive``).
"""

from __future__ import annotations

import faiss
import numpy as np

from indexes.local_features import DESCRIPTOR_BYTES

# Lowe's ratio (IJCV 2004) between a query descriptor's nearest and second-nearest feature of the work.
RATIO = 0.8


def correspondences(query: np.ndarray, work: np.ndarray, max_distance: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices (query rows, work rows) of query descriptors whose nearest work descriptor is
    within ``max_distance`` bits and clearly nearer than the second nearest."""
    if len(query) == 0 or len(work) < 2:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    index = faiss.IndexBinaryFlat(DESCRIPTOR_BYTES * 8)
    index.add(np.ascontiguousarray(work))
    distances, ids = index.search(np.ascontiguousarray(query), 2)
    ok = (distances[:, 0] <= max_distance) & (distances[:, 0] < RATIO * distances[:, 1])
    return np.flatnonzero(ok), ids[ok, 0].astype(np.int64)
