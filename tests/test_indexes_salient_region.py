"""A drawing printed on a product photo is found through the photo's salient region
(``indexes.salient_region``), searched as a picture of its own when the page matches nothing."""

from __future__ import annotations

import random

import cv2
import numpy as np
import pytest
from PIL import Image

from indexes import Engine, fingerprint
from indexes import fingerprinting as fingerprinting_module
from indexes.geometry import overlap_area
from indexes.global_hashes import thumbnail
from indexes.salient_region import salient_region
from tests import imagegen


def _fabric(seed: int, side: int = 900) -> Image.Image:
    """A garment-like photo: a colour with soft blotches and fine grain."""
    gen = np.random.default_rng(seed)
    blotches = Image.fromarray(gen.integers(0, 255, (side // 40 + 2,) * 2, dtype=np.uint8))
    coarse = np.asarray(blotches.resize((side, side), Image.Resampling.BICUBIC), np.float32)
    grain = cv2.GaussianBlur(gen.normal(0, 40, (side, side)).astype(np.float32), (0, 0), 1)
    shade = (coarse - 128) * 0.25 + grain * 0.5
    base = np.array([40, 90, 160], np.float32)
    return Image.fromarray(np.clip(base + shade[..., None], 0, 255).astype(np.uint8))


@pytest.mark.parametrize("seed", range(3))
def test_the_region_boxes_the_drawing_not_the_fabric(seed: int) -> None:
    photo = _fabric(seed)
    drawing = imagegen.artwork(600 + seed).resize((270, 202))
    where = (300 + 40 * seed, 320, drawing.width, drawing.height)
    photo.paste(drawing, where[:2])
    small = thumbnail(np.asarray(photo))
    f = photo.width / small.shape[1]
    box = salient_region(small)
    assert box is not None
    found = tuple(round(v * f) for v in box)
    area = found[2] * found[3]
    assert overlap_area(found, where) >= 0.95 * where[2] * where[3], (found, where)  # all of it
    assert area <= 1.5 * where[2] * where[3], (found, where)  # and little fabric
    assert salient_region(thumbnail(np.asarray(_fabric(seed)))) is None  # the fabric alone has none


def test_a_print_the_page_misses_is_found_as_a_partial_copy(monkeypatch: pytest.MonkeyPatch) -> None:
    """A line drawing printed at a third of a textured photo's width: the fabric's grain takes
    the page's descriptors, and only the drawing's region, cut out and enlarged, matches."""
    from benchmarks.unseen_transforms import mockup

    drawing = imagegen.black_line_art(502)
    engine = Engine()
    engine.add(1, fingerprint(imagegen.encode(drawing), role="reference"))
    photo, quality = mockup(drawing.convert("RGBA"), random.Random(2))
    data = imagegen.encode(photo, "JPEG", quality=quality)

    query = fingerprint(data)
    assert len(query.items) == 1
    found = [m for m in engine.search(query) if m.verdict == "match"]
    assert [(m.key, m.kind) for m in found] == [(1, "partial")], found
    (box,) = query.items.boxes()
    region = found[0].region
    assert region is not None and overlap_area(region, box) >= 0.9 * region[2] * region[3]

    monkeypatch.setattr(fingerprinting_module, "salient_region", lambda rgb: None)
    without = fingerprint(data)
    assert len(without.items) == 0
    assert not [m for m in engine.search(without) if m.verdict == "match"]


def test_a_page_with_items_keeps_them() -> None:
    """The salient region stands in only where the page has no items of its own."""
    grid, _ = imagegen.product_grid([imagegen.artwork(700 + k) for k in range(6)])
    query = fingerprint(imagegen.encode(grid, "JPEG", quality=90))
    assert len(query.items) > 1


@pytest.mark.parametrize(
    "rgb",
    [
        np.full((170, 256, 3), 200, np.uint8),  # a plain fill: no edge at all
        np.zeros((3, 256, 3), np.uint8),  # a strip
        np.random.default_rng(1).integers(0, 256, (12, 9, 3), dtype=np.uint8),  # tiny and all edges
        np.random.default_rng(2).integers(
            0, 256, (170, 256, 3), dtype=np.uint8
        ),  # noise: one patch, all of it
    ],
)
def test_no_region_in_what_has_no_drawing_of_a_pictures_size(rgb: np.ndarray) -> None:
    assert salient_region(rgb) is None
