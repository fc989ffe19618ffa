"""pHash agreement lifts a drifted whole-image PDQ distance to `match`, and nothing else."""

from __future__ import annotations

import dataclasses
import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFilter

from indexes import Engine, Fingerprint, Match, fingerprint, global_hashes, scoring
from indexes.content_box import content_box
from indexes.engine import PDQ_CANDIDATE_DISTANCE
from indexes.local_features import NONE
from tests import imagegen
from tests.imagegen import blurred_capitol, pixelated_capitol


def test_a_drifted_pdq_reaches_match_only_when_phash_agrees() -> None:
    at_match = scoring.near_score(20)
    assert scoring.corroborated_near_score(30, 6) == at_match
    assert scoring.corroborated_near_score(44, 0) == at_match
    assert scoring.corroborated_near_score(30, 7) == scoring.near_score(30) < scoring.MATCH_THRESHOLD
    # A whole upload's PDQ may drift to the candidate distance; an item cut from a page only
    # through the fade.
    assert scoring.corroborated_near_score(63, 6) == at_match
    assert scoring.corroborated_near_score(64, 0) == scoring.near_score(64) == 0.0
    assert scoring.phash_may_corroborate(PDQ_CANDIDATE_DISTANCE)  # no candidate beyond it
    assert scoring.corroborated_near_score(44, 0, cut_from_page=True) == at_match
    assert scoring.corroborated_near_score(45, 0, cut_from_page=True) == scoring.near_score(45) == 0.0
    assert scoring.corroborated_near_score(30, None) == scoring.near_score(30)
    # Within 20 bits PDQ alone already decides, and pHash never lowers it.
    assert scoring.corroborated_near_score(12, 60) == scoring.near_score(12)


def _bits(a: np.ndarray, b: np.ndarray) -> int:
    return int(global_hashes.hamming(a, b))


@pytest.fixture(scope="module")
def reference() -> Fingerprint:
    return fingerprint(imagegen.CAPITOL.read_bytes(), role="reference")


def _hashes_only(data: bytes) -> Fingerprint:
    """The copy's whole-image evidence only: its ORB features add evidence of their own, which
    would blur what the hashes decide."""
    return dataclasses.replace(fingerprint(data), local=NONE, mirrored=NONE)


def _blurred_copy() -> Fingerprint:
    return _hashes_only(blurred_capitol())


def _pdq_bits(copy: Fingerprint, work: Fingerprint, view: int = 0) -> int:
    """The copy's ``view`` against the work's whole views, in the closest orientation."""
    return min(_bits(copy.pdq[view, i], work.pdq[j, 0]) for i in range(8) for j in range(len(work.pdq)))


def _matched_only_through_phash(work: Fingerprint, copy: Fingerprint) -> Match:
    """The copy's best `match` with the work indexed; without the work's pHash (an index saved
    before format 6) the copy is not matched."""
    engine = Engine()
    engine.add(1, work)
    found = engine.search(copy)
    assert found and found[0].key == 1 and found[0].verdict == "match", found
    without = Engine()
    without.add(1, dataclasses.replace(work, phash=np.zeros(0, np.uint8)))
    assert not any(m.verdict == "match" for m in without.search(copy))
    return found[0]


def test_a_blurred_copy_is_matched_through_phash_agreement(reference: Fingerprint) -> None:
    copy = _blurred_copy()
    # The premise: PDQ drifted into the band where it alone cannot reach `match`; pHash did not.
    assert 20 < _pdq_bits(copy, reference) <= 44
    assert _bits(global_hashes.phash(copy.thumbnail), reference.phash) <= 6
    assert _matched_only_through_phash(reference, copy).kind == "near"


