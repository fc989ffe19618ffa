"""Exclusive placements: a copy whose descriptors other works crowd out of the index's nearest
neighbours is still found by matching it against the work alone, but only when that work stands
clear of the other candidates (``Engine._exclusive``)."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from indexes import Engine, Fingerprint, fingerprint, geometry, scoring, work_matching
from indexes import engine as engine_module
from indexes.local_features import LocalFeatures
from tests import imagegen

WORK = imagegen.artwork(301)


@pytest.fixture(scope="module")
def reference() -> Fingerprint:
    return fingerprint(imagegen.encode(WORK), role="reference")


@pytest.fixture(scope="module")
def copy() -> Fingerprint:
    """A centre crop of 75 % under a caption, recoloured, as JPEG."""
    crop = imagegen.crop_fraction(WORK, 0.75, "centre")
    shifted = imagegen.hue_shift(imagegen.caption_bar(crop), 40)
    return fingerprint(imagegen.encode(shifted, "JPEG", quality=60))


def _decoy(base: Fingerprint, local: LocalFeatures, tag: int) -> Fingerprint:
    return dataclasses.replace(base, sha256=f"{tag:064x}", local=local, mirrored=local.head(0))


def crowded_engine(reference: Fingerprint, copy: Fingerprint, *, twin: bool = False) -> Engine:
    """The work (key 1) among three decoys (keys 10-12) that each hold a random 80 % of the copy's
    own descriptors at random places: every copy descriptor's nearest indexed features are then
    mostly decoys', exact, so the ratio test across works leaves the work no votes. ``twin`` adds
    key 2: the work's own features under an unrelated picture's hashes."""
    rng = np.random.default_rng(7)
    unrelated = fingerprint(imagegen.encode(imagegen.artwork(302)), role="reference")
    engine = Engine()
    engine.add(1, reference)
    width, height = unrelated.working_size
    for i in range(3):
        keep = rng.random(len(copy.local)) < 0.8
        points = (rng.random((int(keep.sum()), 2)) * (width, height)).astype(np.float32)
        engine.add(10 + i, _decoy(unrelated, LocalFeatures(points, copy.local.descriptors[keep]), 10 + i))
    if twin:
        engine.add(2, _decoy(unrelated, reference.local, 2))
    return engine


def test_a_crowded_out_copy_is_found_against_the_work_alone(reference, copy, monkeypatch):
    engine = crowded_engine(reference, copy)
    matches = engine.search(copy)
    assert matches and matches[0].key == 1 and matches[0].verdict == "match", matches
    assert matches[0].kind == "partial"
    assert not [m for m in matches if m.key != 1 and m.verdict == "match"], matches
    # Without the pass (no shortlist) the same engine does not find it: the decoys crowd it out.
    # (The copy descriptor's step after it is turned off too: it finds this copy as well.)
    monkeypatch.setattr(engine_module, "_SHORTLIST", 0)
    monkeypatch.setattr(scoring, "LEARNED_SIMILARITY", 2.0)
    assert not [m for m in engine.search(copy) if m.key == 1 and m.verdict == "match"]


def test_no_exclusive_placement_when_another_work_places_as_well(reference, copy, monkeypatch):
    # The copy descriptor's step is off: the twin here is another picture wearing the reference's
    # ORB features, which only this step's look at the whole picture sees through.
    monkeypatch.setattr(scoring, "LEARNED_SIMILARITY", 2.0)
    engine = crowded_engine(reference, copy, twin=True)
    assert not [m for m in engine.search(copy) if m.verdict == "match"]


def test_work_matching_keeps_distinct_nearest_neighbours_only():
    rng = np.random.default_rng(3)
    work = rng.integers(0, 256, (50, 32), dtype=np.uint8)
    query = work[[4, 9, 9]].copy()
    query[2, :4] ^= 0xFF  # 32 bits away from work row 9: still its nearest, and clearly
    ambiguous = np.concatenate([work, work[[4]]])  # row 4 twice: no longer distinct
    rows, feats = work_matching.correspondences(query, work, 64)
    assert rows.tolist() == [0, 1, 2] and feats.tolist() == [4, 9, 9]
    rows, feats = work_matching.correspondences(query, ambiguous, 64)
    assert rows.tolist() == [1, 2] and feats.tolist() == [9, 9]
    assert len(work_matching.correspondences(query, work, 16)[0]) == 2  # the far one dropped


def test_the_work_alone_is_matched_after_a_save_and_load(reference, copy, tmp_path):
    engine = crowded_engine(reference, copy)
    engine.directory = tmp_path
    engine.save()
    loaded = Engine(tmp_path)
    assert not loaded.loaded_older_format
    assert loaded.search(copy) == engine.search(copy)
    assert loaded.search(copy)[0].key == 1


def test_loaded_descriptors_are_memory_mapped_not_read_into_memory(reference, copy, tmp_path):
    """A million works' descriptors (4.6 GB at 144 features) would not fit the 8 GiB budget."""
    engine = crowded_engine(reference, copy)
    engine.directory = tmp_path
    engine.save()
    described = Engine(tmp_path)._works[1].descriptors
    while not isinstance(described, np.memmap):
        assert described.base is not None, "the descriptors were read into memory"
        described = described.base
    # Saved again by the engine that mapped them: the new generation has them all, the old is gone.
    again = Engine(tmp_path)
    again.save()
    assert Engine(tmp_path).search(copy) == engine.search(copy)
    assert len(list(tmp_path.glob("descriptors.*.npy"))) == 1


