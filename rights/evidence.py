"""Small JPEG thumbnails that travel with a case as evidence, and the matched region drawn on them.

Evidence is stored inline (base64 in the case's JSON) rather than as file references so that a notice
or report stays correct even after the listing disappears from the marketplace, which is the point of
a takedown.
"""

from __future__ import annotations

import base64
import io
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageOps

__all__ = ["THUMB_SIDE", "boxed_thumbnail", "data_uri", "pixels_b64", "thumbnail_b64", "thumbnail_jpeg"]

# 256 px is enough for a person to judge "same artwork" side by side and keeps a case near 20 kB.
THUMB_SIDE = 256
JPEG_QUALITY = 80
BOX_COLOUR = (230, 20, 60)


def thumbnail_jpeg(data: bytes, *, side: int = THUMB_SIDE) -> tuple[bytes, tuple[int, int]]:
    """JPEG bytes at most ``side`` px, plus the source size after EXIF orientation (region space)."""
    with Image.open(io.BytesIO(data)) as img:
        full = img.size
        img.draft("RGB", (side, side))  # JPEG: decode at reduced scale, much faster on big photos
        oriented = ImageOps.exif_transpose(img)
        # EXIF orientations 5-8 swap the axes; regions are in the upright image's full-size pixels.
        swapped = (oriented.width > oriented.height) != (img.width > img.height)
        size = (full[1], full[0]) if swapped else full
        return _jpeg(_flatten(oriented), side), size


def _jpeg(rgb: Image.Image, side: int) -> bytes:
    """``rgb`` shrunk in place to at most ``side`` px, as evidence JPEG bytes."""
    rgb.thumbnail((side, side))
    buf = io.BytesIO()
    rgb.save(buf, "JPEG", quality=JPEG_QUALITY, optimize=True)
    return buf.getvalue()


def _flatten(img: Image.Image) -> Image.Image:
    """RGB on white: transparent clip art would otherwise turn black in a JPEG."""
    if img.mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA", "PA"):
        rgba = img.convert("RGBA")
        canvas = Image.new("RGB", rgba.size, (255, 255, 255))
        canvas.paste(rgba, mask=rgba.getchannel("A"))
        return canvas
    return img.convert("RGB")


def pixels_b64(rgb: np.ndarray, *, side: int = THUMB_SIDE) -> str:
    """Base64 JPEG of already-decoded RGB pixels (e.g. a fingerprint's thumbnail), at most ``side`` px:
    a scan has just decoded the listing, so its evidence need not decode it again."""
    img = Image.fromarray(np.ascontiguousarray(rgb, dtype=np.uint8), "RGB")
    return base64.b64encode(_jpeg(img, side)).decode("ascii")


def thumbnail_b64(data: bytes, *, side: int = THUMB_SIDE) -> tuple[str, tuple[int, int]]:
    jpeg, size = thumbnail_jpeg(data, side=side)
    return base64.b64encode(jpeg).decode("ascii"), size


def boxed_thumbnail(thumb_b64: str, region: Any, source_size: Any) -> str:
    """The thumbnail with ``region`` (x, y, w, h in source pixels) outlined; base64 JPEG."""
    raw = base64.b64decode(thumb_b64)
    if not region or not source_size:
        return thumb_b64
    with Image.open(io.BytesIO(raw)) as img:
        rgb = img.convert("RGB")
    sx = rgb.width / max(1, int(source_size[0]))
    sy = rgb.height / max(1, int(source_size[1]))
    x, y, w, h = (float(v) for v in region)
    box = (x * sx, y * sy, (x + w) * sx - 1, (y + h) * sy - 1)
    box = (max(0.0, box[0]), max(0.0, box[1]), min(rgb.width - 1.0, box[2]), min(rgb.height - 1.0, box[3]))
    if box[2] <= box[0] or box[3] <= box[1]:
        return thumb_b64
    ImageDraw.Draw(rgb).rectangle(box, outline=BOX_COLOUR, width=max(2, rgb.width // 100))
    buf = io.BytesIO()
    rgb.save(buf, "JPEG", quality=JPEG_QUALITY)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def data_uri(b64_jpeg: str) -> str:
    return "data:image/jpeg;base64," + b64_jpeg
