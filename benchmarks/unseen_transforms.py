"""Edits the engine was never tuned on: AugLy-style transforms from the DISC21 tool set and common
piracy edits outside issue 2's list (a print-on-demand mock-up, a meme caption bar, a large turn).

Nothing in ``indexes/`` was fitted to these, so ``benchmarks.unseen`` reads as a check of how the
engine's thresholds carry over to copies made differently. Same signature as ``transforms``:
``(opaque RGB image, seeded Random) -> (image, JPEG quality or None)``; ``mockup`` alone also takes
the work's own alpha, since a mock-up composites the artwork, not its canvas.
"""

from __future__ import annotations

import math
import random

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageFilter, ImageOps

from benchmarks import imaging, transforms
from benchmarks.transforms import Result, Transform

QUALITY = 85  # every output is re-encoded, as an upload would be


def opacity(img: Image.Image, rng: random.Random) -> Result:
    """Faded onto white (a 'ghost' preview)."""
    return Image.blend(Image.new("RGB", img.size, transforms.WHITE), img, rng.uniform(0.3, 0.5)), QUALITY


def pixelate(img: Image.Image, rng: random.Random) -> Result:
    f = rng.uniform(0.08, 0.15)
    small = img.resize(
        (max(1, round(img.width * f)), max(1, round(img.height * f))), Image.Resampling.BILINEAR
    )
    return small.resize(img.size, Image.Resampling.NEAREST), QUALITY


