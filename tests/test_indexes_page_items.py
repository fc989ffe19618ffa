"""Items laid out on a page (``indexes.page_items``), searched as pictures of their own."""

from __future__ import annotations

import dataclasses

import numpy as np
from PIL import Image, ImageDraw

from indexes import Engine, Fingerprint, fingerprint
from indexes.page_items import MIN_ITEMS, page_items
from tests import imagegen


def _iou(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    w = max(0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    h = max(0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    return w * h / (a[2] * a[3] + b[2] * b[3] - w * h)


def _engine(keys: range) -> Engine:
    engine = Engine()
    for key in keys:
        engine.add(key, fingerprint(imagegen.encode(imagegen.artwork(key)), role="reference"))
    return engine


def test_the_pictures_of_a_product_grid_are_its_items() -> None:
    page, boxes = imagegen.product_grid([imagegen.artwork(s) for s in range(6)], seed=1)
    found = page_items(np.asarray(page))
    assert len(found) == 6
    for box in boxes:  # each picture is one item: not its card, not its title
        assert max(_iou(box, item) for item in found) > 0.9, (box, found)


def test_a_drawing_of_a_few_parts_or_a_picture_filling_the_frame_has_no_items() -> None:
    drawing = Image.new("RGB", (600, 400), (255, 255, 255))
    draw = ImageDraw.Draw(drawing)
    draw.ellipse((40, 60, 240, 260), fill=(200, 40, 40))
    draw.rectangle((320, 80, 520, 300), fill=(40, 40, 200))
    assert page_items(np.asarray(drawing)) == []  # two parts: fewer than MIN_ITEMS
    assert MIN_ITEMS > 2
    assert page_items(np.asarray(imagegen.artwork(3))) == []  # no page around anything


def test_a_registered_work_in_a_product_grid_is_found_where_it_is() -> None:
    """A 120 px thumbnail of a 480 px work on a 1280 px page: a quarter of its registered size,
    so the page's own features miss it (and did, before items were searched)."""
    engine = _engine(range(1, 9))
    pictures = [imagegen.artwork(s) for s in (901, 902, 903, 5, 904, 905)]
    page, boxes = imagegen.product_grid(pictures, seed=2)
    fp = fingerprint(imagegen.encode(page, "JPEG", quality=85))
    assert len(fp.items) == 6
    matches = [m for m in engine.search(fp) if m.verdict == "match"]
    assert [m.key for m in matches] == [5], matches
    assert matches[0].kind == "partial" and _iou(matches[0].region, boxes[3]) > 0.7, matches[0].region
    page_alone = dataclasses.replace(fp, items=())
    assert not [m for m in engine.search(page_alone) if m.verdict == "match"]
    # Items are a fresh fingerprint's only, like its thumbnail: not serialised, not compared.
    again = Fingerprint.from_bytes(fp.to_bytes())
    assert again.items == () and again == fp


def test_a_grid_of_unregistered_pictures_matches_nothing() -> None:
    engine = _engine(range(1, 9))
    page, _ = imagegen.product_grid([imagegen.artwork(s) for s in range(901, 913)], seed=3)
    fp = fingerprint(imagegen.encode(page, "JPEG", quality=85))
    assert len(fp.items) >= 10
    assert not [m for m in engine.search(fp) if m.verdict == "match"]


def test_references_have_no_items() -> None:
    page, _ = imagegen.product_grid([imagegen.artwork(s) for s in range(6)], seed=4)
    assert fingerprint(imagegen.encode(page), role="reference").items == ()
