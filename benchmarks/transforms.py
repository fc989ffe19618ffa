"""Copy-detection query transforms (DISC21-style), in four families.

Every transform takes an opaque RGB image and a `random.Random` seeded from
(seed, image, transform), and returns the edited image plus the JPEG quality
it must be saved with (None = PNG). Sizes are relative to the image so the
same edit is comparably strong on 96 px photo tiles and 1024 px clip art.
"""

from __future__ import annotations

import colorsys
import hashlib
import math
import random
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageFilter, ImageFont, ImageOps

from benchmarks import imaging

Result = tuple[Image.Image, int | None]
WHITE = (255, 255, 255)
WORDS = [
    "SALE", "NEW", "BEST PRICE", "FREE SHIPPING", "WOW", "LIMITED", "HOT DEAL", "TOP SELLER",
    "ORIGINAL ART", "WHEN MONDAY HITS", "ME IRL", "SO TRUE", "GIFT IDEA", "PRINT ON DEMAND",
]  # fmt: skip


def _font(size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.load_default(size=max(8, int(size)))


def _rand_colour(rng: random.Random) -> tuple[int, int, int]:
    return (rng.randrange(256), rng.randrange(256), rng.randrange(256))


def _fit_text(draw: ImageDraw.ImageDraw, text: str, max_w: float, max_h: float) -> ImageFont.FreeTypeFont:
    """Largest default-font size whose rendering fits the box."""
    size = max(8, int(max_h))
    while size > 8:
        box = draw.textbbox((0, 0), text, font=_font(size))
        if box[2] - box[0] <= max_w and box[3] - box[1] <= max_h:
            break
        size = int(size * 0.9)
    return _font(size)


def _recolour(img: Image.Image, rng: random.Random) -> Image.Image:
    """Rotate hue and change contrast/saturation."""
    hsv = np.asarray(img.convert("HSV")).copy()
    hsv[..., 0] = (hsv[..., 0].astype(np.int32) + rng.randint(40, 215)) % 256
    out = Image.fromarray(hsv, "HSV").convert("RGB")
    out = ImageEnhance.Contrast(out).enhance(rng.uniform(0.6, 1.5))
    return ImageEnhance.Color(out).enhance(rng.uniform(0.7, 1.5))


# --- mild -------------------------------------------------------------------


def jpeg(img: Image.Image, rng: random.Random) -> Result:
    return img, rng.randint(10, 30)


def downscale(img: Image.Image, rng: random.Random) -> Result:
    f = rng.uniform(0.15, 0.30)
    size = (max(8, round(img.width * f)), max(8, round(img.height * f)))
    return img.resize(size, Image.Resampling.BILINEAR), None


def upscale(img: Image.Image, rng: random.Random) -> Result:
    f = min(2.0, 2048 / max(img.size))
    return img.resize((round(img.width * f), round(img.height * f)), Image.Resampling.BICUBIC), None


def grayscale(img: Image.Image, rng: random.Random) -> Result:
    return img.convert("L").convert("RGB"), None


def colour_shift(img: Image.Image, rng: random.Random) -> Result:
    return _recolour(img, rng), None


def blur(img: Image.Image, rng: random.Random) -> Result:
    radius = rng.uniform(1.5, 3.0) * max(1.0, max(img.size) / 512)
    return img.filter(ImageFilter.GaussianBlur(radius)), None


def noise(img: Image.Image, rng: random.Random) -> Result:
    gen = np.random.default_rng(rng.getrandbits(64))
    arr = np.asarray(img, dtype=np.float32) + gen.normal(0, rng.uniform(10, 25), (img.height, img.width, 3))
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8)), None


# --- geometric ----------------------------------------------------------------


def mirror(img: Image.Image, rng: random.Random) -> Result:
    return ImageOps.mirror(img), None


def rotate90(img: Image.Image, rng: random.Random) -> Result:
    op = rng.choice([Image.Transpose.ROTATE_90, Image.Transpose.ROTATE_270])
    return img.transpose(op), None


