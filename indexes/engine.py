"""The copy-detection engine: add and remove works, search for copies, persist (``index_files``).

Search is a cascade, cheapest evidence first:
1. exact bytes (SHA-256 lookup);
2. whole-image PDQ over every dihedral variant of the query and of its content box, which
   catches re-encodes, recolours, mirrors, 90-degree turns and frames at hash-lookup cost; a
   PDQ that drifted past its match distance still counts when the work's pHash agrees;
3. ORB descriptors of the query in one batched FAISS search, votes per work, then RANSAC
   (``geometry``) on the best-voted works: crops, small rotations, stretches, overlays,
   screenshots; each placement's query region is re-hashed in the work's frame, and its edges
   are correlated with the work's (``alignment``), which survives crops under captions and JPEG.
   First with every other descriptor, stopping there when that reaches `match` (most copies, at
   half the FAISS cost); otherwise the full set, the first half's neighbours reused;
4. only when nothing reached `match`: the same on the mirrored query (mirrored crops), whose
   descriptors a fresh fingerprint describes only then (``local_features.DeferredFeatures``).
5. only when still nothing reached `match`: the query matched against each of its best-voted
   works alone (``work_matching``), kept when one placement stands clear of the others' and its
   placed edges agree (``_exclusive``): copies whose correspondences other works crowded out.
6. only when still nothing reached `match`: the learned copy descriptor of the whole query
   (``copy_embedding``) against every work's (``embedding_index``); the nearest work, when it is
   clearly nearer than the next work and than any of the network's own training pictures, and a
   few ORB inliers place the query on it (``_learned``): recoloured, captioned crops of flat art
   that keep too few corners for 3-5. Then the same with each work's crops described too; there,
   works as near as the nearest are told apart by how well the query places on each. Last, for a
   query that places on none: its lightness edges searched inside the nearest work's stored
   lightness map at crop sizes and shifts (``lightness_map``), kept when they fit it closely and
   clearly better than the next works' (small or flat pictures cut down and saved as JPEGs).
Evidence for the same work is combined into one calibrated score (``verdicts``, ``scoring``); a
candidate that reached `review` is then compared whole with the work (``appearance``), which lifts
heavily downscaled, blurred or re-encoded whole copies to `match`. A whole work placed on the whole
query with nothing else behind it and a score under ``scoring.PLACED_ALONE_CHECKED_BELOW`` stays a
`match` only when the copy descriptor finds the query like the work too: icons of one set share a
page or a casing and place on each other that way. Last, a match lying inside a
clearly stronger one (one registered drawing inside another) is demoted to `review`; candidates
below `review`, asked for by a ranking evaluation, are ordered by ``weak_ranking``. If nothing
reached `match` still, each picture standing on the query's page (``page_items``: a product grid,
a sticker sheet, a listing page) is searched as a query of its own, its works reported in page
pixels; if the `match`es cover little of the page (a collage), its other pictures of about their
size are. A page with no plain background to stand pictures on (a product photo) has its salient
region searched so instead (``salient_region``: a print on a T-shirt).

Works are identified by caller-chosen non-negative int keys (< 2**52).
"""

from __future__ import annotations

import copy
import itertools
import math
import threading
from collections.abc import Callable, Iterable
from pathlib import Path

import faiss
import numpy as np

from indexes import (
    alignment,
    copy_embedding,
    embedding_index,
    file_lock,
    geometry,
    global_hashes,
    index_files,
    lightness_map,
    scoring,
    verdicts,
    weak_ranking,
    work_matching,
)
from indexes.binary_index import BinaryIndex, VectorBatches
from indexes.cpu import available_cores, faiss_threads
from indexes.embedding_index import EmbeddingIndex
from indexes.fingerprinting import REFERENCE_FEATURES, SILHOUETTE_FEATURES, Fingerprint
from indexes.global_hashes import PDQ_BYTES
from indexes.indexed_work import IndexedWork
from indexes.local_features import DESCRIPTOR_BYTES, LocalFeatures
from indexes.page_items import DeferredItems
from indexes.rwlock import ReadWriteLock
from indexes.verdicts import Evidence, Match

# Widest PDQ distance considered as whole-image evidence (beyond it PDQ is noise). pHash may
# corroborate an upload's hash this far (``scoring.phash_may_corroborate``).
PDQ_CANDIDATE_DISTANCE = 63
# ORB Hamming distance for a putative correspondence (of 256 bits).
DESCRIPTOR_DISTANCE = 64
# Works, nearest by their whole views, whose crop descriptors ``Engine._learned`` compares: the
# nearest by any view was among the first three in replays, the next among the first 170.
_VIEW_CANDIDATES = 64
# Works within the margin of the descriptor's nearest that the query is placed on to tell them apart.
_CONTESTED_RIVALS = 4
# Works ranked after the descriptor's nearest whose lightness maps it must beat (``_by_lightness``).
_LIGHTNESS_RIVALS = 3
# The descriptor's nearest works suggested as weak candidates (``_suggest``): 3 ranked a little
# better than 1 or 5 in replays (BENCHMARKS.md, forty-sixth session).
_SUGGESTED = 3
RATIO = 0.85
# Neighbours fetched per query descriptor, works verified per query, votes needed to verify.
_NEIGHBOURS = 3
_CANDIDATES = 8
_MIN_VOTES = 5
# Verification stops after this many best-voted works in a row give no placement strong
# enough for `review` alone: the rest are chance votes (a clean listing verified all 8, at
# ~0.8 ms each). Benchmark quality was identical with only 2 or 3 candidates; a sheet of
# several works still verifies each of them (they come first).
_MAX_MISSES = 3
# Works verified from loose correspondences when weak candidates are asked for.
_LOOSE_CANDIDATES = 4
# ``_exclusive``: works matched one at a time, and what its best placement needs: inliers, no
# other shortlisted work above this share of them, and its placed edges (``scoring.EXCLUSIVE_EDGES``).
# Replayed on benchmark seed 0 (BENCHMARKS.md, eighteenth session): true copies at `match` 3,644
# -> 3,691 (recoloured captioned crops 0.37 -> 0.46), wrong works 9 -> 9, distractors 17 -> 18 (a
# derivative sign). A shortlist of 10 found one copy more at ~1.5x the cost; 3 let a semaphore
# sibling through on held-out copies. It runs only when nothing reached `match`.
_SHORTLIST = 5
_EXCLUSIVE_INLIERS = 15
_EXCLUSIVE_RUNNER_UP = 0.5
# Fewer inliers do when the placed edges agree closely (``scoring.FEW_INLIERS_EXCLUSIVE_EDGES``):
# a recoloured captioned crop of flat clip art keeps 8-14 (BENCHMARKS.md, twenty-second session).
_FEW_EXCLUSIVE_INLIERS = 8
# Features indexed per work by default: a reference fingerprint's whole set, a query's
# strongest ones. A smaller budget trades recall for memory (40 bytes per feature in FAISS):
# see ``Engine(features_per_work=...)``.
DEFAULT_FEATURES_PER_WORK = REFERENCE_FEATURES + SILHOUETTE_FEATURES
MIN_FEATURES_PER_WORK = 32
_FEATURE_BITS = 10  # local id = key << 10 | feature number
_MAX_FEATURES = 1 << _FEATURE_BITS
_VIEW_BITS = 5  # pdq id = key << 5 | view (whole-image views first, then sub-regions)
# The ORB index is searched with ~600 descriptors per query, so a flat scan costs 600 x N
# Hamming distances: 13 ms at 16k indexed descriptors (~50 works) and 79 ms at 60k, against
# 0.9 and 2.5 ms for IVF (measured on 2 cores). Flat only while it is tiny.
LOCAL_FLAT_LIMIT = 8192
# Two works whose whole images are this close (PDQ bits) are one picture registered twice (an
# original and its contested re-upload): neither explains the other away. Before, a re-encoded
# re-upload scoring a little higher took `match` from the original. No benchmark pair is this close
# (its figures are unchanged at 16 and 24).
_SAME_PICTURE_BITS = 16
# Placements with fewer inliers are not re-hashed: mostly chance ones (601 false vs 68 true
# with 3-6 inliers on the benchmark), and each re-hash costs 0.5-1 ms.
_MIN_ALIGNED_INLIERS = 7
# ``_pictures``: the pairs of works competing for most query descriptors that are checked for being
# one picture, and how many descriptors they must both be close to (twins share nearly all).
_TWIN_PAIRS = 4
_TWIN_MIN_SHARED = 8


