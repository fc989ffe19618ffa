"""JPEGs decoded by OpenCV give Pillow's pixels; files it is unsure of go back to Pillow."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from indexes import TruncatedImageError, decode_image
from indexes.decode import _TRANSPOSE
from indexes.jpeg_pixels import jpeg_pixels, oriented
from tests import imagegen


def _pillow_pixels(data: bytes, max_side: int) -> np.ndarray:
    im = Image.open(io.BytesIO(data))
    im.draft("RGB", (max_side, max_side))
    return np.asarray(im.convert("RGB"))


def _opencv_pixels(data: bytes, max_side: int) -> np.ndarray | None:
    im = Image.open(io.BytesIO(data))
    stored = im.size
    im.draft("RGB", (max_side, max_side))
    return jpeg_pixels(data, stored, im)


@pytest.mark.parametrize(
    ("size", "options", "max_side"),
    [
        ((480, 360), {"quality": 90}, 1024),  # 4:2:0, full size
        ((2100, 1500), {"quality": 75}, 1024),  # reduced 1/2 while decoding
        ((4200, 3000), {"quality": 75, "subsampling": 0}, 640),  # 1/4, 4:4:4
        ((2900, 2600), {"quality": 30, "progressive": True}, 320),  # 1/8, progressive
        ((1025, 777), {"quality": 95, "subsampling": 1}, 1024),  # odd sides, 4:2:2
    ],
)
def test_opencv_decodes_the_pixels_pillow_decodes(
    size: tuple[int, int], options: dict[str, object], max_side: int
) -> None:
    data = imagegen.encode(imagegen.artwork(5, size), "JPEG", **options)

    ours = _opencv_pixels(data, max_side)

    assert ours is not None, "the OpenCV path was not taken"
    theirs = _pillow_pixels(data, max_side)
    assert ours.shape == theirs.shape
    # Identical with the wheels of 2026-12 (libjpeg-turbo in both); one level leaves room for
    # another libjpeg build's rounding.
    assert int(np.abs(ours.astype(np.int16) - theirs).max()) <= 1


def test_a_greyscale_jpeg_becomes_three_equal_channels() -> None:
    data = imagegen.encode(imagegen.artwork(2).convert("L"), "JPEG", quality=85)

    ours = _opencv_pixels(data, 1024)

    assert ours is not None and ours.shape == (360, 480, 3)
    assert np.array_equal(ours[..., 0], ours[..., 2])
    assert int(np.abs(ours.astype(np.int16) - _pillow_pixels(data, 1024)).max()) <= 1


@pytest.mark.parametrize("orientation", range(1, 9))
def test_each_exif_orientation_turns_as_pillow_does(orientation: int) -> None:
    pixels = np.random.default_rng(orientation).integers(0, 256, (5, 7, 3), dtype=np.uint8)

    turned = oriented(pixels, orientation)

    expected = Image.fromarray(pixels)
    if orientation in _TRANSPOSE:
        expected = expected.transpose(_TRANSPOSE[orientation])
    assert np.array_equal(turned, np.asarray(expected))
    assert turned.flags["C_CONTIGUOUS"]


def test_a_truncated_jpeg_goes_back_to_pillow_and_is_refused() -> None:
    data = imagegen.encode(imagegen.artwork(4, (800, 600)), "JPEG", quality=90)
    cut = data[: len(data) * 2 // 3]

    assert _opencv_pixels(cut, 1024) is None  # libjpeg would only warn and grey the missing rows
    with pytest.raises(TruncatedImageError):
        decode_image(cut)


def test_bytes_after_the_end_marker_go_back_to_pillow_and_decode() -> None:
    data = imagegen.encode(imagegen.artwork(4), "JPEG", quality=90) + b"\0\0trailer"

    assert _opencv_pixels(data, 1024) is None
    assert decode_image(data).rgb.shape == (360, 480, 3)


def test_a_cmyk_jpeg_goes_back_to_pillow() -> None:
    data = imagegen.encode(imagegen.artwork(4).convert("CMYK"), "JPEG", quality=90)

    assert _opencv_pixels(data, 1024) is None
    assert decode_image(data).rgb.shape == (360, 480, 3)
