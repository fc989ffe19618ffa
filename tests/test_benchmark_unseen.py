"""The unseen-transform set renders deterministic, usable queries through the shared query builder."""

import json
from pathlib import Path

import numpy as np
import pytest

from benchmarks import unseen_transforms as unseen
from benchmarks.corpus import Corpus, Work
from benchmarks.queries import build_queries
from benchmarks.unseen import UNSEEN_SET
from tests.test_benchmark_transforms import _work


@pytest.mark.parametrize("t", unseen.UNSEEN, ids=lambda t: t.name)
def test_unseen_transform_is_deterministic_and_re_encoded(t: unseen.Transform) -> None:
    a, qa = unseen.apply(_work(), "clipart/x", t, seed=3)
    b, qb = unseen.apply(_work(), "clipart/x", t, seed=3)
    assert qa == qb and qa is not None  # every unseen query is saved as JPEG
    assert a.mode == "RGB" and min(a.size) >= 8
    assert np.array_equal(np.asarray(a), np.asarray(b))


def test_unseen_names_do_not_shadow_the_issue_transforms() -> None:
    from benchmarks import transforms

    assert len(unseen.UNSEEN) == 16
    assert not {t.name for t in unseen.UNSEEN} & set(transforms.BY_NAME)


def test_mockup_composites_the_artwork_by_its_alpha_not_its_canvas() -> None:
    out, _ = unseen.apply(_work(), "clipart/x", unseen.BY_NAME["mockup"], seed=3)
    rgb = np.asarray(out).astype(int)
    # The transparent canvas never becomes a white box: almost no pure-white pixels on the fabric.
    assert (rgb.min(axis=2) >= 250).mean() < 0.001
    # The artwork's red and blue are there.
    red = (rgb[..., 0] > 150) & (rgb[..., 1] < 80) & (rgb[..., 2] < 80)
    blue = (rgb[..., 2] > 170) & (rgb[..., 0] < 70)
    assert red.sum() > 1000 and blue.sum() > 1000


def test_query_builder_renders_the_unseen_set_with_its_own_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RIGHTS_BENCH_CACHE", str(tmp_path / "cache"))
    src = tmp_path / "w.png"
    _work().save(src)
    refs = [
        Work(key=i, name=f"clipart/w{i}", corpus="clipart", path=str(src), transparent=True) for i in range(2)
    ]
    dis = [Work(key=-1, name="clipart/d", corpus="clipart", path=str(src), transparent=True)]
    queries = build_queries(Corpus(refs=refs, distractors=dis), 2, 0, UNSEEN_SET)
    assert len(queries) == 16 * 2 + 1
    assert {q.family for q in queries} == {"unseen"}
    assert all(Path(q.path).suffix == ".jpg" and Path(q.path).exists() for q in queries)
    assert [q.truth for q in queries if q.truth is None] == [None]
    manifest = next((tmp_path / "cache").rglob("queries.json"))
    assert len(json.loads(manifest.read_text())) == len(queries)


def test_cached_corpus_and_queries_are_found_again_after_the_cache_moves(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Manifests written through one path to the cache (another checkout's link to it) keep
    loading from another: the files are found again under the cache in use."""
    from benchmarks.corpus import build_corpus, norm_path

    old = tmp_path / "old"
    monkeypatch.setenv("RIGHTS_BENCH_CACHE", str(old))
    names = ["clipart/w0", "clipart/w1", "clipart/d"]
    for name in names:
        norm_path(name).parent.mkdir(parents=True, exist_ok=True)
        _work().save(norm_path(name))
    works = [
        {"key": i, "name": n, "corpus": "clipart", "path": str(norm_path(n)), "transparent": True}
        for i, n in enumerate(names)
    ]
    manifest = {"seed": 0, "refs": works[:2], "distractors": [{**works[2], "key": -1}]}
    (old / "corpus").mkdir()
    (old / "corpus" / "manifest_v4_s0_r2_d1.json").write_text(json.dumps(manifest))
    build_queries(build_corpus(2, 1, 0), 1, 0, UNSEEN_SET)

    moved = old.rename(tmp_path / "moved")
    monkeypatch.setenv("RIGHTS_BENCH_CACHE", str(moved))
    corpus = build_corpus(2, 1, 0)
    assert [w.name for w in corpus.refs] == names[:2]
    assert all(
        Path(w.path).is_relative_to(moved) and Path(w.path).exists() for w in corpus.refs + corpus.distractors
    )
    queries = build_queries(corpus, 1, 0, UNSEEN_SET)
    assert len(queries) == 16 + 1
    assert all(Path(q.path).is_relative_to(moved) and Path(q.path).exists() for q in queries)