def stripes(img: Image.Image, rng: random.Random) -> Result:
    """Diagonal coloured stripes blended in at 50 % (AugLy's overlay_stripes)."""
    layer = img.copy()
    draw = ImageDraw.Draw(layer)
    step = max(8, img.width // rng.randint(6, 12))
    for x in range(-img.height, img.width, step):
        draw.line(
            [(x, 0), (x + img.height, img.height)], fill=transforms._rand_colour(rng), width=max(2, step // 3)
        )
    return Image.blend(img, layer, 0.5), QUALITY


def pad_square(img: Image.Image, rng: random.Random) -> Result:
    side = round(max(img.size) * rng.uniform(1.1, 1.4))
    out = Image.new("RGB", (side, side), transforms._rand_colour(rng))
    out.paste(img, ((side - img.width) // 2, (side - img.height) // 2))
    return out, QUALITY


def sharpen(img: Image.Image, rng: random.Random) -> Result:
    return ImageEnhance.Sharpness(img).enhance(rng.uniform(3, 6)), QUALITY


def flip_vertical(img: Image.Image, rng: random.Random) -> Result:
    return ImageOps.flip(img), QUALITY


def skew(img: Image.Image, rng: random.Random) -> Result:
    """A horizontal shear of 10-20 degrees."""
    a = math.tan(math.radians(rng.uniform(10, 20))) * rng.choice([-1, 1])
    width = round(img.width + abs(a) * img.height)
    shift = -abs(a) * img.height if a > 0 else 0.0
    return img.transform(
        (width, img.height), Image.Transform.AFFINE, (1, a, shift, 0, 1, 0), Image.Resampling.BICUBIC,
        fillcolor=transforms.WHITE,
    ), QUALITY  # fmt: skip


def rotate_large(img: Image.Image, rng: random.Random) -> Result:
    angle = rng.uniform(25, 45) * rng.choice([-1, 1])
    return img.rotate(angle, Image.Resampling.BICUBIC, expand=True, fillcolor=transforms.WHITE), QUALITY


def emoji(img: Image.Image, rng: random.Random) -> Result:
    """A smiley over a quarter to a third of the short side."""
    out = img.copy()
    draw = ImageDraw.Draw(out)
    s = round(min(img.size) * rng.uniform(0.25, 0.35))
    x, y = rng.randint(0, img.width - s), rng.randint(0, img.height - s)
    draw.ellipse([x, y, x + s, y + s], fill=(255, 204, 0), outline=(0, 0, 0), width=max(1, s // 20))
    for ex in (0.28, 0.62):
        draw.ellipse([x + s * ex, y + s * 0.3, x + s * (ex + 0.1), y + s * 0.45], fill=(0, 0, 0))
    draw.arc(
        [x + s * 0.25, y + s * 0.35, x + s * 0.75, y + s * 0.8],
        20,
        160,
        fill=(0, 0, 0),
        width=max(1, s // 15),
    )
    return out, QUALITY


def meme(img: Image.Image, rng: random.Random) -> Result:
    """A white caption bar added above the picture (AugLy's meme_format)."""
    bar = round(img.height * rng.uniform(0.2, 0.3))
    out = Image.new("RGB", (img.width, img.height + bar), transforms.WHITE)
    out.paste(img, (0, bar))
    draw = ImageDraw.Draw(out)
    text = rng.choice(transforms.WORDS)
    font = transforms._fit_text(draw, text, img.width * 0.9, bar * 0.7)
    draw.text((img.width * 0.05, bar * 0.15), text, fill=(0, 0, 0), font=font)
    return out, QUALITY


def brightness(img: Image.Image, rng: random.Random) -> Result:
    factor = rng.uniform(0.4, 0.6) if rng.random() < 0.5 else rng.uniform(1.5, 1.8)
    return ImageEnhance.Brightness(img).enhance(factor), QUALITY


def saturate(img: Image.Image, rng: random.Random) -> Result:
    return ImageEnhance.Color(img).enhance(rng.uniform(2.5, 4.0)), QUALITY


def jpeg_q10(img: Image.Image, rng: random.Random) -> Result:
    return img, 10


def rotate_crop(img: Image.Image, rng: random.Random) -> Result:
    """Turned 15-25 degrees, then cropped to 36-56 % of the area."""
    turned = img.rotate(
        rng.uniform(15, 25) * rng.choice([-1, 1]), Image.Resampling.BICUBIC, fillcolor=transforms.WHITE
    )
    f = rng.uniform(0.6, 0.75)
    w, h = round(img.width * f), round(img.height * f)
    x, y = rng.randint(0, img.width - w), rng.randint(0, img.height - h)
    return turned.crop((x, y, x + w, y + h)), 75


def crop_small(img: Image.Image, rng: random.Random) -> Result:
    """A crop keeping 30-40 % of the area (below issue 2's 40 %), shown at half size."""
    f = math.sqrt(rng.uniform(0.3, 0.4))
    w, h = round(img.width * f), round(img.height * f)
    x, y = rng.randint(0, img.width - w), rng.randint(0, img.height - h)
    crop = img.crop((x, y, x + w, y + h))
    return crop.resize((max(1, w // 2), max(1, h // 2)), Image.Resampling.BILINEAR), 70


def _fabric(size: tuple[int, int], rng: random.Random) -> Image.Image:
    """A textured, shaded garment-like background: coloured noise at two scales and a soft shadow."""
    gen = np.random.default_rng(rng.getrandbits(32))
    w, h = size
    base = np.array(transforms._rand_colour(rng), dtype=np.float32)
    coarse = Image.fromarray(gen.integers(0, 255, (h // 40 + 2, w // 40 + 2), dtype=np.uint8)).resize(
        size, Image.Resampling.BICUBIC
    )
    fine = Image.fromarray(gen.integers(0, 255, (h, w), dtype=np.uint8)).filter(ImageFilter.GaussianBlur(1))
    shade = (np.asarray(coarse, np.float32) - 128) * 0.25 + (np.asarray(fine, np.float32) - 128) * 0.15
    rgb = np.clip(base[None, None, :] + shade[..., None], 0, 255).astype(np.uint8)
    return Image.fromarray(rgb, "RGB")


def mockup(img: Image.Image, rng: random.Random) -> Result:
    """The artwork printed on a textured product photo (print-on-demand piracy): composited with
    its own alpha at 30-50 % of the photo's width, slightly turned, with the fabric showing through."""
    photo = _fabric((900, 900), rng)
    f = 900 * rng.uniform(0.3, 0.5) / max(img.size)
    art = img.convert("RGBA").resize(
        (max(1, round(img.width * f)), max(1, round(img.height * f))), Image.Resampling.BICUBIC
    )
    art = art.rotate(rng.uniform(-4, 4), Image.Resampling.BICUBIC, expand=True)
    alpha = art.getchannel("A").point(lambda a: round(a * 0.92))  # ink on cloth: a little see-through
    x, y = rng.randint(100, 900 - art.width - 100), rng.randint(120, 900 - art.height - 80)
    photo.paste(art.convert("RGB"), (x, y), alpha)
    return photo, 80


UNSEEN: list[Transform] = [
    Transform(f.__name__, "unseen", f)
    for f in (
        opacity, pixelate, stripes, pad_square, sharpen, flip_vertical, skew, rotate_large, emoji, meme,
        brightness, saturate, jpeg_q10, rotate_crop, crop_small, mockup,
    )
]  # fmt: skip
BY_NAME = {t.name: t for t in UNSEEN}


def apply(img: Image.Image, name: str, transform: Transform, seed: int) -> Result:
    """Deterministic for (name, transform, seed). Transparent art is flattened as in ``transforms``,
    except for ``mockup``, which composites it with its own alpha."""
    rng = random.Random(f"{seed}:{name}:unseen:{transform.name}")
    if transform.fn is mockup:
        return mockup(img, rng)
    return transform.fn(imaging.flatten(img, transforms.background_for(name, seed)), rng)