def test_an_index_of_format_7_keeps_its_descriptors_in_the_works_file(reference, copy, tmp_path):
    """Format 7 kept the descriptors in the works file: it loads whole, with no rebuild asked."""
    engine = crowded_engine(reference, copy)
    engine.directory = tmp_path
    engine.save()
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    works = tmp_path / manifest["files"]["works"]
    with np.load(works) as z:
        arrays = {name: z[name] for name in z.files}
    arrays["descriptors"] = np.load(tmp_path / manifest["files"].pop("descriptors"))
    with open(works, "wb") as fh:
        np.savez(fh, **arrays)
    manifest["format"] = 7
    del manifest["crc32"]  # the works file changed
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    old = Engine(tmp_path)
    assert not old.loaded_older_format
    assert old.search(copy) == engine.search(copy) and old.search(copy)[0].key == 1


def test_an_index_saved_without_descriptors_loads_as_an_older_format(reference, copy, tmp_path, monkeypatch):
    """Format 6 kept no descriptors per work: its works search as before (no exclusive placements)
    until whoever holds the fingerprints rebuilds, as ``loaded_older_format`` asks. (Nor copy
    descriptors, which this test's files, written now, do hold: that step is off.)"""
    monkeypatch.setattr(scoring, "LEARNED_SIMILARITY", 2.0)
    engine = crowded_engine(reference, copy)
    engine.directory = tmp_path
    engine.save()
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    del manifest["files"]["descriptors"]
    manifest["format"] = 6
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    old = Engine(tmp_path)
    assert old.loaded_older_format
    assert not [m for m in old.search(copy) if m.key == 1 and m.verdict == "match"]


def test_without_exclusive_placements_no_descriptors_are_kept(reference, copy, tmp_path):
    engine = Engine(tmp_path, exclusive_placements=False)
    engine.add(1, reference)
    assert len(engine._works[1].descriptors) == 0
    engine.save()
    assert not Engine(tmp_path, exclusive_placements=False).loaded_older_format
    # An engine that wants them reads that index as one to rebuild from the fingerprints.
    assert Engine(tmp_path).loaded_older_format


def test_work_matching_with_too_little_to_compare_finds_nothing():
    work = np.random.default_rng(5).integers(0, 256, (10, 32), dtype=np.uint8)
    for query, against in ((work[:0], work), (work, work[:1]), (work, work[:0])):
        rows, feats = work_matching.correspondences(query, against, 64)
        assert len(rows) == len(feats) == 0


def _few_inlier_copy(reference: Fingerprint, copy: Fingerprint) -> tuple[Fingerprint, int]:
    """The copy keeping only its first correspondences with the work, as many as leave its placement
    8-14 inliers, as a recoloured crop of a flat drawing keeps few corners."""
    rows, feats = work_matching.correspondences(copy.local.descriptors, reference.local.descriptors, 64)
    for n in range(8, len(rows) + 1):
        keep = rows[:n]
        placement = geometry.verify(
            reference.local.points[feats[:n]], copy.local.points[keep], reference.working_size
        )
        if placement is not None and 8 <= placement.inliers < 15:
            local = LocalFeatures(copy.local.points[keep], copy.local.descriptors[keep])
            return dataclasses.replace(copy, local=local, mirrored=local.head(0)), placement.inliers
    raise AssertionError("no subset of the copy's correspondences places it with 8-14 inliers")


def test_few_inliers_place_a_crowded_out_copy_only_when_its_edges_agree_closely(reference, monkeypatch):
    recoloured = imagegen.hue_shift(imagegen.crop_fraction(WORK, 0.75, "centre"), 40)
    thin, inliers = _few_inlier_copy(reference, fingerprint(imagegen.encode(recoloured, "JPEG", quality=80)))
    assert inliers < engine_module._EXCLUSIVE_INLIERS
    engine = crowded_engine(reference, thin)
    found = [m for m in engine.search(thin) if m.key == 1 and m.verdict == "match"]
    assert found and found[0].kind == "partial", found
    # Its placed edges agree closely (0.9 here); a bar above any correlation turns it away (with
    # the copy descriptor's step off, which finds this recoloured crop too).
    monkeypatch.setattr(scoring, "FEW_INLIERS_EXCLUSIVE_EDGES", 1.01)
    monkeypatch.setattr(scoring, "LEARNED_SIMILARITY", 2.0)
    assert not [m for m in engine.search(thin) if m.key == 1 and m.verdict == "match"]
