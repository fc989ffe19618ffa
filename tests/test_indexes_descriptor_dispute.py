"""The copy descriptor's second opinion on weak whole-copy `match`es (``verdicts._descriptor_disputes``):
art sharing a template is held at `review`, true copies are not, in whatever turn they were found."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFilter

from indexes import Engine, Fingerprint, fingerprint, global_hashes, scoring, verdicts
from tests import imagegen


@pytest.mark.parametrize("mirrored", [False, True])
@pytest.mark.parametrize("quarter_turns", [0, 1, 2, 3])
def test_the_turn_of_the_pdq_variant_that_matched_brings_the_query_back_upright(
    mirrored: bool, quarter_turns: int
) -> None:
    """A copy turned or mirrored is found by one of its 8 PDQ variants; the descriptor is then
    taken of the query turned that variant's way, which must be the work the right way up."""
    work = np.asarray(imagegen.artwork(5, (300, 200)))
    copy = np.ascontiguousarray(np.rot90(work[:, ::-1] if mirrored else work, quarter_turns))
    variants, _quality = global_hashes.pdq_dihedral(copy)
    upright, _quality = global_hashes.pdq(work)
    found = int(np.argmin(global_hashes.hamming(variants, upright[None, :])))
    flip, turns = verdicts._TURNS[found]
    assert np.array_equal(np.rot90(copy[:, ::-1] if flip else copy, turns), work)


WORKS = sorted((Path(__file__).parent.parent / "samples" / "works").glob("*.png"))
PIECE, OTHER_PIECE = 0, 1  # jigsaw_blue_01 and _09: registered, with the 30 sample works


@pytest.fixture(scope="module")
def engine() -> Engine:
    engine = Engine()
    pieces = [imagegen.sample("jigsaw_blue_01"), imagegen.sample("jigsaw_blue_09")]
    for key, data in enumerate(pieces + [p.read_bytes() for p in WORKS]):
        engine.add(key, fingerprint(data, role="reference"))
    return engine


def _flat(name: str) -> Image.Image:
    art = imagegen.sample_image(name)
    return Image.alpha_composite(Image.new("RGBA", art.size, (255, 255, 255, 255)), art).convert("RGB")


def _blurred(name: str) -> Fingerprint:
    return fingerprint(imagegen.encode(_flat(name).filter(ImageFilter.GaussianBlur(2.5)), "JPEG", quality=90))


def _on_a_listing_page(name: str) -> Fingerprint:
    page, _box = imagegen.listing_page(_flat(name))
    return fingerprint(imagegen.encode(page, "JPEG", quality=90))


def _matched(engine: Engine, fp: Fingerprint) -> list[int]:
    return [m.key for m in engine.search(fp) if m.verdict == "match"]


def test_a_piece_of_the_same_jigsaw_set_is_held_at_review(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another piece of the set, blurred: ORB places it on a registered piece and the edges agree
    (the outline is the template), but the descriptor sees a different picture."""
    other = _blurred("jigsaw_blue_03")
    found = {m.key: m.verdict for m in engine.search(other)}
    assert "match" not in found.values()
    assert found.get(OTHER_PIECE) == "review"  # still shown to a reviewer
    monkeypatch.setattr(scoring, "DISPUTED_COSINE", -1.0)  # the second opinion switched off
    assert _matched(engine, other)


def test_a_true_copy_of_a_piece_keeps_its_match(engine: Engine) -> None:
    assert _matched(engine, _blurred("jigsaw_blue_01")) == [PIECE]


def test_a_piece_of_the_set_on_a_listing_page_is_held_at_review(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The work sits inside a page: the placed region is described, not the whole page."""
    page = _on_a_listing_page("jigsaw_blue_03")
    found = {m.key: m.verdict for m in engine.search(page)}
    assert "match" not in found.values() and found.get(PIECE) == "review"
    monkeypatch.setattr(scoring, "DISPUTED_COSINE", -1.0)
    assert _matched(engine, page) == [PIECE]


def test_the_registered_piece_on_a_listing_page_keeps_its_match(engine: Engine) -> None:
    assert _matched(engine, _on_a_listing_page("jigsaw_blue_01")) == [PIECE]