def rotate_small(img: Image.Image, rng: random.Random) -> Result:
    angle = rng.uniform(5, 15) * rng.choice([-1, 1])
    return img.rotate(angle, Image.Resampling.BICUBIC, expand=True, fillcolor=WHITE), None


def stretch(img: Image.Image, rng: random.Random) -> Result:
    f = rng.uniform(1.3, 1.6)
    size = (round(img.width * f), img.height) if rng.random() < 0.5 else (img.width, round(img.height * f))
    return img.resize(size, Image.Resampling.BICUBIC), None


def perspective(img: Image.Image, rng: random.Random) -> Result:
    w, h = img.size
    src = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
    jitter = [(rng.uniform(0, 0.15) * w, rng.uniform(0, 0.15) * h) for _ in range(4)]
    signs = [(1, 1), (-1, 1), (-1, -1), (1, -1)]  # move every corner inwards
    dst = np.float32(
        [[x + sx * jx, y + sy * jy] for (x, y), (jx, jy), (sx, sy) in zip(src, jitter, signs, strict=True)]
    )
    m = cv2.getPerspectiveTransform(src, dst)
    out = cv2.warpPerspective(np.asarray(img), m, (w, h), borderValue=WHITE, flags=cv2.INTER_LINEAR)
    return Image.fromarray(out), None


def _crop_size(img: Image.Image, rng: random.Random) -> tuple[int, int]:
    s = math.sqrt(rng.uniform(0.4, 0.6))
    return max(8, round(img.width * s)), max(8, round(img.height * s))


def crop_center(img: Image.Image, rng: random.Random) -> Result:
    cw, ch = _crop_size(img, rng)
    x, y = (img.width - cw) // 2, (img.height - ch) // 2
    return img.crop((x, y, x + cw, y + ch)), None


def crop_corner(img: Image.Image, rng: random.Random) -> Result:
    cw, ch = _crop_size(img, rng)
    x = 0 if rng.random() < 0.5 else img.width - cw
    y = 0 if rng.random() < 0.5 else img.height - ch
    return img.crop((x, y, x + cw, y + ch)), None


# --- overlay ------------------------------------------------------------------


def _caption_on(img: Image.Image, rng: random.Random) -> Image.Image:
    out = img.copy()
    draw = ImageDraw.Draw(out)
    bar_h = max(10, round(img.height * rng.uniform(0.18, 0.25)))
    top = rng.random() < 0.5
    y0 = 0 if top else img.height - bar_h
    bar, ink = (WHITE, (0, 0, 0)) if rng.random() < 0.5 else ((0, 0, 0), WHITE)
    draw.rectangle((0, y0, img.width, y0 + bar_h), fill=bar)
    text = rng.choice(WORDS)
    font = _fit_text(draw, text, img.width * 0.95, bar_h * 0.75)
    draw.text((img.width / 2, y0 + bar_h / 2), text, font=font, fill=ink, anchor="mm")
    return out


def caption(img: Image.Image, rng: random.Random) -> Result:
    return _caption_on(img, rng), None


