"""Seeded synthetic artworks for scan tests: busy, distinctive compositions the engine can identify."""

from __future__ import annotations

import io
import random

from PIL import Image, ImageDraw, ImageOps


def artwork(seed: int, size: tuple[int, int] = (320, 240)) -> Image.Image:
    """Random shapes, lines and blobs on a random background; different seeds look unrelated."""
    rng = random.Random(seed)
    img = Image.new("RGB", size, tuple(rng.randrange(256) for _ in range(3)))
    draw = ImageDraw.Draw(img)
    w, h = size
    for _ in range(60):
        colour = tuple(rng.randrange(256) for _ in range(3))
        x0, y0 = rng.randrange(w), rng.randrange(h)
        x1, y1 = x0 + rng.randrange(8, w // 3), y0 + rng.randrange(8, h // 3)
        shape = rng.randrange(4)
        if shape == 0:
            draw.rectangle((x0, y0, x1, y1), fill=colour, outline=(0, 0, 0))
        elif shape == 1:
            draw.ellipse((x0, y0, x1, y1), fill=colour, outline=(255, 255, 255))
        elif shape == 2:
            draw.line((x0, y0, x1, y1), fill=colour, width=rng.randrange(1, 6))
        else:
            draw.polygon([(rng.randrange(w), rng.randrange(h)) for _ in range(3)], fill=colour)
    return img


def encode(img: Image.Image, fmt: str = "PNG", **options: object) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **options)
    return buf.getvalue()


def pirate(img: Image.Image, how: str) -> Image.Image:
    """A few of the copies a marketplace sees."""
    w, h = img.size
    if how == "jpeg":
        return Image.open(io.BytesIO(encode(img, "JPEG", quality=70))).convert("RGB")
    if how == "crop":
        return img.crop((w // 8, h // 8, w - w // 8, h - h // 8))
    if how == "mirror":
        return ImageOps.mirror(img)
    if how == "mockup":
        canvas = Image.new("RGB", (w * 2, int(h * 1.6)), (235, 235, 230))
        canvas.paste(img, (w // 2, h // 4))
        return canvas
    raise ValueError(how)
