"""The learned copy descriptor (``indexes.copy_embedding``) and the search step that uses it
(``Engine._learned``), on the committed CC0 sample works."""

from __future__ import annotations

import dataclasses
import json
import zlib
from pathlib import Path

import numpy as np
import pytest

from indexes import (
    Engine,
    Fingerprint,
    copy_embedding,
    embedding_index,
    fingerprint,
    index_files,
    local_features,
    scoring,
)
from indexes import engine as engine_module
from tests import imagegen, sample_copies
from tests.sample_copies import TREE, WORKS

SEASCAPE = 24  # 25_paesaggio_marino
PEACH = 26  # 27_pesca
_flat, _recoloured_captioned_crop = sample_copies.flat, sample_copies.recoloured_captioned_crop
references, engine = sample_copies.references, sample_copies.engine  # fixtures
tree_in_the_background = sample_copies.tree_in_the_background  # fixture


def _cosines(query: np.ndarray, works: np.ndarray) -> np.ndarray:
    q, w = query.astype(np.float32), works.astype(np.float32)
    return (w @ q) / (np.linalg.norm(w, axis=1) * np.linalg.norm(q))


def _matched(engine: Engine, fp: Fingerprint) -> list[int]:
    return [m.key for m in engine.search(fp) if m.verdict == "match"]


def test_descriptor_is_a_quantised_unit_vector_of_the_picture(references: list[Fingerprint]) -> None:
    e = references[TREE].embedding
    assert e.dtype == np.int8 and e.shape == (copy_embedding.DIMENSIONS,)
    assert abs(float(np.linalg.norm(e.astype(np.float32))) - 127) < 3
    again = copy_embedding.embed(np.asarray(_flat(WORKS[TREE]).resize((256, 256))))
    assert _cosines(again, e[None, :])[0] > 0.95
    # Stored with the fingerprint, which only registered works carry.
    assert np.array_equal(Fingerprint.from_bytes(references[TREE].to_bytes()).embedding, e)
    query = _recoloured_captioned_crop(WORKS[TREE], 60)
    assert len(query.embedding) == 0 and len(Fingerprint.from_bytes(query.to_bytes()).embedding) == 0


def test_a_copy_descriptor_is_nearest_its_own_work(references: list[Fingerprint]) -> None:
    works = np.stack([fp.embedding for fp in references])
    for key, hue in ((TREE, 60), (TREE, 140), (SEASCAPE, 140)):
        query = _recoloured_captioned_crop(WORKS[key], hue)
        assert query.thumbnail is not None
        sims = _cosines(copy_embedding.embed(query.thumbnail), works)
        assert int(np.argmax(sims)) == key, sims


