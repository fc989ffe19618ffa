"""Oracle tests for BinaryIndex: FAISS answers checked against a brute-force numpy Hamming scan.

After ThreatExchange ``signal_type/tests/test_pdq_index2.py``: seeded random 256-bit hashes,
queries made by flipping k bits of stored ones, and a linear scan as the ground truth.
"""

from __future__ import annotations

import random
from pathlib import Path

import faiss
import numpy as np
import pytest

from indexes import binary_index
from indexes.binary_index import BinaryIndex

NBYTES = 32
N = 2000
QUERIES = 300
# IVF is approximate: a query far from its source can land in a list that is not probed. The
# recall bound is checked on near-duplicates (<= NEAR_FLIPS bits, like re-encoded PDQ hashes);
# farther queries are checked exactly with every list probed.
NEAR_FLIPS = 8

# db vectors, their ids (sparse, large), queries, bits flipped per query, each query's source row
Data = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def _random_vectors(rng: random.Random, n: int) -> np.ndarray:
    raw = b"".join(rng.getrandbits(NBYTES * 8).to_bytes(NBYTES, "little") for _ in range(n))
    return np.frombuffer(raw, np.uint8).reshape(n, NBYTES).copy()


def _flip(rng: random.Random, vector: np.ndarray, k: int) -> np.ndarray:
    bits = np.unpackbits(vector)
    for i in rng.sample(range(NBYTES * 8), k):
        bits[i] ^= 1
    return np.packbits(bits)


