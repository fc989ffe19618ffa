"""The corpus dedup's sibling hashes: the same drawing on another canvas, turned, or recoloured."""

import random

import numpy as np
from PIL import Image, ImageDraw, ImageOps

from benchmarks.siblings import GREY_SIBLING_BITS, SiblingIndex, sibling_hashes
from tests.imagegen import artwork


def _hashes(img: Image.Image) -> dict:
    return sibling_hashes(img, img.convert("RGB"))


def _on_canvas(img: Image.Image, size: tuple[int, int], at: tuple[int, int]) -> Image.Image:
    canvas = Image.new("RGB", size, (255, 255, 255))
    canvas.paste(img, at)
    return canvas


def _index_of(img: Image.Image) -> SiblingIndex:
    index = SiblingIndex()
    index.add(_hashes(img))
    return index


def test_the_same_drawing_on_a_larger_canvas_turned_is_a_sibling() -> None:
    drawing = artwork(3, (240, 180))
    index = _index_of(_on_canvas(drawing, (300, 220), (20, 20)))
    turned = _on_canvas(drawing.transpose(Image.Transpose.ROTATE_90), (400, 500), (150, 30))
    assert index.is_sibling(_hashes(turned))
    assert index.is_sibling(_hashes(_on_canvas(ImageOps.mirror(drawing), (260, 260), (10, 40))))


def _outlined_shapes(seed: int, *, filled: bool) -> Image.Image:
    """Shapes with black outlines, in colour or (``filled=False``) as black-and-white line art."""
    rng = random.Random(seed)
    img = Image.new("RGB", (320, 240), (255, 255, 255))
    draw = ImageDraw.Draw(img)
    for _ in range(6):
        x, y, w, h = rng.randint(0, 220), rng.randint(0, 150), rng.randint(40, 100), rng.randint(40, 90)
        colour = tuple(rng.randint(0, 255) for _ in range(3))
        shape = draw.ellipse if rng.random() < 0.5 else draw.rectangle
        shape((x, y, x + w, y + h), fill=colour if filled else (255, 255, 255), outline=(0, 0, 0), width=3)
    return img


def test_a_black_and_white_version_is_a_sibling_by_its_edges_alone() -> None:
    colour, line_art = _outlined_shapes(4, filled=True), _outlined_shapes(4, filled=False)
    rec = _hashes(line_art)
    upright = np.asarray(_hashes(colour)["grey"][0], dtype=bool)
    grey_bits = min(int((upright != np.asarray(h, dtype=bool)).sum()) for h in rec["grey"])
    assert grey_bits > GREY_SIBLING_BITS  # the fills differ: grey levels alone would keep both
    assert _index_of(colour).is_sibling(rec)


def test_other_drawings_are_not_siblings() -> None:
    index = SiblingIndex()
    for seed in range(20):
        index.add(_hashes(artwork(seed, (240, 180))))
    assert not any(index.is_sibling(_hashes(artwork(seed, (240, 180)))) for seed in range(100, 120))