@pytest.mark.parametrize(
    ("key", "hue", "where"), [(TREE, 60, "centre"), (SEASCAPE, 140, "centre"), (PEACH, 140, "top-left")]
)
def test_a_recoloured_captioned_crop_is_found_by_the_descriptor_alone(
    engine: Engine, key: int, hue: int, where: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    query = _recoloured_captioned_crop(WORKS[key], hue, where)
    found = [m for m in engine.search(query) if m.verdict == "match"]
    assert [m.key for m in found] == [key], found
    assert found[0].kind == "partial" and found[0].region is not None
    # Steps 1-5 of the cascade miss it: the step is what finds it.
    monkeypatch.setattr(scoring, "LEARNED_SIMILARITY", 2.0)
    assert key not in _matched(engine, query)


def _no_lightness_step(monkeypatch: pytest.MonkeyPatch) -> None:
    """The step's last resort (``Engine._by_lightness``) off: it finds these copies too."""
    monkeypatch.setattr(scoring, "LIGHTNESS_MATCH", 2.0)
    monkeypatch.setattr(scoring, "LIGHTNESS_SURE_FIT", 2.0)
    monkeypatch.setattr(scoring, "LIGHTNESS_CLEAR_FIT", 2.0)


def test_the_step_needs_the_query_placed_on_the_work(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    query = _recoloured_captioned_crop(WORKS[TREE], 60)
    monkeypatch.setattr(scoring, "LEARNED_INLIERS", 1000)
    _no_lightness_step(monkeypatch)
    assert TREE not in _matched(engine, query)


def test_a_work_that_is_a_background_picture_is_named_by_its_placement(
    engine: Engine, tree_in_the_background: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The tree's copy is as near the tree among the background pictures as the registered tree:
    the step holds the tree to the other background pictures, or it never stands clear of them."""
    _no_lightness_step(monkeypatch)
    query = _recoloured_captioned_crop(WORKS[TREE], 60)
    assert TREE in _matched(engine, query)
    monkeypatch.setattr(scoring, "BACKGROUND_TWIN", 1.01)  # no picture is a twin
    assert TREE not in _matched(engine, query)


def test_unrelated_line_drawings_are_not_named_for_a_lone_registered_one() -> None:
    """The network finds all thin black lines alike: against one registered line drawing, 14 of
    these 40 unrelated ones clear the descriptor margin. None places on it with the inliers the
    step asks for (4 at most), so none is named."""
    work = fingerprint(imagegen.encode(imagegen.black_line_art(1)), role="reference")
    engine = Engine()
    engine.add(1, work)
    cleared = 0
    for seed in range(3, 43):
        drawing = fingerprint(imagegen.encode(imagegen.black_line_art(seed)))
        assert drawing.thumbnail is not None
        query = copy_embedding.embed(drawing.thumbnail)
        _, background = embedding_index.background().nearest(query, 1)
        margin = _cosines(query, work.embedding[None, :])[0] - background[0]
        cleared += margin >= scoring.LEARNED_MARGIN
        assert not _matched(engine, drawing), seed
        assert not engine.search(drawing) or engine.search(drawing)[0].verdict != "match"
    assert cleared >= 10  # the margin alone would have named these


def test_a_work_is_turned_away_when_not_clearly_the_nearest(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    query = _recoloured_captioned_crop(WORKS[TREE], 60)
    monkeypatch.setattr(scoring, "LEARNED_MARGIN", 1.0)
    monkeypatch.setattr(scoring, "LEARNED_VIEW_MARGIN", 1.0)
    _no_lightness_step(monkeypatch)
    assert TREE not in _matched(engine, query)


def test_a_crop_is_clearly_nearest_the_work_by_its_crops(
    engine: Engine, references: list[Fingerprint], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The tree's captioned crop is nearer one of the tree's crops than its whole view, and by
    more than the margin asked of whole views: named even when whole views could not name it."""
    query = _recoloured_captioned_crop(WORKS[TREE], 60)
    assert query.thumbnail is not None
    e = copy_embedding.embed(query.thumbnail)
    tree = references[TREE]
    assert tree.views.shape == (copy_embedding.VIEWS, copy_embedding.DIMENSIONS)
    assert _cosines(e, tree.views).max() > _cosines(e, tree.embedding[None, :])[0] + 0.03  # 0.956, 0.907
    monkeypatch.setattr(scoring, "LEARNED_MARGIN", 1.0)
    assert _matched(engine, query) == [TREE]
    # Only registered works carry crop descriptors; stored with the fingerprint.
    assert np.array_equal(Fingerprint.from_bytes(tree.to_bytes()).views, tree.views)
    assert query.views.shape == (0, copy_embedding.DIMENSIONS)
    assert Fingerprint.from_bytes(query.to_bytes()).views.shape == (0, copy_embedding.DIMENSIONS)


def test_works_without_crop_descriptors_are_named_by_whole_views_only(
    references: list[Fingerprint], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Fingerprints from before the crop descriptors (method 5) index and save without them (no
    views file); ``rights refingerprint`` adds them."""
    engine = Engine(tmp_path)
    for key, fp in enumerate(references):
        engine.add(key, dataclasses.replace(fp, views=copy_embedding.NO_VIEWS, method=5))
    query = _recoloured_captioned_crop(WORKS[TREE], 60)
    assert _matched(engine, query) == [TREE]  # by the whole view
    monkeypatch.setattr(scoring, "LEARNED_MARGIN", 1.0)
    assert TREE not in _matched(engine, query)
    engine.save()
    assert not list(tmp_path.glob("views.*.npy"))
    assert TREE not in _matched(Engine(tmp_path), query)
    assert dataclasses.replace(references[TREE], views=copy_embedding.NO_VIEWS, method=5).outdated


def test_with_one_work_registered_the_background_is_the_rival(references: list[Fingerprint]) -> None:
    """A lone work is nearer than every other registered one to anything: the background
    descriptors keep unrelated pictures from matching it on the descriptor."""
    engine = Engine()
    engine.add(TREE, references[TREE])
    for key in (3, 7, 26):  # other sample works, recoloured and captioned, against the tree alone
        assert not _matched(engine, _recoloured_captioned_crop(WORKS[key], 60))
    assert _matched(engine, _recoloured_captioned_crop(WORKS[TREE], 60)) == [TREE]
    assert len(embedding_index.background()) > 1000


def _contested_margin(references: list[Fingerprint], query: Fingerprint) -> float:
    """A crop-view margin that the next work fails and the background pictures pass, for
    ``query`` against ``references`` (each work's nearest view, whole or cropped)."""
    assert query.thumbnail is not None
    e = copy_embedding.embed(query.thumbnail)
    near = sorted(
        max(_cosines(e, fp.embedding[None, :])[0], _cosines(e, fp.views).max()) for fp in references
    )
    _, unrelated = embedding_index.background().nearest(e, 1)
    background = max(float(unrelated[0]), embedding_index.background_view_similarity(e))
    over_next, over_background = near[-1] - near[-2], near[-1] - background
    assert over_background > over_next + 0.005, (over_next, over_background)  # 0.263, 0.276
    return (over_next + over_background) / 2


def test_works_as_near_as_the_nearest_are_told_apart_by_placement(
    engine: Engine, references: list[Fingerprint], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The seascape's captioned crop with the margin set between the next work's (the peach) and
    the background pictures': the seascape is named only because the query, a crop of it, places
    on it with the inliers a contested work needs and not on the peach."""
    query = _recoloured_captioned_crop(WORKS[SEASCAPE], 140)
    monkeypatch.setattr(scoring, "LEARNED_MARGIN", 1.0)  # whole views name nothing
    monkeypatch.setattr(scoring, "LEARNED_VIEW_MARGIN", _contested_margin(references, query))
    monkeypatch.setattr(scoring, "LEARNED_CONTESTED_INLIERS", scoring.LEARNED_INLIERS)
    _no_lightness_step(monkeypatch)  # far ahead of the background, it would name the seascape too
    assert _matched(engine, query) == [SEASCAPE]
    monkeypatch.setattr(scoring, "LEARNED_CONTESTED_SHOWN", 0.0)  # as if it showed the whole work
    assert SEASCAPE not in _matched(engine, query)
    monkeypatch.setattr(scoring, "LEARNED_CONTESTED_SHOWN", 0.85)
    monkeypatch.setattr(scoring, "LEARNED_CONTESTED_INLIERS", 1000)
    assert SEASCAPE not in _matched(engine, query)


def test_a_work_registered_twice_is_not_named_by_the_descriptor_over_its_twin(
    references: list[Fingerprint], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The twin is as near and places as well: the descriptor's order between the two means
    nothing, so neither is named by it (the rival's share is what refuses it)."""
    engine = Engine()
    for key, fp in enumerate(references):
        engine.add(key, fp)
    engine.add(100, references[SEASCAPE])
    query = _recoloured_captioned_crop(WORKS[SEASCAPE], 140)
    assert not {SEASCAPE, 100} & set(_matched(engine, query))
    monkeypatch.setattr(scoring, "LEARNED_RIVAL_SHARE", 2.0)  # no rival places twice as well
    assert {SEASCAPE, 100} & set(_matched(engine, query))


def test_a_removed_work_is_not_found_by_the_descriptor(engine: Engine) -> None:
    query = _recoloured_captioned_crop(WORKS[TREE], 60)
    assert engine.remove(TREE)
    assert TREE not in _matched(engine, query)
    assert not [m for m in engine.search(query) if m.key == TREE]


def test_descriptors_survive_save_and_load(engine: Engine, tmp_path: Path) -> None:
    query = _recoloured_captioned_crop(WORKS[TREE], 60)
    engine.directory = tmp_path
    engine.save()
    loaded = Engine(tmp_path)
    assert np.array_equal(loaded._works[TREE].embedding, engine._works[TREE].embedding)
    for key in range(len(WORKS)):
        assert np.array_equal(loaded._works[key].views, engine._works[key].views)
    assert loaded._works[TREE].views.shape == (copy_embedding.VIEWS, copy_embedding.DIMENSIONS)
    assert loaded.search(query) == engine.search(query)
    assert TREE in _matched(loaded, query)


def test_a_large_registry_loads_every_descriptor_in_slices(
    engine: Engine, references: list[Fingerprint], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A million works' descriptors are indexed a slice at a time at load (FAISS copies each slice
    to float32); slices of 4 here, so the works fall across several, the last one short."""
    monkeypatch.setattr(engine_module, "_EMBEDDING_SLICE", 4)
    engine.directory = tmp_path
    engine.save()
    loaded = Engine(tmp_path)
    assert len(loaded._embeddings) == len(references) > 4 * 2
    assert len(references) % 4
    for key, fp in enumerate(references):
        keys, cosines = loaded._embeddings.nearest(fp.embedding, 1)
        assert keys[0] == key and cosines[0] > 0.99


def test_works_without_a_descriptor_are_searched_as_before(
    references: list[Fingerprint], tmp_path: Path
) -> None:
    """Fingerprints from before the descriptor (method 4) index and save without one; the step
    then has nothing to name, and ``rights refingerprint`` adds them."""
    engine = Engine(tmp_path)
    for key, fp in enumerate(references):
        none = {"embedding": copy_embedding.EMPTY, "views": copy_embedding.NO_VIEWS}
        engine.add(key, dataclasses.replace(fp, **none, method=4))
    assert not engine._works[TREE].embedding.any()
    query = _recoloured_captioned_crop(WORKS[TREE], 60)
    assert TREE not in _matched(engine, query)
    engine.save()
    assert TREE not in _matched(Engine(tmp_path), query)
    assert dataclasses.replace(references[TREE], embedding=copy_embedding.EMPTY, method=4).outdated


def test_a_picture_cut_from_a_page_is_not_named_by_the_descriptor(engine: Engine) -> None:
    """Page items and salient regions are small cut-outs: a patch of a photo tile named a
    neighbouring tile of the same photo, and the thresholds were chosen on whole queries."""
    query = _recoloured_captioned_crop(WORKS[TREE], 60)
    assert TREE in _matched(engine, query)
    assert TREE not in _matched(engine, dataclasses.replace(query, page_item=True))


def test_a_views_file_of_the_wrong_shape_is_refused_at_load(engine: Engine, tmp_path: Path) -> None:
    """A crop-descriptor file whose rows do not match the works (a file from another generation,
    checksums rewritten to match) fails the load with a message naming it, not a wrong search."""
    engine.directory = tmp_path
    engine.save()
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    name = manifest["files"]["views"]
    np.save(tmp_path / name, np.zeros((3, copy_embedding.VIEWS, copy_embedding.DIMENSIONS), np.int8))
    manifest["crc32"][name] = zlib.crc32((tmp_path / name).read_bytes())
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ValueError, match="not one row of crop descriptors a work"):
        index_files.read(tmp_path, flat_limit=1000, default_features_per_work=384, size_of=lambda s: s)


@pytest.mark.parametrize("cut", ["whole", "page item", "no local features"])
def test_the_descriptors_nearest_works_are_weak_candidates_only(
    engine: Engine, references: list[Fingerprint], monkeypatch: pytest.MonkeyPatch, cut: str
) -> None:
    """An unregistered picture nothing matches: a ranking evaluation (``search(min_score=0)``) gets
    the descriptor's three nearest works by views as candidates below `review`, the nearest
    first; the default search shows none of them. So do a picture cut from a page and one too
    small for local features, which the descriptor never names a work for."""
    picture = fingerprint(imagegen.encode(imagegen.artwork(11)))
    assert picture.thumbnail is not None
    if cut == "page item":
        picture = dataclasses.replace(picture, page_item=True)
    elif cut == "no local features":
        picture = dataclasses.replace(picture, local=local_features.NONE, mirrored=local_features.NONE)
    assert engine.search(picture) == []
    e = copy_embedding.embed(picture.thumbnail)
    by_views = [max(_cosines(e, fp.views).max(), _cosines(e, fp.embedding[None, :])[0]) for fp in references]
    nearest = [int(k) for k in np.argsort(by_views)[::-1][:3]]
    weak = engine.search(picture, min_score=0.0)
    assert all(m.verdict == "" and m.score < scoring.REVIEW_THRESHOLD for m in weak)
    suggested = {m.key: m.score for m in weak}
    assert set(nearest) <= set(suggested)
    assert suggested[nearest[0]] == max(suggested[k] for k in nearest)
    monkeypatch.setattr(engine_module, "_SUGGESTED", 0)
    assert not set(nearest) <= {m.key for m in engine.search(picture, min_score=0.0)}


def test_a_suggestion_rises_with_its_lead_and_stays_within_bounds() -> None:
    clear = scoring.suggestion(0.8, 0.1, 0.2)
    crowded = scoring.suggestion(0.8, 0.0, 0.0)
    behind_background = scoring.suggestion(0.8, 0.0, -0.1)
    assert clear > crowded > behind_background
    assert scoring.suggestion(0.99, 0.5, 0.5) == 1.0 and scoring.suggestion(-0.5, 0.0, -0.5) == 0.0
    assert scoring.weak_score(0, None, 0.0, 1.0) < scoring.REVIEW_THRESHOLD
