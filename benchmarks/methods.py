"""Detection methods under test, behind one small protocol.

`build(refs)` indexes (key, path) pairs, `query(path)` returns predictions
best first. A prediction is (key, score, match): score is higher = more
confident and feeds the threshold-free metrics; `match` is the method's own
operating point (baselines: a Hamming threshold via `is_match(score)`; the
engine: its verdict, which is not a pure function of the score).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import NamedTuple, Protocol

import numpy as np

from benchmarks import imaging


class Prediction(NamedTuple):
    key: int
    score: float
    match: bool


class Method(Protocol):
    name: str

    def build(self, refs: list[tuple[int, Path]]) -> None: ...

    def query(self, path: Path) -> list[Prediction]: ...

    def is_match(self, score: float) -> bool: ...


def _hamming(db: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Hamming distances between packed uint8 rows of db and packed query rows q: (len(q), len(db))."""
    x = np.bitwise_xor(db[None, :, :], q[:, None, :])
    return np.unpackbits(x, axis=2).sum(axis=2, dtype=np.int32)


class PHash:
    """imagehash pHash (64 bit) on the image flattened on white; imagededup's threshold."""

    name = "phash"
    match_distance = 10
    tail_distance = 16

    def __init__(self) -> None:
        self.keys = np.zeros(0, dtype=np.int64)
        self.db = np.zeros((0, 8), dtype=np.uint8)
        self.hash_s = 0.0  # decode + hash time of the last query
        self.search_s = 0.0

    def _hash(self, path: Path) -> np.ndarray:
        return np.packbits(imaging.phash_bits(imaging.flatten(imaging.load_path(path))))

    def build(self, refs: list[tuple[int, Path]]) -> None:
        self.keys = np.array([k for k, _ in refs], dtype=np.int64)
        self.db = np.stack([self._hash(p) for _, p in refs])

    def query_hash(self, path: Path) -> np.ndarray:
        """The packed hash rows a query is searched with."""
        return self._hash(path)[None, :]

    def query(self, path: Path) -> list[Prediction]:
        t0 = time.perf_counter()
        q = self.query_hash(path)
        t1 = time.perf_counter()
        preds = self.search(q)
        self.hash_s, self.search_s = t1 - t0, time.perf_counter() - t1
        return preds

    def search(self, q: np.ndarray) -> list[Prediction]:
        d = _hamming(self.db, q).min(axis=0)
        idx = np.flatnonzero(d <= self.tail_distance)
        idx = idx[np.argsort(d[idx], kind="stable")]
        return [self._pred(int(self.keys[i]), 1 - d[i] / 64) for i in idx]

    def _pred(self, key: int, score: float) -> Prediction:
        return Prediction(key, float(score), self.is_match(float(score)))

    def is_match(self, score: float) -> bool:
        return score >= 1 - self.match_distance / 64 - 1e-9


class PDQDihedral(PHash):
    """PDQ on the image flattened on white, queried with all 8 dihedral variants (as Meta HMA)."""

    name = "pdq8"
    match_distance = 31
    tail_distance = 63

    def __init__(self) -> None:
        super().__init__()
        self.db = np.zeros((0, 32), dtype=np.uint8)

    def _hash(self, path: Path) -> np.ndarray:
        bits, _quality = imaging.pdq_bits(imaging.flatten(imaging.load_path(path)))
        return np.packbits(bits)

    def query_hash(self, path: Path) -> np.ndarray:
        return np.packbits(imaging.pdq_dihedral_bits(imaging.flatten(imaging.load_path(path))), axis=1)

    def search(self, q: np.ndarray) -> list[Prediction]:
        d = _hamming(self.db, q).min(axis=0)
        idx = np.flatnonzero(d <= self.tail_distance)
        idx = idx[np.argsort(d[idx], kind="stable")]
        return [self._pred(int(self.keys[i]), 1 - d[i] / 256) for i in idx]

    def is_match(self, score: float) -> bool:
        return score >= 1 - self.match_distance / 256 - 1e-9


def _key(match: object) -> tuple:
    m = match  # indexes.Match, imported lazily like the engine
    return (m.key, m.score, m.verdict, m.kind, m.region)  # type: ignore[attr-defined]


def engine_available() -> str | None:
    """None when `indexes.Engine` imports, else the reason it does not."""
    try:
        from indexes import Engine, ImageError, fingerprint  # noqa: F401
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


class EngineMethod:
    """Adapter over the project's own `indexes` engine (in memory)."""

    name = "engine"

    def __init__(self, limit: int = 10) -> None:
        from indexes import Engine

        self.engine = Engine()
        self.limit = limit
        self.hash_s = 0.0  # fingerprint time of the last query
        self.search_s = 0.0
        self.build_errors: list[str] = []
        self.query_errors = 0
        self.inconsistent = 0  # queries whose shown results changed when weak ones were asked for
        # Predictions scoring under this are the weak candidates a user never sees.
        from indexes.scoring import REVIEW_THRESHOLD

        self.shown_min_score = REVIEW_THRESHOLD

    def build(self, refs: list[tuple[int, Path]]) -> None:
        from indexes import ImageError, fingerprint

        for key, path in refs:
            try:
                self.engine.add(key, fingerprint(path.read_bytes(), role="reference"))
            except ImageError as exc:
                self.build_errors.append(f"{path.name}: {type(exc).__name__}: {exc}")

    def query(self, path: Path) -> list[Prediction]:
        from indexes import ImageError, fingerprint

        data = path.read_bytes()
        t0 = time.perf_counter()
        try:
            fp = fingerprint(data)
        except ImageError:
            self.query_errors += 1
            self.hash_s, self.search_s = time.perf_counter() - t0, 0.0
            return []
        t1 = time.perf_counter()
        shown = self.engine.search(fp, limit=self.limit)
        self.hash_s, self.search_s = t1 - t0, time.perf_counter() - t1
        # Micro-AP scores every candidate a method submits (the baselines submit their tails
        # past the match distance), so the engine's candidates below `review` are submitted too.
        # They come from a second, untimed search; its `match`/`review` part must be the same.
        ranked = self.engine.search(fp, limit=self.limit, min_score=0.0)
        if [_key(m) for m in ranked if m.verdict] != [_key(m) for m in shown]:
            self.inconsistent += 1
        return [Prediction(int(m.key), float(m.score), m.verdict == "match") for m in ranked]

    def is_match(self, score: float) -> bool:
        raise NotImplementedError("the engine's operating point is its verdict, see Prediction.match")