class Engine:
    """Copy detection over registered works; optionally persisted in ``directory``.

    Thread-safe: searches (and saves) run concurrently with each other; add, remove and rebuild
    run alone."""

    def __init__(
        self,
        directory: Path | str | None = None,
        *,
        threads: int = 1,
        features_per_work: int | None = None,
        exclusive_placements: bool = True,
    ) -> None:
        """``features_per_work`` caps the ORB features indexed for each work added from now on
        (default 384: a reference fingerprint's whole set). Memory is ~40 bytes per feature, so
        a million works need a smaller budget to fit in 8 GiB, at a cost in recall that
        BENCHMARKS.md measures. Works already indexed keep theirs until a rebuild; ``None``
        keeps the budget a saved index was built with.

        ``exclusive_placements`` keeps each work's descriptors too (32 more bytes per feature) for
        matching a query against a work alone (``_exclusive``). A loaded index maps them from
        their file (``index_files``), so they cost disk, not memory; works added since the load
        hold theirs in memory until the next load. Off keeps none and skips that step."""
        self.directory = Path(directory) if directory is not None else None
        self.exclusive_placements = exclusive_placements
        if features_per_work is not None and not MIN_FEATURES_PER_WORK <= features_per_work <= _MAX_FEATURES:
            limits = f"[{MIN_FEATURES_PER_WORK}, {_MAX_FEATURES}]"
            raise ValueError(f"features_per_work must be in {limits}, got {features_per_work}")
        self.features_per_work = DEFAULT_FEATURES_PER_WORK if features_per_work is None else features_per_work
        self.threads = max(1, threads)
        _use_faiss_threads(self.threads)
        # Searches and saves read; add, remove and rebuild write (``indexes.rwlock``).
        self._lock = ReadWriteLock()
        self._save_lock = threading.Lock()  # two saves at once would delete each other's files
        self._works: dict[int, IndexedWork] = {}
        # sha256 -> the key of the work with those bytes, or a tuple of keys when several
        # works share them (rare: a bare int saves a tuple per work, 40 MB at a million works).
        self._by_sha: dict[str, int | tuple[int, ...]] = {}
        # One tuple per distinct working size, shared by the works of that size (a few thousand
        # sizes among a million works: ~130 bytes a work otherwise).
        self._sizes: dict[tuple[int, int], tuple[int, int]] = {}
        # Budget the persisted works were indexed with (None: never saved).
        self.stored_features_per_work: int | None = None
        # Loaded from files an older release wrote: they lack what this one keeps per work (format
        # 6: the pHash), so whoever holds the fingerprints should rebuild (the registry does).
        self.loaded_older_format = False
        # The stamp of the files loaded (``save``), read under the same lock: -1 if none or not loaded.
        self.loaded_stamp = -1
        self._pdq = BinaryIndex(PDQ_BYTES)
        self._local = BinaryIndex(DESCRIPTOR_BYTES, flat_limit=LOCAL_FLAT_LIMIT)
        self._embeddings = EmbeddingIndex()
        if self.directory is not None and index_files.exists(self.directory):
            self._load()
            if features_per_work is None and self.stored_features_per_work is not None:
                self.features_per_work = self.stored_features_per_work

    # ---- membership -------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._works)

    def __contains__(self, key: object) -> bool:
        return key in self._works

    def keys(self) -> set[int]:
        return set(self._works)

    def add(self, key: int, fp: Fingerprint) -> None:
        """Index ``fp`` under ``key`` (replacing an earlier entry with that key)."""
        key = _check_key(key)
        local = fp.local.head(self.features_per_work)
        with self._lock.write():
            if key in self._works:
                self.remove(key)
            views, numbers = _pdq_views(fp)
            self._pdq.add(views, (key << _VIEW_BITS) + numbers)
            self._local.add(local.descriptors, (key << _FEATURE_BITS) + np.arange(len(local), dtype=np.int64))
            work = self._works[key] = self._work(fp, local)
            self._embeddings.add(np.array([key], np.int64), work.embedding[None, :])
            self._own(fp.sha256, key)

    def remove(self, key: int) -> bool:
        """Stop ``key`` from matching. Returns False if it was not indexed."""
        # Checked as ``add`` does: an np.int32 key shifted into FAISS ids wrapped round and removed
        # another work's features, and a float one left the work's vectors behind (an audit).
        key = _check_key(key)
        with self._lock.write():
            work = self._works.pop(key, None)
            if work is None:
                return False
            self._pdq.remove((key << _VIEW_BITS) + np.arange(1 << _VIEW_BITS, dtype=np.int64))
            self._local.remove((key << _FEATURE_BITS) + np.arange(len(work.fixed_points), dtype=np.int64))
            self._embeddings.remove(key)
            owners = tuple(k for k in self._owners(work.sha256) if k != key)
            if len(owners) > 1:
                self._by_sha[work.sha256] = owners
            elif owners:
                self._by_sha[work.sha256] = owners[0]
            else:
                self._by_sha.pop(work.sha256, None)
            return True

    def _own(self, sha256: str, key: int) -> None:
        owners = self._owners(sha256)
        self._by_sha[sha256] = (*owners, key) if owners else key

    def _pictures(self, keys: np.ndarray, close: np.ndarray) -> np.ndarray:
        """``keys`` (a descriptor's nearest works) with works that are one picture given one key.

        A file registered twice (a contested copy: the same bytes, a re-saved PNG, a fine JPEG) has
        the same descriptors under two keys, so the ratio test across works saw every feature as
        generic and neither work got a vote: crops and rotations of the original came back clear
        (0 of 40 after a PNG re-save, 20 of 40 after a JPEG q92 re-upload). Pairs of works that are
        both close to many of the query's descriptors are checked with ``_same_picture``."""
        # Every two of a descriptor's neighbours: a picture registered three times fills all three.
        lows, highs = [], []
        for i, j in itertools.combinations(range(keys.shape[1]), 2):
            both = close[:, i] & close[:, j] & (keys[:, i] != keys[:, j])
            lows.append(np.minimum(keys[both, i], keys[both, j]))
            highs.append(np.maximum(keys[both, i], keys[both, j]))
        low, high = np.concatenate(lows), np.concatenate(highs)
        if not len(low):
            return keys
        pairs, counts = np.unique(low + 1j * high, return_counts=True)  # exact: keys < 2**52
        order = np.argsort(-counts, kind="stable")[:_TWIN_PAIRS]
        # Union-find: a picture registered three times comes as pairs in any order, (1, 2) before
        # (0, 1) too, and all its keys must end in one group (they were split in two).
        parent: dict[int, int] = {}

        def root(key: int) -> int:
            while parent.get(key, key) != key:
                key = parent[key]
            return key

        for pair in pairs[order[counts[order] >= _TWIN_MIN_SHARED]].tolist():
            a, b = int(pair.real), int(pair.imag)
            if a in self._works and b in self._works and self._same_picture(a, b):
                ra, rb = root(a), root(b)
                if ra != rb:
                    parent[max(ra, rb)] = min(ra, rb)
        if not parent:
            return keys
        groups = keys.copy()
        for key in parent:
            groups[keys == key] = root(key)
        return groups

    def _owners(self, sha256: str) -> tuple[int, ...]:
        owners = self._by_sha.get(sha256, ())
        return (owners,) if isinstance(owners, int) else owners

    def _work(self, fp: Fingerprint, local: LocalFeatures) -> IndexedWork:
        _warm_up_search()
        kept = local if self.exclusive_placements else local.head(0)
        return IndexedWork.of(fp, local, self._size(fp.working_size), descriptors_of=kept)

    def _size(self, size: tuple[int, int]) -> tuple[int, int]:
        return self._sizes.setdefault(size, size)

    def rebuild(self, items: Iterable[tuple[int, Fingerprint]]) -> None:
        """Replace the whole index with ``items`` (e.g. fingerprints stored in a database).

        Builds each FAISS index in one pass, which is much faster than repeated ``add``. ``items``
        is consumed as a stream: only the indexed vectors are held, in batches, never every
        fingerprint at once (a million works' fingerprints would not fit in memory)."""
        works: dict[int, IndexedWork] = {}
        pdq, loc = VectorBatches(PDQ_BYTES), VectorBatches(DESCRIPTOR_BYTES)
        for item_key, fp in items:
            key = _check_key(item_key)
            if key in works:  # its vectors are already batched: a second set would stay findable
                raise ValueError(f"rebuild got work key {key} twice")
            local = fp.local.head(self.features_per_work)
            views, numbers = _pdq_views(fp)
            pdq.append(views, (key << _VIEW_BITS) + numbers)
            loc.append(local.descriptors, (key << _FEATURE_BITS) + np.arange(len(local), dtype=np.int64))
            works[key] = self._work(fp, local)
        with self._lock.write(), faiss_threads(available_cores()):
            # Every core: nothing else can use the engine meanwhile, and k-means and assigning
            # the vectors to lists are most of a rebuild (100k works: ~1.6x faster on 2 cores).
            self._pdq = BinaryIndex.build_from(pdq)
            self._local = BinaryIndex.build_from(loc, flat_limit=LOCAL_FLAT_LIMIT)
            self._works = works
            self._embeddings = _embedding_index(works)
            self.loaded_older_format = False
            self._by_sha = {}
            for key, work in works.items():
                self._own(work.sha256, key)

    # ---- search -----------------------------------------------------------------------
    def search(
        self, fp: Fingerprint, limit: int = 10, *, min_score: float = scoring.REVIEW_THRESHOLD
    ) -> list[Match]:
        """Registered works found in ``fp``, best first, at most ``limit``.

        By default only `match` and `review`. A ranking evaluation (DISC21's micro-AP scores
        every candidate an engine submits, however weak) may lower ``min_score`` to also get the
        candidates below `review`, which carry an empty verdict."""
        if not 0.0 <= min_score <= 1.0:
            raise ValueError(f"min_score must be within [0, 1], got {min_score}")
        if limit < 0:
            raise ValueError(f"limit must not be negative, got {limit}")
        _use_faiss_threads(self.threads)
        with self._lock.read():
            matches = self._search_page(fp, min_score)
        # Outside the read lock: each item's search takes it again, and a writer waiting between
        # the two would block both. Items are asked for only when some could be searched: a page
        # matched whole never looks for them (``DeferredItems.found_later``).
        found = any(m.verdict == "match" for m in matches)
        keep = _beside_found(fp, matches) if found else lambda box: True
        if keep is not None and fp.items:
            matches = self._with_items(fp, matches, limit, min_score, keep)
        return matches[:limit]

    def _search_page(self, fp: Fingerprint, min_score: float) -> list[Match]:
        """Steps 1-5 of the cascade (module docstring) on the query as a whole; under the read lock."""
        evidence: dict[int, Evidence] = {}
        exact = set(self._owners(fp.sha256))
        weak = min_score < scoring.REVIEW_THRESHOLD
        self._near(fp, evidence)
        # A first pass with every other descriptor (each pyramid level keeps half): most copies
        # reach `match` on it at half the FAISS cost. Otherwise the full set is verified afresh,
        # the first half's neighbours reused.
        near = copy.deepcopy(evidence)
        half = fp.local.every_other()
        first = self._neighbours(half.descriptors)
        self._partial(half, fp, evidence, mirrored=False, weak=weak, found=first)
        matches = self._score(fp, evidence, exact, min_score)
        if any(m.verdict == "match" for m in matches):
            return matches
        evidence = near
        rest = self._neighbours(fp.local.descriptors[1::2])
        found = (_interleave(first[0], rest[0]), _interleave(first[1], rest[1]))
        neighbours = self._partial(fp.local, fp, evidence, mirrored=False, weak=weak, found=found)
        matches = self._score(fp, evidence, exact, min_score)
        if not any(m.verdict == "match" for m in matches) and len(fp.mirrored):
            self._partial(fp.mirrored, fp, evidence, mirrored=True, weak=weak)
            matches = self._score(fp, evidence, exact, min_score)
        unmatched = self.exclusive_placements and not any(m.verdict == "match" for m in matches)
        if unmatched and neighbours is not None and self._exclusive(fp, *neighbours, evidence):
            matches = self._score(fp, evidence, exact, min_score)
            unmatched = not any(m.verdict == "match" for m in matches)
        # Scored again when it named a work, or suggested some as weak candidates.
        if unmatched and (self._learned(fp, evidence, weak=weak) or weak):
            matches = self._score(fp, evidence, exact, min_score)
        return matches

    def _with_items(
        self,
        fp: Fingerprint,
        matches: list[Match],
        limit: int,
        min_score: float,
        keep: Callable[[tuple[int, int, int, int]], bool],
    ) -> list[Match]:
        """``matches`` and the works found in the items on the query's page (``indexes.page_items``)
        that ``keep`` picks, each searched as a picture of its own and reported as a partial copy
        in page pixels."""
        if not isinstance(fp.items, DeferredItems):
            return matches  # a page with no items
        best = {m.key: m for m in matches}
        for (x, y, w, h), item in fp.items.where(keep):
            if item.low_information:
                continue  # too plain to name a work: capped below `match` anyway
            for m in self.search(item, limit, min_score=min_score):
                if m.key in best and best[m.key].score >= m.score:
                    continue
                rx, ry, rw, rh = m.region if m.region is not None else (0, 0, w, h)
                best[m.key] = Match(m.key, m.score, m.verdict, "partial", (x + rx, y + ry, rw, rh))
        return sorted(best.values(), key=lambda m: (-m.score, m.key))

    def search_batch(self, fps: Iterable[Fingerprint], limit: int = 10) -> list[list[Match]]:
        return [self.search(fp, limit) for fp in fps]

    def _near(self, fp: Fingerprint, evidence: dict[int, Evidence]) -> None:
        queries = fp.pdq.reshape(-1, PDQ_BYTES)
        # A view whose hash is degenerate is skipped in all 8 orientations: the others, however
        # their bits fall, describe the same flat or regular image.
        bad = global_hashes.degenerate(queries).reshape(fp.pdq.shape[:2])
        rows = np.flatnonzero(~(bad | bad[:, :1]).ravel())  # column 0: each view as it is
        if not len(rows):
            return
        # The whole image's complement too, against works' whole views: PDQ's bits are signs against
        # the median, which a negative image flips, so an inverted copy hashes to exactly the
        # complement of its work's hash. (Against sub-regions it named flags for sparse drawings.)
        whole = rows[rows < fp.pdq.shape[1]]
        inverted = np.r_[np.zeros(len(rows), bool), np.ones(len(whole), bool)]
        distances, ids = self._pdq.search(np.concatenate([queries[rows], queries[whole] ^ 0xFF]), 4)
        rows = np.concatenate([rows, whole])
        # Rows are 8 dihedral variants per query view; the last views are image panels.
        first_panel = fp.pdq.shape[0] - len(fp.panels)
        for row, negative, ds, js in zip(rows.tolist(), inverted.tolist(), distances, ids, strict=True):
            query_view = row // 8
            panel = fp.panels[query_view - first_panel] if query_view >= first_panel else None
            for d, i in zip(ds.tolist(), js.tolist(), strict=True):
                if i < 0 or d > PDQ_CANDIDATE_DISTANCE:
                    continue
                key, view = i >> _VIEW_BITS, i & ((1 << _VIEW_BITS) - 1)
                work = self._works.get(key)
                if work is None:
                    continue
                if negative and view >= work.whole_views:
                    continue
                ev = evidence.setdefault(key, Evidence())
                if view >= work.whole_views:
                    ev.region = d if ev.region is None else min(ev.region, d)
                elif ev.near is None or d < ev.near:
                    ev.near, ev.near_panel = d, panel

    def _partial(
        self,
        local: LocalFeatures,
        fp: Fingerprint,
        evidence: dict[int, Evidence],
        *,
        mirrored: bool,
        weak: bool = False,
        found: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> tuple[np.ndarray, np.ndarray] | None:
        """Verified placements of the best-voted works. Returns the query descriptors' nearest
        indexed features and which of them are close, (ids, close), for ``_exclusive``.
        ``found``: the descriptors' (distances, ids) if already searched."""
        if len(local) < 4 or len(self._local) == 0:
            return None
        distances, ids = self._neighbours(local.descriptors) if found is None else found
        keys = np.where(ids >= 0, ids >> _FEATURE_BITS, -1)
        close = (ids >= 0) & (distances <= DESCRIPTOR_DISTANCE)
        # Lowe's ratio test across works: a descriptor that is about as close to another
        # work's feature is generic (text, outlines) and votes for nobody.
        pictures = self._pictures(keys, close)
        other = pictures[:, :, None] != pictures[:, None, :]
        d_other = np.where(other, distances[:, None, :], 256).min(axis=2)
        q_idx, keys, feats = _correspondences(ids, close & (distances < RATIO * d_other))
        misses = 0
        for key in _best_voted(keys, q_idx, _CANDIDATES):
            if misses >= _MAX_MISSES:
                break
            work = self._works.get(key)
            if work is None:
                continue
            sel = keys == key
            placement = geometry.verify(work.points[feats[sel]], local.points[q_idx[sel]], work.working_size)
            strong = placement is not None and (
                scoring.local_score(placement.inliers, placement.span) >= scoring.REVIEW_THRESHOLD
            )
            misses = 0 if strong else misses + 1
            if placement is None:
                continue
            ev = evidence.setdefault(key, Evidence())
            if ev.placement is None or placement.inliers > ev.placement.inliers:
                ev.placement, ev.mirrored = placement, mirrored
                ev.aligned = _aligned_distance(fp, work, placement, mirrored)
                ev.edges = _aligned_edges(fp, work, placement, mirrored)
        if weak:
            self._loose(local, ids, close, evidence)
        return ids, close

    def _neighbours(self, descriptors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self._local.search(descriptors, _NEIGHBOURS)

    def _exclusive(
        self, fp: Fingerprint, ids: np.ndarray, close: np.ndarray, evidence: dict[int, Evidence]
    ) -> bool:
        """When nothing reached `match`: match the query against each of the works most of its
        descriptors are near (without the ratio test across works) one work at a time
        (``work_matching``), and keep the best placement only when it stands clear of every other
        shortlisted work's and the placed edges agree (the exclusivity stands in for the ratio
        test across works, which derivative drawings would otherwise pass together).
        Returns whether a placement was kept."""
        q_idx, keys, _ = _correspondences(ids, close)
        matched = []
        for key in _best_voted(keys, q_idx, _SHORTLIST):
            work = self._works.get(key)
            if work is not None:
                rows, feats = work_matching.correspondences(
                    fp.local.descriptors, work.descriptors, DESCRIPTOR_DISTANCE
                )
                matched.append((len(rows), key, work, rows, feats))
        # Most correspondences first. A placement has at most as many inliers as correspondences,
        # so RANSAC stops at the first work that could neither lead nor come near the leader
        # (~0.8 ms each: a clean listing would otherwise verify every shortlisted work).
        matched.sort(key=lambda item: (-item[0], item[1]))
        best: tuple[int, IndexedWork, geometry.Placement] | None = None
        runner_up = 0
        for count, key, work, rows, feats in matched:
            if best is None and count < _FEW_EXCLUSIVE_INLIERS:
                return False
            if best is not None and count <= max(runner_up, _EXCLUSIVE_RUNNER_UP * best[2].inliers):
                break
            placement = geometry.verify(work.points[feats], fp.local.points[rows], work.working_size)
            if placement is None:
                continue
            if best is None or placement.inliers > best[2].inliers:
                runner_up = max(runner_up, best[2].inliers if best else 0)
                best = (key, work, placement)
            else:
                runner_up = max(runner_up, placement.inliers)
        if best is None:
            return False
        key, work, placement = best
        if placement.inliers < _FEW_EXCLUSIVE_INLIERS or runner_up > _EXCLUSIVE_RUNNER_UP * placement.inliers:
            return False
        if fp.thumbnail is None or not work.appearance.any():
            return False
        # A copy matched this way is often recoloured and captioned too (its crowded-out features
        # say so), so its edges are compared in a way that survives both.
        edges = alignment.recoloured_edges(
            fp.thumbnail, fp.working_size, placement, work.working_size, work.appearance
        )
        few = placement.inliers < _EXCLUSIVE_INLIERS
        if edges < (scoring.FEW_INLIERS_EXCLUSIVE_EDGES if few else scoring.EXCLUSIVE_EDGES):
            return False
        ev = evidence.setdefault(key, Evidence())
        ev.exclusive, ev.exclusive_edges = placement, edges
        return True

    def _learned(self, fp: Fingerprint, evidence: dict[int, Evidence], *, weak: bool = False) -> bool:
        """When nothing reached `match`: the work whose copy descriptor is nearest the query's, kept
        when it is clearly nearer than both the next work and the nearest background picture, and
        the query places on that work alone with a few ORB inliers (the descriptor alone named one
        random line drawing for another: the network finds all thin black lines alike). The
        nearest is taken twice: by the works' whole views, then by the nearest of each
        work's whole view and crops (``copy_embedding.embed_work``), among the works nearest by
        the whole view; a cropped copy is nearer the crop it shows. Not for a picture cut from a
        page (``page_items``, ``salient_region``): a patch of a photo named a neighbouring tile of
        the same photo, and the thresholds were chosen on whole queries. Returns whether a work
        was kept. When only other works are as near by the second measure (not the background
        pictures), the query must be a crop of the nearest, placing on it with more inliers and
        on none of those works nearly as well (``scoring.LEARNED_CONTESTED_INLIERS``). ``weak``:
        its nearest works are also suggested as weak candidates (``_suggest``), for any query
        with a thumbnail: one too small for local features too, since ranking needs no placement."""
        if fp.thumbnail is None or not len(self._embeddings):
            return False
        may_name = not fp.page_item and len(fp.local) >= 4
        if not (may_name or weak):
            return False
        # A registration's fingerprint already holds it (~2 ms a registration saved).
        query = fp.copy_descriptor()
        keys, sims = self._embeddings.nearest(query, _VIEW_CANDIDATES)
        if not len(keys):
            return False
        _, unrelated = embedding_index.background().nearest(query, 1)
        ranked = self._ranked_by_views(query, keys, sims, float(unrelated[0]))
        if weak:
            _suggest(*(ranked if ranked is not None else (keys, sims, float(unrelated[0]))), evidence)
        if not may_name:
            return False
        # The whole view's nearest work is held to the background pictures apart from its twins.
        # Not the nearest by views: in replays that found no copy more, and named one document
        # icon of a set for another (seed 4) whose twin is a background picture.
        candidates: list[tuple[int, float, tuple[int, ...]]] = []
        unrelated_whole = float(unrelated[0])
        if sims[0] >= scoring.LEARNED_SIMILARITY:  # else ``_clearly_nearest`` refuses it anyway
            unrelated_whole = self._background_apart_from_twins(
                int(keys[0]), query, unrelated_whole, crops=False
            )
        whole = _clearly_nearest(keys, sims, unrelated_whole, scoring.LEARNED_MARGIN)
        if whole is not None:
            candidates.append((*whole, ()))
        viewed = None if ranked is None else _nearest_by_views(*ranked)
        if viewed is not None and (whole is None or viewed[0] != whole[0]):
            candidates.append(viewed)
        for key, similarity, rivals in candidates:
            needed = scoring.LEARNED_CONTESTED_INLIERS if rivals else scoring.LEARNED_INLIERS
            placement = self._placed(fp, key, needed)
            if placement is None or (
                rivals and self._shown(fp, key, placement) >= scoring.LEARNED_CONTESTED_SHOWN
            ):
                continue
            # A rival placing nearly as well shares the drawing: the descriptor's order decides
            # nothing then (``_same_picture`` and the ORB steps deal with shared drawings).
            bar = scoring.LEARNED_RIVAL_SHARE * placement.inliers
            if any(self._placed(fp, rival, max(scoring.LEARNED_INLIERS, math.ceil(bar))) for rival in rivals):
                continue
            ev = evidence.setdefault(key, Evidence())
            ev.learned, ev.learned_placement = similarity, placement
            return True
        return ranked is not None and self._by_lightness(fp, query, *ranked, evidence)

    def _by_lightness(
        self,
        fp: Fingerprint,
        query_descriptor: np.ndarray,
        keys: np.ndarray,
        best: np.ndarray,
        background: float,
        evidence: dict[int, Evidence],
    ) -> bool:
        """The descriptor's nearest work (``_ranked_by_views``), when no placement confirmed it: kept
        when the query's lightness edges fit inside its lightness map (``lightness_map.similarity``)
        at ``scoring.LIGHTNESS_MATCH``, it is clearly nearer than every background picture, and none
        of the next works' maps fits within ``scoring.LIGHTNESS_RIVAL_GAP`` of that; or, where the
        descriptor is sure of it on its own (``scoring.LIGHTNESS_SURE_*``, ``LIGHTNESS_CLEAR_*``), at a
        looser fit. The work's twins among the background pictures are left out of its margin over
        them (``_background_apart_from_twins``)."""
        if fp.thumbnail is None or best[0] < scoring.LEARNED_SIMILARITY:
            return False
        key = int(keys[0])
        work = self._works.get(key)
        if work is None or not len(work.lightness):
            return False
        background = self._background_apart_from_twins(key, query_descriptor, background, crops=True)
        margin = best[0] - background
        ahead = best[0] - (best[1] if len(best) > 1 else 0.0)
        sure = (
            best[0] >= scoring.LIGHTNESS_SURE_SIMILARITY
            and ahead >= scoring.LIGHTNESS_SURE_GAP
            and margin >= scoring.LIGHTNESS_SURE_MARGIN
        )
        clear = margin >= scoring.LIGHTNESS_CLEAR_MARGIN and ahead >= scoring.LIGHTNESS_CLEAR_GAP
        if margin < scoring.LIGHTNESS_BACKGROUND_MARGIN and not sure:
            return False
        query = lightness_map.prepared(fp.thumbnail)  # once, for the nearest and its rivals
        if query is None:
            return False
        fit = lightness_map.fit(query, work.lightness)
        # The fit that needs no rival maps compared: looser the surer the descriptor is.
        loose_bar = min(
            scoring.LIGHTNESS_SURE_FIT if sure else math.inf,
            scoring.LIGHTNESS_CLEAR_FIT if clear else math.inf,
        )
        if fit < loose_bar:
            if fit < scoring.LIGHTNESS_MATCH or margin < scoring.LIGHTNESS_BACKGROUND_MARGIN:
                return False
            bar = fit - scoring.LIGHTNESS_RIVAL_GAP
            for rival in keys[1 : 1 + _LIGHTNESS_RIVALS].tolist():
                other = self._works.get(rival)
                if other is not None and lightness_map.fit(query, other.lightness) > bar:
                    return False
        evidence.setdefault(key, Evidence()).lightness = fit
        return True

    def _background_apart_from_twins(
        self, key: int, query: np.ndarray, background: float, *, crops: bool
    ) -> float:
        """``background`` (the query's nearest background picture), or less when work ``key`` has twins
        among the background pictures (``scoring.BACKGROUND_TWIN``): the nearest of the others then,
        by their whole descriptors and (``crops``) their crops'. A registered work may be one of the
        clip art the descriptor was trained on, and its copies were then never clearly nearer."""
        work = self._works.get(key)
        if work is None or not work.embedding.any():
            return background
        twins = embedding_index.background_twins(
            np.vstack([work.embedding, work.views]), scoring.BACKGROUND_TWIN
        )
        if not twins.any():
            return background
        return min(background, embedding_index.background_similarity_apart_from(query, twins, crops=crops))

    def _placed(self, fp: Fingerprint, key: int, inliers: int) -> geometry.Placement | None:
        """The query placed on work ``key`` alone, when it places with at least ``inliers``."""
        work = self._works.get(key)
        if work is None or not len(work.descriptors):
            return None
        descriptors = fp.local.descriptors
        rows, feats = work_matching.correspondences(descriptors, work.descriptors, DESCRIPTOR_DISTANCE)
        if len(rows) < inliers:
            return None
        placement = geometry.verify(work.points[feats], fp.local.points[rows], work.working_size)
        return placement if placement is not None and placement.inliers >= inliers else None

    def _shown(self, fp: Fingerprint, key: int, placement: geometry.Placement) -> float:
        """The share of work ``key``'s outline that ``placement`` puts inside the query."""
        return geometry.project_box(placement.matrix, self._works[key].working_size, fp.working_size)[1]

    def _ranked_by_views(
        self, query: np.ndarray, keys: np.ndarray, sims: np.ndarray, unrelated: float
    ) -> tuple[np.ndarray, np.ndarray, float] | None:
        """``keys`` ranked by each work's nearest view, whole or cropped, with those cosines, and the
        nearest background picture's cosine by its views too. None when no work has crop descriptors."""
        best = sims.astype(np.float32)
        rows, stacked = [], []
        for i, key in enumerate(keys.tolist()):
            work = self._works.get(key)
            views = copy_embedding.NO_VIEWS if work is None else work.views
            if len(views):
                rows.append(i)
                stacked.append(views)
        if not rows:
            return None
        nearest_view = embedding_index.cosines(query, np.stack(stacked)).max(axis=1)
        best[rows] = np.maximum(best[rows], nearest_view)
        order = np.argsort(-best, kind="stable")
        return keys[order], best[order], max(unrelated, embedding_index.background_view_similarity(query))

    def _loose(
        self, local: LocalFeatures, ids: np.ndarray, close: np.ndarray, evidence: dict[int, Evidence]
    ) -> None:
        """Weak candidates: placements verified from every close neighbour, without the ratio test.

        They find ~1.5 % more copies (a recoloured, captioned crop) but five times as many
        wrong works (BENCHMARKS.md, sixth session), so they only rank candidates below `review`."""
        q_idx, keys, feats = _correspondences(ids, close)
        for key in _best_voted(keys, q_idx, _LOOSE_CANDIDATES):
            work = self._works.get(key)
            if work is None:
                continue
            sel = keys == key
            placement = geometry.verify(work.points[feats[sel]], local.points[q_idx[sel]], work.working_size)
            if placement is not None:
                ev = evidence.setdefault(key, Evidence())
                ev.loose = max(ev.loose, placement.inliers)

    def _score(
        self, fp: Fingerprint, evidence: dict[int, Evidence], exact: set[int], min_score: float
    ) -> list[Match]:
        return verdicts.score_evidence(fp, evidence, exact, min_score, self._works, self._same_picture)

    def _same_picture(self, a: int, b: int) -> bool:
        """Whether works ``a`` and ``b`` are one picture: their whole images hash alike."""
        pa, pb = self._works[a].pdq, self._works[b].pdq  # every whole view: flattened on black too
        return bool(global_hashes.hamming(pa[:, None, :], pb[None, :, :]).min() <= _SAME_PICTURE_BITS)

    def saved_stamp(self) -> int:
        """The stamp of the index saved in this engine's directory (``save``); -1 if none."""
        return -1 if self.directory is None else index_files.saved_stamp(self.directory)

    def sha256_of(self, key: int) -> str | None:
        """The SHA-256 of the bytes work ``key`` was fingerprinted from; None if not indexed."""
        work = self._works.get(key)
        return None if work is None else work.sha256

    # ---- persistence ------------------------------------------------------------------
    def save(self, stamp: int | None = None, *, replace_newer: bool = False) -> bool:
        """Persist atomically (``index_files``: a new generation, then the manifest switch).

        ``stamp`` is the caller's version of what the index holds (a registry passes the log size it
        has caught up with). When the saved index carries a larger stamp, another process saved a
        newer index, and this older one is not written over it: returns False; unless
        ``replace_newer``, for a saved index the caller found foreign (not derived from its data)."""
        if self.directory is None:
            raise ValueError("this engine has no directory to save to")
        with self._save_lock, self._lock.read(), file_lock.locked(self.directory, shared=False):
            if stamp is not None and not replace_newer and index_files.saved_stamp(self.directory) > stamp:
                return False
            self.stored_features_per_work = self.features_per_work
            works, budget = self._works, self.features_per_work
            index_files.write(self.directory, self._pdq, self._local, works, budget, stamp)
        return True

    def _load(self) -> None:
        assert self.directory is not None
        with file_lock.locked(self.directory, shared=True):  # no save deletes the files meanwhile
            stored = index_files.read(
                self.directory,
                flat_limit=LOCAL_FLAT_LIMIT,
                default_features_per_work=DEFAULT_FEATURES_PER_WORK,
                size_of=self._size,
                descriptors=self.exclusive_placements,
            )
            self.loaded_stamp = index_files.saved_stamp(self.directory)
        self.stored_features_per_work = stored.features_per_work
        self.loaded_older_format = stored.older_format
        self._pdq, self._local, self._works = stored.pdq, stored.local, stored.works
        self._embeddings = _embedding_index(stored.works)
        for key, work in self._works.items():
            self._own(work.sha256, key)
        if self._works:
            _warm_up_search()


_EMBEDDING_SLICE = 1 << 16


def _nearest_by_views(
    keys: np.ndarray, best: np.ndarray, background: float
) -> tuple[int, float, tuple[int, ...]] | None:
    """``_clearly_nearest`` over works ranked by ``Engine._ranked_by_views``, and the rivals to place
    the query on: none when it is clearly nearest, else the works (at most ``_CONTESTED_RIVALS``)
    within the margin when only works are (the background pictures are not). None when nothing
    qualifies."""
    margin = scoring.LEARNED_VIEW_MARGIN
    clear = _clearly_nearest(keys, best, background, margin)
    if clear is not None:
        return (*clear, ())
    if best[0] < scoring.LEARNED_SIMILARITY or best[0] - background < margin:
        return None
    near = keys[1 : 1 + _CONTESTED_RIVALS][best[1 : 1 + _CONTESTED_RIVALS] > best[0] - margin]
    return int(keys[0]), float(best[0]), tuple(near.tolist())


def _suggest(keys: np.ndarray, best: np.ndarray, background: float, evidence: dict[int, Evidence]) -> None:
    """The descriptor's nearest works (``keys`` ranked, ``best`` their cosines) as weak candidates: it
    ranks the true work first for most copies nothing else found (a ranking evaluation's tail)."""
    for i, key in enumerate(keys[:_SUGGESTED].tolist()):
        after = float(best[i + 1]) if i + 1 < len(best) else 0.0
        lead_next, lead_background = float(best[i]) - after, float(best[i]) - background
        strength = scoring.suggestion(float(best[i]), lead_next, lead_background)
        ev = evidence.setdefault(key, Evidence())
        if strength >= ev.suggested:
            ev.suggestion = weak_ranking.Suggestion(float(best[i]), lead_next, lead_background, i)


def _clearly_nearest(
    keys: np.ndarray, sims: np.ndarray, unrelated: float, margin: float
) -> tuple[int, float] | None:
    """The first of ``keys`` (sorted by ``sims``, best first) when its cosine is at least
    ``LEARNED_SIMILARITY`` and ``margin`` above both the next work's and ``unrelated``."""
    if not len(keys) or sims[0] < scoring.LEARNED_SIMILARITY:
        return None
    rival = max(float(sims[1]) if len(sims) > 1 else 0.0, unrelated)
    return (int(keys[0]), float(sims[0])) if sims[0] - rival >= margin else None


def _embedding_index(works: dict[int, IndexedWork]) -> EmbeddingIndex:
    """The works' copy descriptors in a fresh index (those without one are left out)."""
    index = EmbeddingIndex()
    keys = np.fromiter(works, dtype=np.int64, count=len(works))
    # In slices: FAISS takes float32 copies, 0.5 GB for a million works at once.
    for start in range(0, len(keys), _EMBEDDING_SLICE):
        part = keys[start : start + _EMBEDDING_SLICE]
        index.add(part, np.stack([works[int(k)].embedding for k in part]))
    return index


def _warm_up_search() -> None:
    """Once a process indexes works, its searches may hash a query's pHash, whose first call
    imports SciPy: 117 ms on the scale benchmark's 20th query (p99 at 2,000 works 49 -> 10 ms)."""
    global_hashes.warm_up_phash()


def _correspondences(ids: np.ndarray, ok: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Query feature index, work key and work feature number of each accepted neighbour."""
    q_idx = np.nonzero(ok)[0]
    hit_ids = ids[ok]
    return q_idx, hit_ids >> _FEATURE_BITS, hit_ids & ((1 << _FEATURE_BITS) - 1)


def _best_voted(keys: np.ndarray, q_idx: np.ndarray, limit: int) -> list[int]:
    """Up to ``limit`` works with the most distinct query features voting for them, most first,
    each with at least ``_MIN_VOTES`` (enough for a homography)."""
    if keys.size == 0:
        return []
    # A lexsort and an adjacent-difference: np.unique along an axis is several times slower here.
    order = np.lexsort((q_idx, keys))
    k, q = keys[order], q_idx[order]
    first = np.ones(len(k), dtype=bool)
    first[1:] = (k[1:] != k[:-1]) | (q[1:] != q[:-1])
    cand, votes = np.unique(k[first], return_counts=True)
    order = np.argsort(-votes)[:limit]
    return [int(key) for key, n in zip(cand[order], votes[order], strict=True) if n >= _MIN_VOTES]


# OpenMP's thread count belongs to each thread: set where the engine was made, it left searches
# from a server's other threads using every core each (an audit).
_faiss_threads_here = threading.local()


def _use_faiss_threads(n: int) -> None:
    """FAISS's OpenMP threads for this thread's searches, set once per thread (and count)."""
    if getattr(_faiss_threads_here, "n", None) != n:
        faiss.omp_set_num_threads(n)
        _faiss_threads_here.n = n


def _check_key(key: int) -> int:
    """``key`` as a plain int; keys are packed into FAISS ids, so a bool or a float is refused."""
    if isinstance(key, bool) or not isinstance(key, (int, np.integer)):
        raise ValueError(f"work key must be an integer, got {key!r}")
    if not 0 <= key < 1 << 52:
        raise ValueError(f"work key must be in [0, 2**52), got {key}")
    return int(key)


def _aligned_distance(
    fp: Fingerprint, work: IndexedWork, placement: geometry.Placement, mirrored: bool
) -> int | None:
    """PDQ distance from the work to the query region under ``placement`` (``indexes.alignment``)."""
    if fp.thumbnail is None or not len(work.pdq) or placement.inliers < _MIN_ALIGNED_INLIERS:
        return None
    thumb, size = fp.thumbnail, work.working_size
    bits = alignment.aligned_pdq(thumb, fp.working_size, placement, size, mirrored=mirrored)
    views = work.pdq[~global_hashes.degenerate(work.pdq)]
    if not len(views) or global_hashes.degenerate(bits).any():
        return None  # a flat region equals a flat view of any work
    return int(global_hashes.hamming(views[:, None, :], bits[None, :, :]).min())


def _aligned_edges(
    fp: Fingerprint, work: IndexedWork, placement: geometry.Placement, mirrored: bool
) -> float:
    """Edge correlation of the work with the query region under ``placement`` (``alignment``)."""
    if fp.thumbnail is None or not work.appearance.any() or placement.inliers < _MIN_ALIGNED_INLIERS:
        return 0.0
    return alignment.aligned_edges(
        fp.thumbnail, fp.working_size, placement, work.working_size, work.appearance, mirrored=mirrored
    )


def _pdq_views(fp: Fingerprint) -> tuple[np.ndarray, np.ndarray]:
    """Identity-orientation PDQ of each whole-image view, then the sub-region hashes, less the
    degenerate ones (``global_hashes.degenerate``), and the view number of each (its id's low bits)."""
    views = np.concatenate([fp.pdq[:, 0, :], fp.regions])[: 1 << _VIEW_BITS]
    kept = np.flatnonzero(~global_hashes.degenerate(views))
    return views[kept], kept.astype(np.int64)


# After a `match` covering under this share of the page, the page may be a grid or a sheet of
# several pictures: its other items at least this share of the smallest found one's area are
# searched too (a listing page's smaller thumbnails, buttons and words are not). Once one work of a
# collage was found the rest were never looked at: 55 of 77 works on 14 generated grids found,
# 67 with this; seeds 0-2 gained and lost no `match`, and a listing page costs ~2 ms more.
_FOUND_COVER = 0.6
_SIBLING_AREA = 0.4


def _beside_found(
    fp: Fingerprint, matches: list[Match]
) -> Callable[[tuple[int, int, int, int]], bool] | None:
    """Which page items to search beside the `match`es found, or None when they cover most of the
    page (a whole copy, a crop, a framed or captioned copy)."""
    found = [m.region for m in matches if m.verdict == "match" and m.region is not None]
    width, height = fp.size
    if not found or sum(w * h for _, _, w, h in found) >= _FOUND_COVER * width * height:
        return None
    smallest = min(w * h for _, _, w, h in found)

    def keep(box: tuple[int, int, int, int]) -> bool:
        big_enough = box[2] * box[3] >= _SIBLING_AREA * smallest
        return big_enough and not any(_mostly_inside(box, region) for region in found)

    return keep


def _mostly_inside(box: tuple[int, int, int, int], region: tuple[int, int, int, int]) -> bool:
    """Whether half of ``box`` or more lies inside ``region`` (both x, y, w, h)."""
    return geometry.overlap_area(box, region) >= 0.5 * box[2] * box[3]


def _interleave(even: np.ndarray, odd: np.ndarray) -> np.ndarray:
    """Rows of ``even`` and ``odd`` back in their original order (0, 1, 2, ...)."""
    out = np.empty((len(even) + len(odd), *even.shape[1:]), even.dtype)
    out[0::2], out[1::2] = even, odd
    return out
