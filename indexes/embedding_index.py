"""Works' copy descriptors (``indexes.copy_embedding``) in one FAISS index, searched by inner product.

The int8 descriptors are stored as they are (``QT_8bit_direct_signed``: 128 bytes a work, no
training), so FAISS's inner products are the exact integer dot products. Flat: a search scans every
work (0.69 ms at 100k works and 6.1 ms at a million on one core, ``benchmarks.scale``), and runs only
for queries nothing else matched."""

from __future__ import annotations

import functools
from pathlib import Path

import faiss
import numpy as np

from indexes.copy_embedding import DIMENSIONS, VIEWS

# Descriptors of the network's training pictures (none a benchmark work), shipped with it: a
# query's similarity to them is what an unrelated picture reaches, whatever the registry's size.
# With only a handful of works registered, "clearly nearer than the next work" alone meant little.
BACKGROUND = Path(__file__).with_name("copy_embedding_background.npy")
# The same pictures' crop descriptors (``copy_embedding.embed_work``; ``training.background_views``).
BACKGROUND_VIEWS = Path(__file__).with_name("copy_embedding_background_views.npy")

# A quantised unit vector's squared norm, to turn dot products into cosines (within ~1 %).
_UNIT = 127.0 * 127.0


class EmbeddingIndex:
    """Copy descriptors by work key; add, remove, nearest. Not thread-safe (the engine locks)."""

    def __init__(self) -> None:
        quantizer = faiss.IndexScalarQuantizer(
            DIMENSIONS, faiss.ScalarQuantizer.QT_8bit_direct_signed, faiss.METRIC_INNER_PRODUCT
        )
        self._index = faiss.IndexIDMap(quantizer)
        self._quantizer = quantizer  # the ID map does not own it

    def __len__(self) -> int:
        return int(self._index.ntotal)

    def add(self, keys: np.ndarray, embeddings: np.ndarray) -> None:
        """Index ``embeddings`` (n, ``DIMENSIONS``) int8 under ``keys``; all-zero rows (a work
        fingerprinted before descriptors existed) are left out."""
        known = np.abs(embeddings.astype(np.int16)).sum(axis=1) > 0
        if known.any():
            self._index.add_with_ids(
                np.ascontiguousarray(embeddings[known], dtype=np.float32),
                np.ascontiguousarray(keys[known], dtype=np.int64),
            )

    def remove(self, key: int) -> None:
        self._index.remove_ids(np.array([key], np.int64))

    def nearest(self, embedding: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` works whose descriptors are nearest ``embedding``: (keys, cosines), best first."""
        if len(self) == 0:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        q = embedding.astype(np.float32)[None, :]
        dots, ids = self._index.search(q, min(k, len(self)))
        ok = ids[0] >= 0
        norm = max(float(np.linalg.norm(q)), 1e-6)
        return ids[0][ok], dots[0][ok] / (norm * np.sqrt(_UNIT))


@functools.cache
def _background_embeddings() -> np.ndarray:
    """The shipped background descriptors (``BACKGROUND``), read and checked once per process."""
    embeddings = np.load(BACKGROUND)
    if embeddings.ndim != 2 or embeddings.shape[1] != DIMENSIONS or embeddings.dtype != np.int8:
        shape = f"{embeddings.dtype} {embeddings.shape}"
        raise ValueError(f"{BACKGROUND.name} holds {shape}, not int8 (n, {DIMENSIONS})")
    return embeddings


@functools.cache
def background() -> EmbeddingIndex:
    """The shipped background descriptors, indexed once per process."""
    embeddings = _background_embeddings()
    index = EmbeddingIndex()
    index.add(np.arange(len(embeddings), dtype=np.int64), embeddings)
    return index


def cosines(query: np.ndarray, descriptors: np.ndarray) -> np.ndarray:
    """Cosines of the int8 ``query`` with each int8 row of ``descriptors`` (..., ``DIMENSIONS``),
    scaled as ``EmbeddingIndex.nearest`` scales them."""
    q = query.astype(np.float32)
    norm = max(float(np.linalg.norm(q)), 1e-6)
    return np.asarray(descriptors, np.float32) @ q / (norm * np.sqrt(_UNIT))


@functools.cache
def _background_views() -> np.ndarray:
    """As float32 (3 MB), converted once rather than at every search."""
    views = np.load(BACKGROUND_VIEWS)
    if views.ndim != 3 or views.shape[1:] != (VIEWS, DIMENSIONS) or views.dtype != np.int8:
        shape = f"{views.dtype} {views.shape}"
        raise ValueError(f"{BACKGROUND_VIEWS.name} holds {shape}, not int8 (n, {VIEWS}, {DIMENSIONS})")
    return views.reshape(-1, DIMENSIONS).astype(np.float32)


def background_view_similarity(query: np.ndarray) -> float:
    """The highest cosine of ``query`` with a crop of a background picture."""
    return float(cosines(query, _background_views()).max())


@functools.cache
def _background_wholes() -> np.ndarray:
    """The background pictures' whole descriptors as float32, converted once."""
    return _background_embeddings().astype(np.float32)


def background_twins(work: np.ndarray, twin: float) -> np.ndarray:
    """Which background pictures are twins of a work: their whole descriptor at ``twin`` or more
    from one of ``work``'s descriptors (rows: its whole view and its crops). The background pictures
    are clip art, so a registered work may be one of them, or one of them recoloured."""
    wholes = _background_wholes()
    rows = np.asarray(work, np.float32).reshape(-1, DIMENSIONS)
    norms = np.linalg.norm(rows, axis=1)
    rows = rows[norms > 0]  # an all-zero row is a descriptor never computed
    if not len(rows):
        return np.zeros(len(wholes), bool)
    # ``cosines`` for every row in one product: the background descriptors scaled as it scales them.
    near = (rows / norms[norms > 0, None]) @ wholes.T / np.sqrt(_UNIT)
    return (near >= twin).any(axis=0)


def background_similarity_apart_from(query: np.ndarray, twins: np.ndarray, *, crops: bool = True) -> float:
    """The highest cosine of ``query`` with a background picture, whole or (``crops``) cropped,
    leaving out the pictures ``twins`` marks (``background_twins``): a work that is one of them would
    otherwise never stand clear of the background, however close its copy."""
    wholes = _background_wholes()
    nearest = cosines(query, wholes)
    if crops:
        by_crop = cosines(query, _background_views()).reshape(len(wholes), VIEWS)  # rows in picture order
        nearest = np.maximum(nearest, by_crop.max(axis=1))
    nearest = nearest[~twins]
    return float(nearest.max()) if len(nearest) else 0.0