def stickers(img: Image.Image, rng: random.Random) -> Result:
    out = img.copy()
    draw = ImageDraw.Draw(out)
    n = rng.randint(3, 6)
    # n stickers together cover ~10 % of the image
    side = math.sqrt(0.10 * img.width * img.height / n)
    for _ in range(n):
        s = side * rng.uniform(0.8, 1.2)
        x, y = rng.uniform(0, img.width - s), rng.uniform(0, img.height - s)
        box = (x, y, x + s, y + s)
        kind = rng.choice(["ellipse", "rect", "star", "smiley"])
        colour = _rand_colour(rng)
        if kind == "ellipse":
            draw.ellipse(box, fill=colour)
        elif kind == "rect":
            draw.rounded_rectangle(box, radius=s / 5, fill=colour)
        elif kind == "star":
            cx, cy = x + s / 2, y + s / 2
            pts = [
                (cx + (s / 2 if i % 2 == 0 else s / 5) * math.cos(i * math.pi / 5 - math.pi / 2),
                 cy + (s / 2 if i % 2 == 0 else s / 5) * math.sin(i * math.pi / 5 - math.pi / 2))
                for i in range(10)
            ]  # fmt: skip
            draw.polygon(pts, fill=colour)
        else:  # emoji-like blob: yellow face, two eyes, a mouth
            draw.ellipse(box, fill=(255, 204, 0), outline=(0, 0, 0), width=max(1, round(s / 30)))
            e = s / 10
            for ex in (x + s * 0.33, x + s * 0.67):
                draw.ellipse((ex - e, y + s * 0.35 - e, ex + e, y + s * 0.35 + e), fill=(0, 0, 0))
            draw.arc((x + s * 0.25, y + s * 0.35, x + s * 0.75, y + s * 0.8), 20, 160, fill=(0, 0, 0),
                     width=max(1, round(s / 20)))  # fmt: skip
    return out, None