def _brute_force(db: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """(n_queries, n_db) Hamming distances."""
    return np.unpackbits(queries[:, None, :] ^ db[None, :, :], axis=2).sum(axis=2)


@pytest.fixture(scope="module")
def data() -> Data:
    rng = random.Random(20240601)
    db = _random_vectors(rng, N)
    ids = np.array(rng.sample(range(1 << 40), N), dtype=np.int64)
    rows = np.array([rng.randrange(N) for _ in range(QUERIES)])
    flips = np.array([rng.randrange(0, 33) for _ in range(QUERIES)])
    queries = np.stack([_flip(rng, db[r], int(k)) for r, k in zip(rows, flips, strict=True)])
    return db, ids, queries, flips, rows


def _index_by_adding(db: np.ndarray, ids: np.ndarray, batch: int = 250, **options: int) -> BinaryIndex:
    index = BinaryIndex(NBYTES, **options)
    for start in range(0, len(db), batch):
        index.add(db[start : start + batch], ids[start : start + batch])
    return index


def _round_trip(index: BinaryIndex, tmp_path: Path, **options: int) -> BinaryIndex:
    base, delta = tmp_path / "index.faissb", tmp_path / "index-delta.faissb"
    wrote_delta = index.save(base, delta)
    assert wrote_delta == bool(index.delta_size) == delta.exists()
    return BinaryIndex.load(base, NBYTES, delta_path=delta if wrote_delta else None, **options)


def _nearest_agreement(index: BinaryIndex, db: np.ndarray, ids: np.ndarray, queries: np.ndarray) -> float:
    """Share of queries whose FAISS top hit is at the brute-force minimum distance, with a correct id."""
    truth = _brute_force(db, queries)
    distances, got = index.search(queries, 5)
    id_to_row = {int(i): r for r, i in enumerate(ids)}
    good = 0
    for q in range(len(queries)):
        best = int(truth[q].min())
        top_id, top_d = int(got[q, 0]), int(distances[q, 0])
        if top_id in id_to_row and top_d == best and truth[q, id_to_row[top_id]] == best:
            good += 1
    return good / len(queries)


def test_flat_agrees_exactly_with_brute_force(data: Data) -> None:
    db, ids, queries, flips, rows = data
    index = _index_by_adding(db, ids)
    assert index.kind == "flat"
    assert len(index) == N
    assert _nearest_agreement(index, db, ids, queries) == 1.0
    # The stored source row is the nearest at exactly k flips (random 256-bit vectors are ~128 apart).
    distances, got = index.search(queries, 1)
    assert np.array_equal(got[:, 0], ids[rows])
    assert np.array_equal(distances[:, 0], flips)


def test_flat_k_neighbours_are_the_true_k_nearest(data: Data) -> None:
    db, ids, queries, _, _ = data
    index = _index_by_adding(db, ids)
    truth = np.sort(_brute_force(db, queries[:50]), axis=1)[:, :10]
    distances, got = index.search(queries[:50], 10)
    assert np.array_equal(distances, truth)
    assert (got >= 0).all()


@pytest.mark.parametrize("kmeans_max_lists", [binary_index._KMEANS_MAX_LISTS, 0], ids=["kmeans", "nested"])
def test_ivf_after_crossing_flat_limit(
    data: Data, monkeypatch: pytest.MonkeyPatch, kmeans_max_lists: int
) -> None:
    db, ids, queries, flips, _ = data
    monkeypatch.setattr(binary_index, "FLAT_LIMIT", 200)
    monkeypatch.setattr(binary_index, "_KMEANS_MAX_LISTS", kmeans_max_lists)
    # Batches of 250: IVF from the first batch on, rebuilt with more lists at 1250 (> 4 x 250).
    index = _index_by_adding(db, ids)
    assert index.kind == "ivf"
    assert index._built_for == 1250
    assert len(index) == N
    near = flips <= NEAR_FLIPS
    assert near.sum() > 50
    recall = _nearest_agreement(index, db, ids, queries[near])
    assert recall >= 0.9, recall
    _, got_ids = index.export()
    assert sorted(got_ids.tolist()) == sorted(ids.tolist())


def test_ivf_probing_every_list_is_exact(data: Data, monkeypatch: pytest.MonkeyPatch) -> None:
    """With a flat (k-means) quantizer and every list probed, IVF must equal the linear scan.

    (Not so with the nested quantizer: its list lookup is itself approximate.)"""
    db, ids, queries, _, _ = data
    monkeypatch.setattr(binary_index, "FLAT_LIMIT", 500)
    index = _index_by_adding(db, ids, nprobe=1 << 20)  # FAISS clamps nprobe to nlist
    assert index.kind == "ivf"
    assert _nearest_agreement(index, db, ids, queries) == 1.0


def test_build_equals_incremental_add(data: Data, monkeypatch: pytest.MonkeyPatch) -> None:
    db, ids, queries, _, _ = data
    flat = BinaryIndex.build(db, ids)
    assert flat.kind == "flat"
    assert np.array_equal(flat.search(queries, 3)[0], _index_by_adding(db, ids).search(queries, 3)[0])
    monkeypatch.setattr(binary_index, "FLAT_LIMIT", 500)
    ivf = BinaryIndex.build(db, ids)
    assert ivf.kind == "ivf"
    near = data[3] <= NEAR_FLIPS
    assert _nearest_agreement(ivf, db, ids, queries[near]) >= 0.9


@pytest.mark.parametrize("flat_limit", [binary_index.FLAT_LIMIT, 500], ids=["flat", "ivf"])
def test_remove_really_removes(data: Data, monkeypatch: pytest.MonkeyPatch, flat_limit: int) -> None:
    db, ids, queries, _, rows = data
    monkeypatch.setattr(binary_index, "FLAT_LIMIT", flat_limit)
    index = _index_by_adding(db, ids)
    gone_rows = sorted(set(rows[:40].tolist()))
    gone = ids[gone_rows]
    assert index.remove(gone) == len(gone)
    assert index.remove(gone) == 0  # already gone
    assert index.remove(np.zeros(0, np.int64)) == 0
    assert len(index) == N - len(gone)

    _, got = index.search(queries, 5)
    assert not np.isin(got, gone).any()
    _, exported = index.export()
    assert not np.isin(exported, gone).any()
    # The removed vectors' queries now find something else, far away (random vectors differ by ~128 bits).
    distances, _ = index.search(db[gone_rows], 1)
    assert distances.min() > 60

    keep = np.ones(N, bool)
    keep[gone_rows] = False
    still = ~np.isin(rows, gone_rows) & (data[3] <= NEAR_FLIPS)
    assert _nearest_agreement(index, db[keep], ids[keep], queries[still]) >= 0.9


@pytest.mark.parametrize(
    ("flat_limit", "kmeans_max_lists"),
    [
        (binary_index.FLAT_LIMIT, binary_index._KMEANS_MAX_LISTS),
        (500, binary_index._KMEANS_MAX_LISTS),
        (500, 0),
    ],
    ids=["flat", "ivf", "ivf-nested"],
)
def test_save_load_round_trip(
    data: Data, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, flat_limit: int, kmeans_max_lists: int
) -> None:
    db, ids, queries, _, _ = data
    monkeypatch.setattr(binary_index, "FLAT_LIMIT", flat_limit)
    monkeypatch.setattr(binary_index, "_KMEANS_MAX_LISTS", kmeans_max_lists)
    index = _index_by_adding(db, ids)
    index.remove(ids[:10])
    loaded = _round_trip(index, tmp_path)

    assert loaded.kind == index.kind
    assert len(loaded) == len(index) == N - 10
    before, after = index.search(queries, 5), loaded.search(queries, 5)
    assert np.array_equal(before[0], after[0]) and np.array_equal(before[1], after[1])
    v1, i1 = index.export()
    v2, i2 = loaded.export()
    o1, o2 = np.argsort(i1), np.argsort(i2)
    assert np.array_equal(i1[o1], i2[o2]) and np.array_equal(v1[o1], v2[o2])
    # A loaded index keeps accepting adds.
    extra = _random_vectors(random.Random(9), 3)
    loaded.add(extra, np.array([1, 2, 3], np.int64))
    assert loaded.search(extra, 1)[1][:, 0].tolist() == [1, 2, 3]


def test_load_rejects_wrong_width(data: Data, tmp_path: Path) -> None:
    db, ids, _, _, _ = data
    BinaryIndex.build(db[:10], ids[:10]).save(tmp_path / "i.faissb", tmp_path / "unused")
    with pytest.raises(ValueError, match="bits"):
        BinaryIndex.load(tmp_path / "i.faissb", 8)


@pytest.mark.parametrize("flat_limit", [binary_index.FLAT_LIMIT, 500], ids=["flat", "ivf"])
def test_export_returns_every_vector_with_its_id(
    data: Data, monkeypatch: pytest.MonkeyPatch, flat_limit: int
) -> None:
    db, ids, _, _, _ = data
    monkeypatch.setattr(binary_index, "FLAT_LIMIT", flat_limit)
    index = _index_by_adding(db, ids)
    vectors, got_ids = index.export()
    assert vectors.dtype == np.uint8 and vectors.shape == (N, NBYTES)
    assert got_ids.dtype == np.int64
    by_id = dict(zip(got_ids.tolist(), vectors, strict=True))
    assert set(by_id) == set(ids.tolist())
    for row in range(0, N, 97):
        assert np.array_equal(by_id[int(ids[row])], db[row])


def test_empty_index() -> None:
    index = BinaryIndex(NBYTES)
    assert len(index) == 0
    _, got = index.search(np.zeros((2, NBYTES), np.uint8), 3)
    assert got.shape == (2, 3) and (got == -1).all()
    vectors, got_ids = index.export()
    assert vectors.shape == (0, NBYTES) and got_ids.shape == (0,)
    index.add(np.zeros((0, NBYTES), np.uint8), np.zeros(0, np.int64))
    assert len(index) == 0


def test_flat_limit_is_chosen_per_index(data: Data) -> None:
    db, ids, _, _, _ = data
    assert BinaryIndex.build(db, ids).kind == "flat"  # the module default (60k)
    small_limit = BinaryIndex.build(db, ids, flat_limit=500)
    assert small_limit.kind == "ivf"
    assert _index_by_adding(db, ids, flat_limit=500).kind == "ivf"


def test_short_lists_are_probed_more(data: Data, tmp_path: Path) -> None:
    """A small IVF (lists of ~30) probes enough lists to scan ~nprobe x 512 codes: near-exact."""
    db, ids, queries, _, _ = data
    index = BinaryIndex.build(db, ids, flat_limit=500)
    assert index.probes > binary_index.DEFAULT_NPROBE
    assert _nearest_agreement(index, db, ids, queries) >= 0.95
    loaded = _round_trip(index, tmp_path, flat_limit=500)
    assert loaded.probes == index.probes
    assert np.array_equal(loaded.search(queries, 3)[1], index.search(queries, 3)[1])


def test_two_level_centroids_count_and_cover_a_skewed_sample() -> None:
    """Past 1,024 lists the centroids come from coarse clusters split by population."""
    rng = np.random.default_rng(3)
    centre = rng.integers(0, 256, NBYTES, dtype=np.uint8)
    dense = centre ^ np.packbits(rng.random((1800, NBYTES * 8)) < 0.05, axis=1)
    sparse = rng.integers(0, 256, (200, NBYTES), dtype=np.uint8)
    sample = np.concatenate([dense, sparse])
    coarse, centroids = binary_index._two_level_centroids(sample, 128)
    assert coarse.shape == (8, NBYTES)  # 128 // 16
    assert centroids.shape == (128, NBYTES) and centroids.dtype == np.uint8
    near_centre = np.unpackbits(centroids ^ centre, axis=1).sum(axis=1) <= 40
    # ~90 % of the sample is the dense blob, so most lists must be spent there.
    assert near_centre.sum() >= 0.6 * len(centroids)
    assert len(np.unique(centroids, axis=0)) > 100


def test_nested_quantizer_finds_the_nearest_list_it_was_built_from() -> None:
    """A list lookup compares the coarse centroids, then the fine ones of the nearest few
    coarse lists: a vector next to a fine centroid gets that centroid's list."""
    rng = np.random.default_rng(5)
    sample = rng.integers(0, 256, (4000, NBYTES), dtype=np.uint8)
    coarse, fine = binary_index._two_level_centroids(sample, 256)
    quantizer = binary_index._nested_quantizer(coarse, fine)
    assert quantizer.ntotal == len(fine) == 256
    picks = rng.choice(len(fine), 100, replace=False)
    nearby = fine[picks] ^ np.packbits(rng.random((100, NBYTES * 8)) < 0.03, axis=1)
    _, lists = quantizer.search(nearby, 1)
    assert (lists.ravel() == picks).mean() >= 0.95


def test_an_index_saved_with_the_older_hnsw_lookup_still_loads(data: Data, tmp_path: Path) -> None:
    """Data directories written before the nested lookup hold IVF files behind an HNSW graph."""
    db, ids, queries, _, _ = data
    bits = NBYTES * 8
    quantizer = faiss.IndexBinaryHNSW(bits, 32)
    quantizer.add(db[:: len(db) // 16][:16])
    old = faiss.IndexBinaryIVF(quantizer, bits, 16)
    quantizer.this.disown()
    old.own_fields = True
    old.add_with_ids(db, ids)
    faiss.write_index_binary(old, str(tmp_path / "old.faissb"))

    loaded = BinaryIndex.load(tmp_path / "old.faissb", NBYTES, flat_limit=500)

    assert loaded.kind == "ivf" and len(loaded) == len(db)
    assert _nearest_agreement(loaded, db, ids, queries) >= 0.9


def test_build_from_many_batches_equals_one_batch(data: Data, monkeypatch: pytest.MonkeyPatch) -> None:
    """A streamed rebuild packs vectors into batches and samples training rows across them; the
    index must come out the same as from one array (same lists, same answers)."""
    db, ids, queries, _, _ = data
    monkeypatch.setattr(binary_index, "FLAT_LIMIT", 500)
    whole = BinaryIndex.build(db, ids)
    monkeypatch.setattr(binary_index, "_BATCH_ROWS", 300)
    streamed = binary_index.VectorBatches(NBYTES)
    for start in range(0, len(db), 7):  # many small appends, as one work at a time
        streamed.append(db[start : start + 7], ids[start : start + 7])
    assert len(streamed) == len(db) and len(streamed.batches) == len(db) // 300
    built = BinaryIndex.build_from(streamed)
    assert len(streamed) == 0, "the batches were handed over, not kept twice"
    assert built.kind == whole.kind == "ivf" and built.lists == whole.lists
    for a, b in zip(whole.search(queries, 5), built.search(queries, 5), strict=True):
        assert np.array_equal(a, b)


def test_adds_after_a_load_go_to_a_delta_that_is_searched_saved_and_removed_from(
    data: Data, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A loaded list is exactly full, and FAISS doubles a list to add to it: adds after a load
    are held in a second index over the same lists instead of growing every list."""
    db, ids, queries, _, _ = data
    monkeypatch.setattr(binary_index, "FLAT_LIMIT", 500)
    base = _round_trip(BinaryIndex.build(db[:1500], ids[:1500]), tmp_path)
    assert base.delta_size == 0
    base.add(db[1500:], ids[1500:])
    assert base.delta_size == 500 and len(base) == N and base.lists == base._index.nlist

    # Every list probed: base and delta together must equal the linear scan, over all vectors.
    base.nprobe = base.lists
    assert _nearest_agreement(base, db, ids, queries) == 1.0
    distances, _ = base.search(queries, 5)
    assert (np.diff(distances, axis=1) >= 0).all(), "merged neighbours are not sorted"
    base.nprobe = binary_index.DEFAULT_NPROBE
    near = data[3] <= NEAR_FLIPS
    assert _nearest_agreement(base, db, ids, queries[near]) >= 0.9

    assert base.remove(ids[1990:]) == 10 and base.delta_size == 490  # removal reaches the delta
    (tmp_path / "again").mkdir()
    loaded = _round_trip(base, tmp_path / "again")
    assert loaded.delta_size == 490 and len(loaded) == N - 10
    for a, b in zip(base.search(queries, 5), loaded.search(queries, 5), strict=True):
        assert np.array_equal(a, b)
    assert not set(loaded.search(db[1990:], 3)[1].ravel().tolist()) & set(ids[1990:].tolist())
    exported = loaded.export()[1]
    assert sorted(exported.tolist()) == sorted(ids[:1990].tolist())