def test_a_pixelated_upload_is_matched_through_phash_but_not_as_a_page_item(reference: Fingerprint) -> None:
    copy = _hashes_only(pixelated_capitol())
    assert 44 < _pdq_bits(copy, reference) <= 63  # past the fade: PDQ alone gives nothing
    assert _bits(global_hashes.phash(copy.thumbnail), reference.phash) <= 6
    assert _matched_only_through_phash(reference, copy).kind == "near"
    # The same pixels as an item cut from a listing page: simple shapes there (a two-colour
    # swatch) agree with banded flags' pHash, so the band stops at 44 bits.
    engine = Engine()
    engine.add(1, reference)
    as_item = dataclasses.replace(copy, page_item=True)
    assert not any(m.verdict == "match" for m in engine.search(as_item))


def test_a_framed_copy_is_corroborated_by_the_phash_of_its_content(reference: Fingerprint) -> None:
    """The frame moves the whole picture's pHash; the content inside it, whose PDQ found the work,
    still agrees."""
    blurred = Image.open(io.BytesIO(blurred_capitol())).convert("RGB")
    copy = _hashes_only(imagegen.encode(imagegen.frame(blurred, border=0.2)))
    assert _bits(global_hashes.phash(copy.thumbnail), reference.phash) > 6
    box = content_box(copy.thumbnail)
    assert box is not None
    x, y, w, h = box
    assert _bits(global_hashes.phash(copy.thumbnail[y : y + h, x : x + w]), reference.phash) <= 6
    _matched_only_through_phash(reference, copy)


def test_a_listing_pages_panel_is_corroborated_by_its_own_phash() -> None:
    """A blurred work shown in a listing page's panel: the panel's PDQ drifted into the band, and
    the pHash of the panel (not of the page) agrees."""
    art = imagegen.artwork(6, (320, 320))
    work = fingerprint(imagegen.encode(art), role="reference")
    page, _ = imagegen.listing_page(art.filter(ImageFilter.GaussianBlur(10)), seed=5)
    copy = _hashes_only(imagegen.encode(page, "JPEG", quality=85))
    assert copy.panels
    assert 20 < _pdq_bits(copy, work, view=len(copy.pdq) - len(copy.panels)) <= 44
    assert _bits(global_hashes.phash(copy.thumbnail), work.phash) > 6  # the page's own pHash
    assert _matched_only_through_phash(work, copy).kind == "partial"


def test_phash_survives_save_and_load_and_an_older_index_loads_without_it(
    reference: Fingerprint, tmp_path: Path
) -> None:
    copy = _blurred_copy()
    saved = Engine(tmp_path / "index")
    saved.add(1, reference)
    saved.save()
    assert Engine(tmp_path / "index").search(copy)[0].verdict == "match"

    # Rewrite the files as format 5 wrote them: no pHash arrays.
    manifest_path = tmp_path / "index" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    works = tmp_path / "index" / manifest["files"]["works"]
    with np.load(works) as z:
        arrays = {name: z[name] for name in z.files if name not in ("phash", "has_phash")}
    with open(works, "wb") as fh:
        np.savez(fh, **arrays)
    del manifest["crc32"]  # format 5 kept none
    manifest_path.write_text(json.dumps({**manifest, "format": 5}))
    old = Engine(tmp_path / "index")
    assert len(old) == 1
    assert not any(m.verdict == "match" for m in old.search(copy))  # searched as before
    assert old.search(fingerprint(imagegen.CAPITOL.read_bytes()))[0].verdict == "match"


def test_a_loaded_index_has_the_phash_ready_before_its_first_search(
    tmp_path: Path, reference: Fingerprint
) -> None:
    """The first pHash of a process imports SciPy (~0.2 s): loading works does it, so the first
    query a pHash corroborates is not the one that waits (the scale benchmark's p99 did)."""
    saved = Engine(tmp_path / "index")
    saved.add(1, reference)
    saved.save()
    script = (
        "import sys, numpy as np\n"
        "from indexes import Engine, global_hashes\n"
        f"Engine({str(tmp_path / 'index')!r})\n"
        "before = set(sys.modules)\n"
        "global_hashes.phash(np.zeros((64, 64, 3), np.uint8))\n"
        "print(sorted(set(sys.modules) - before))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