def watermark(img: Image.Image, rng: random.Random) -> Result:
    text = rng.choice(["© STOCKSHOP", "PREVIEW", "SAMPLE", "© MyPrints"])
    layer = Image.new("RGBA", (img.width * 2, img.height * 2), (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    font = _font(max(img.size) / rng.uniform(8, 12))
    colour = (*_rand_colour(rng), rng.randint(80, 130))
    box = draw.textbbox((0, 0), text, font=font)
    step_x, step_y = (box[2] - box[0]) * 1.3 + 1, (box[3] - box[1]) * 2.5 + 1
    y = 0.0
    while y < layer.height:
        x = 0.0 if int(y / step_y) % 2 == 0 else -step_x / 2
        while x < layer.width:
            draw.text((x, y), text, font=font, fill=colour)
            x += step_x
        y += step_y
    layer = layer.rotate(rng.uniform(-35, -20), Image.Resampling.BILINEAR)
    left, top = img.width // 2, img.height // 2
    layer = layer.crop((left, top, left + img.width, top + img.height))
    return Image.alpha_composite(img.convert("RGBA"), layer).convert("RGB"), None


def frame(img: Image.Image, rng: random.Random) -> Result:
    pad = max(2, round(max(img.size) * rng.uniform(0.05, 0.15)))
    out = ImageOps.expand(img, border=pad, fill=_rand_colour(rng))
    if rng.random() < 0.5:  # a thin inner line, as print-shop mock-ups do
        ImageDraw.Draw(out).rectangle(
            (pad - 2, pad - 2, pad + img.width + 1, pad + img.height + 1), outline=_rand_colour(rng), width=2
        )
    return out, None


# --- composite ----------------------------------------------------------------


def listing_page(img: Image.Image, rng: random.Random) -> Result:
    """The work as the product photo of a synthetic marketplace listing screenshot."""
    pw, ph = 1280, 900
    page = Image.new("RGB", (pw, ph), (rng.randint(235, 255),) * 3)
    d = ImageDraw.Draw(page)
    brand = _rand_colour(rng)
    d.rectangle((0, 0, pw, 70), fill=brand)
    d.text((24, 35), rng.choice(["ShopMart", "Printly", "ArtBazaar", "TeeHub"]), font=_font(36),
           fill=WHITE, anchor="lm")  # fmt: skip
    d.rounded_rectangle((400, 18, 900, 52), radius=8, fill=WHITE)
    d.text((412, 35), "Search products", font=_font(18), fill=(150, 150, 150), anchor="lm")
    for i in range(6):  # sidebar of "other listings"
        y = 95 + i * 130
        d.rectangle((20, y, 200, y + 110), fill=_rand_colour(rng))
    # product image box: about half the page
    box_w, box_h = 640, 640
    x0, y0 = 240, 100
    d.rectangle((x0, y0, x0 + box_w, y0 + box_h), fill=(250, 250, 250), outline=(220, 220, 220))
    art = img.copy()
    art.thumbnail((box_w - 20, box_h - 20), Image.Resampling.LANCZOS)
    if max(art.size) < box_w // 2:  # small works are upscaled to fill the box, as shops do
        f = (box_w - 20) / max(art.size)
        art = img.resize((round(img.width * f), round(img.height * f)), Image.Resampling.BICUBIC)
    page.paste(art, (x0 + (box_w - art.width) // 2, y0 + (box_h - art.height) // 2))
    tx = x0 + box_w + 30
    d.text((tx, 110), rng.choice(WORDS).title() + " Poster", font=_font(30), fill=(20, 20, 20))
    d.text((tx, 160), f"${rng.randint(5, 99)}.{rng.randint(0, 99):02d}", font=_font(40), fill=(180, 0, 0))
    d.text((tx, 230), "Rated 4.5 of 5 (1,024 reviews)", font=_font(20), fill=(90, 90, 90))
    for i, label in enumerate(["Add to cart", "Buy now"]):
        y = 300 + i * 70
        d.rounded_rectangle((tx, y, tx + 320, y + 52), radius=10, fill=brand if i else (255, 170, 0))
        d.text((tx + 160, y + 26), label, font=_font(22), fill=(0, 0, 0), anchor="mm")
    for i in range(8):  # description lines
        y = 460 + i * 28
        d.rectangle((tx, y, tx + rng.randint(200, 330), y + 12), fill=(200, 200, 200))
    return page, rng.randint(60, 85)


def crop_caption_recolour(img: Image.Image, rng: random.Random) -> Result:
    s = math.sqrt(rng.uniform(0.6, 0.8))
    cw, ch = max(8, round(img.width * s)), max(8, round(img.height * s))
    x, y = rng.randint(0, img.width - cw), rng.randint(0, img.height - ch)
    out = img.crop((x, y, x + cw, y + ch))
    out = _caption_on(out, rng)
    return _recolour(out, rng), rng.randint(40, 70)


@dataclass(frozen=True)
class Transform:
    name: str
    family: str
    fn: Callable[[Image.Image, random.Random], Result]


TRANSFORMS: list[Transform] = [
    *(Transform(f.__name__, "mild", f)
      for f in (jpeg, downscale, upscale, grayscale, colour_shift, blur, noise)),
    *(Transform(f.__name__, "geometric", f)
      for f in (mirror, rotate90, rotate_small, stretch, perspective, crop_center, crop_corner)),
    *(Transform(f.__name__, "overlay", f) for f in (caption, stickers, watermark, frame)),
    *(Transform(f.__name__, "composite", f) for f in (listing_page, crop_caption_recolour)),
]  # fmt: skip
FAMILIES = ["mild", "geometric", "overlay", "composite"]
BY_NAME = {t.name: t for t in TRANSFORMS}


def _digest(*parts: object) -> int:
    return int.from_bytes(hashlib.sha256(":".join(map(str, parts)).encode()).digest()[:8], "big")


def background_for(name: str, seed: int) -> tuple[int, int, int]:
    """Flattening colour for a transparent work: white for 3/4, a non-white colour for 1/4."""
    h = _digest(seed, name, "background")
    if h % 4:
        return WHITE
    hue = (h >> 8) % 360 / 360
    r, g, b = colorsys.hsv_to_rgb(hue, 0.4 + (h >> 20) % 60 / 100, 0.3 + (h >> 28) % 60 / 100)
    return (round(r * 255), round(g * 255), round(b * 255))


def apply(img: Image.Image, name: str, transform: Transform, seed: int) -> Result:
    """Deterministic for (name, transform, seed): flatten transparency, then edit."""
    flat = imaging.flatten(img, background_for(name, seed))
    return transform.fn(flat, random.Random(f"{seed}:{name}:{transform.name}"))
