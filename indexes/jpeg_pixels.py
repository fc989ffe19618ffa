"""JPEG pixels decoded by OpenCV straight into a numpy array.

Pillow decodes into its own buffer, and copying that out to numpy (``np.asarray``) cost 2.2 ms of
a 1 MP JPEG's 5.2 ms decode. OpenCV's libjpeg-turbo writes the array itself, with the same
DCT-domain scale, IDCT and upsampling, so its pixels were identical to Pillow's on every JPEG we
compared (``tests/test_indexes_jpeg_pixels.py``). Pillow still reads the header first: it checks
the dimensions and picks the scale (``Image.draft``); any file this path is unsure of goes back to
Pillow, whose errors are the typed ones.
"""

from __future__ import annotations

import cv2
import numpy as np
from PIL import Image

# OpenCV reduces a JPEG while decoding by these factors, as ``Image.draft`` does. The flag bits
# of the scale alone: OpenCV refuses its REDUCED_COLOR flags (which mean BGR) with RGB output.
_REDUCED = {
    1: 0,
    2: cv2.IMREAD_REDUCED_COLOR_2 & ~cv2.IMREAD_COLOR,
    4: cv2.IMREAD_REDUCED_COLOR_4 & ~cv2.IMREAD_COLOR,
    8: cv2.IMREAD_REDUCED_COLOR_8 & ~cv2.IMREAD_COLOR,
}
# RGB output arrived in OpenCV 4.10; older builds keep Pillow's decoder.
_COLOR_RGB = getattr(cv2, "IMREAD_COLOR_RGB", None)
_END_OF_IMAGE = b"\xff\xd9"


def jpeg_pixels(data: bytes, stored_size: tuple[int, int], drafted: Image.Image) -> np.ndarray | None:
    """``data`` decoded at the size of ``drafted`` (the JPEG opened by Pillow, ``draft`` applied;
    ``stored_size`` is its size before) as H x W x 3 RGB, as stored (no EXIF orientation), or
    None when Pillow should decode it.

    A file must end with its end-of-image marker: libjpeg only warns about a truncated file, and
    OpenCV would hand back its missing rows grey, where Pillow raises."""
    if _COLOR_RGB is None or drafted.mode not in ("RGB", "L") or not data.endswith(_END_OF_IMAGE):
        return None
    width, height = drafted.size
    scale = next((s for s in _REDUCED if _reduced(stored_size, s) == (width, height)), None)
    if scale is None:
        return None
    flags = _COLOR_RGB | _REDUCED[scale] | cv2.IMREAD_IGNORE_ORIENTATION
    try:
        pixels = cv2.imdecode(np.frombuffer(data, np.uint8), flags)
    except cv2.error:
        return None
    if pixels is None or pixels.shape != (height, width, 3):
        return None
    return pixels


def _reduced(size: tuple[int, int], scale: int) -> tuple[int, int]:
    """libjpeg's output size at 1/``scale``: each side rounded up."""
    return -(-size[0] // scale), -(-size[1] // scale)


# Each EXIF orientation's transposition (as ``decode._TRANSPOSE``), on an H x W x C array.
_ORIENT = {
    2: lambda a: a[:, ::-1],
    3: lambda a: a[::-1, ::-1],
    4: lambda a: a[::-1],
    5: lambda a: a.transpose(1, 0, 2),
    6: lambda a: np.rot90(a, -1),
    7: lambda a: a[::-1, ::-1].transpose(1, 0, 2),
    8: lambda a: np.rot90(a, 1),
}


def oriented(pixels: np.ndarray, orientation: int) -> np.ndarray:
    """``pixels`` turned and mirrored upright for an EXIF orientation (1-8), C-contiguous."""
    turn = _ORIENT.get(orientation)
    return pixels if turn is None else np.ascontiguousarray(turn(pixels))
