"""The benchmark's query transforms are deterministic and produce usable images."""

import numpy as np
import pytest
from PIL import Image, ImageDraw

from benchmarks import transforms


def _work() -> Image.Image:
    img = Image.new("RGBA", (160, 120), (0, 0, 0, 0))
    d = ImageDraw.Draw(img)
    d.ellipse((10, 10, 110, 100), fill=(200, 30, 30, 255))
    d.rectangle((70, 40, 150, 110), fill=(20, 90, 220, 255))
    return img


def test_there_are_at_least_16_transforms_in_four_families() -> None:
    assert len(transforms.TRANSFORMS) >= 16
    assert {t.family for t in transforms.TRANSFORMS} == set(transforms.FAMILIES)


@pytest.mark.parametrize("t", transforms.TRANSFORMS, ids=lambda t: t.name)
def test_transform_is_deterministic(t: transforms.Transform) -> None:
    a, qa = transforms.apply(_work(), "clipart/x", t, seed=7)
    b, qb = transforms.apply(_work(), "clipart/x", t, seed=7)
    assert qa == qb
    assert a.mode == "RGB" and min(a.size) >= 8
    assert np.array_equal(np.asarray(a), np.asarray(b))


def test_background_is_white_for_about_three_quarters() -> None:
    names = [f"clipart/{i}" for i in range(400)]
    white = sum(transforms.background_for(n, 0) == (255, 255, 255) for n in names)
    assert 250 < white < 350
