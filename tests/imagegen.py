"""Seeded test images for the ``indexes`` tests: busy artworks, their pirated copies, and junk.

Every generator takes a seed and uses its own ``random.Random``; the same seed always draws
the same picture, and different seeds look unrelated. Artworks have many polygons, lines and
letters so that ORB finds plenty of corners everywhere, including in corner crops.
"""

from __future__ import annotations

import io
import random
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont, ImageOps

SAMPLES = Path(__file__).resolve().parent.parent / "samples" / "test-art"
SAMPLE_NAMES = ("elephant", "lasagna", "tennis_shoes", "wagon")

_WORDS = ("ORBIT", "maple", "Zephyr", "quartz", "NOVA", "lumen", "Kite", "fable", "ember", "JINX")


def _colour(rng: random.Random) -> tuple[int, int, int]:
    return (rng.randrange(256), rng.randrange(256), rng.randrange(256))


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def _draw_shapes(draw: ImageDraw.ImageDraw, rng: random.Random, size: tuple[int, int], count: int) -> None:
    w, h = size
    for _ in range(count):
        colour = (*_colour(rng), 255)
        shape = rng.randrange(6)
        x0, y0 = rng.randrange(w), rng.randrange(h)
        x1, y1 = x0 + rng.randrange(10, max(11, w // 4)), y0 + rng.randrange(10, max(11, h // 4))
        if shape == 0:
            draw.rectangle((x0, y0, x1, y1), fill=colour, outline=(0, 0, 0, 255), width=2)
        elif shape == 1:
            draw.ellipse((x0, y0, x1, y1), fill=colour, outline=(20, 20, 20, 255), width=2)
        elif shape == 2:
            draw.line((x0, y0, x1, y1), fill=colour, width=rng.randrange(2, 7))
        elif shape == 3:
            r = rng.randrange(12, max(13, min(w, h) // 6))
            n = rng.randrange(3, 8)
            pts = [
                (x0 + r * np.cos(a), y0 + r * np.sin(a))
                for a in sorted(rng.uniform(0, 6.28) for _ in range(n))
            ]
            draw.polygon(pts, fill=colour, outline=(0, 0, 0, 255))
        elif shape == 4:
            pts = [(x0 + rng.randrange(-40, 40), y0 + rng.randrange(-40, 40)) for _ in range(5)]
            draw.line(pts, fill=colour, width=3, joint="curve")
        else:
            draw.text((x0, y0), rng.choice(_WORDS), fill=colour, font=_font(rng.randrange(14, 30)))


def artwork(seed: int, size: tuple[int, int] = (480, 360)) -> Image.Image:
    """An opaque RGB artwork: a two-tone background, ~110 shapes, lines and words."""
    rng = random.Random(seed)
    img = Image.new("RGBA", size, (*_colour(rng), 255))
    draw = ImageDraw.Draw(img)
    w, h = size
    draw.polygon([(0, 0), (w, 0), (0, rng.randrange(h // 2, h))], fill=(*_colour(rng), 255))
    _draw_shapes(draw, rng, size, 110)
    return img.convert("RGB")


def transparent_artwork(seed: int, size: tuple[int, int] = (480, 360)) -> Image.Image:
    """An RGBA artwork on a transparent background, like exported clip art or stickers."""
    rng = random.Random(seed)
    img = Image.new("RGBA", size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(img)
    w, h = size
    # A solid body in the middle and a crowd of shapes over it; the margins stay transparent.
    draw.ellipse((w // 8, h // 8, w - w // 8, h - h // 8), fill=(*_colour(rng), 255), outline=(0, 0, 0, 255))
    inner = Image.new("RGBA", (w * 3 // 4, h * 3 // 4), (0, 0, 0, 0))
    _draw_shapes(ImageDraw.Draw(inner), rng, inner.size, 90)
    img.alpha_composite(inner, (w // 8, h // 8))
    return img


def black_line_art(seed: int, size: tuple[int, int] = (480, 360)) -> Image.Image:
    """Black strokes and words on a transparent background (a signature, an outline icon): flattened
    on black it is one flat colour."""
    rng = random.Random(seed)
    img = Image.new("RGBA", size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(img)
    w, h = size
    for _ in range(40):
        pts = [(rng.randrange(w), rng.randrange(h)) for _ in range(rng.randrange(2, 5))]
        draw.line(pts, fill=(0, 0, 0, 255), width=rng.randrange(2, 6), joint="curve")
    for _ in range(6):
        draw.text(
            (rng.randrange(w - 80), rng.randrange(h - 30)),
            rng.choice(_WORDS),
            fill=(0, 0, 0, 255),
            font=_font(28),
        )
    return img


def sample(name: str) -> bytes:
    return (SAMPLES / f"{name}.png").read_bytes()


def sample_image(name: str) -> Image.Image:
    return Image.open(SAMPLES / f"{name}.png").convert("RGBA")


# A committed CC0 work whose blurred copy drifts past PDQ's 20 bits while its pHash holds.
CAPITOL = SAMPLES.parent / "works" / "03_us_capitol_building_cli.png"


def blurred_capitol() -> bytes:
    """``CAPITOL`` flattened on white, Gaussian-blurred (radius 7: its PDQ drifts 36 bits, its pHash 2,
    and its ORB features alone stay under `review`), as PNG."""
    art = Image.open(CAPITOL).convert("RGBA")
    flat = Image.new("RGB", art.size, (255, 255, 255))
    flat.paste(art, mask=art.getchannel("A"))
    return encode(flat.filter(ImageFilter.GaussianBlur(7)))


def pixelated_capitol() -> bytes:
    """``CAPITOL`` flattened on white and pixelated into blocks of 12 px (its PDQ drifts 48 bits,
    its pHash 2), as PNG."""
    art = Image.open(CAPITOL).convert("RGBA")
    flat = Image.new("RGB", art.size, (255, 255, 255))
    flat.paste(art, mask=art.getchannel("A"))
    small = flat.resize((round(flat.width * 0.08), round(flat.height * 0.08)), Image.Resampling.BILINEAR)
    return encode(small.resize(flat.size, Image.Resampling.NEAREST))


# ---- low-information images ---------------------------------------------------------------


def plain_fill(
    size: tuple[int, int] = (400, 300), colour: tuple[int, int, int] = (40, 120, 200)
) -> Image.Image:
    return Image.new("RGB", size, colour)


def soft_gradient(size: tuple[int, int] = (400, 300)) -> Image.Image:
    w, h = size
    x = np.linspace(0.0, 1.0, w)[None, :]
    y = np.linspace(0.0, 1.0, h)[:, None]
    r = 90 + 60 * x + 0 * y
    g = 120 + 40 * y + 0 * x
    b = 200 - 50 * x * y
    return Image.fromarray(np.stack([r, g, b], axis=2).round().astype(np.uint8), "RGB")


def tiny_icon(seed: int = 7) -> Image.Image:
    """A 16x16 favicon-like image."""
    return artwork(seed, (64, 64)).resize((16, 16), Image.Resampling.LANCZOS)


# ---- encoding and pirate transforms --------------------------------------------------------


def encode(img: Image.Image, fmt: str = "PNG", **options: object) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **options)
    return buf.getvalue()


def on_background(img: Image.Image, colour: tuple[int, int, int]) -> Image.Image:
    """Flatten an RGBA image onto a solid colour."""
    base = Image.new("RGBA", img.size, (*colour, 255))
    base.alpha_composite(img.convert("RGBA"))
    return base.convert("RGB")


def jpeg(img: Image.Image, quality: int) -> Image.Image:
    return Image.open(io.BytesIO(encode(img.convert("RGB"), "JPEG", quality=quality))).convert("RGB")


def crop_fraction(img: Image.Image, area: float, where: str) -> Image.Image:
    """Crop keeping ``area`` of the pixels, same aspect, centred or in a named corner."""
    w, h = img.size
    f = area**0.5
    cw, ch = round(w * f), round(h * f)
    x, y = {
        "centre": ((w - cw) // 2, (h - ch) // 2),
        "top-left": (0, 0),
        "bottom-right": (w - cw, h - ch),
    }[where]
    return img.crop((x, y, x + cw, y + ch))


def hue_shift(img: Image.Image, steps: int) -> Image.Image:
    """Hue rotated by ``steps`` of 256, as a recoloured copy is."""
    hsv = np.asarray(img.convert("RGB").convert("HSV")).copy()
    hsv[..., 0] = (hsv[..., 0].astype(np.int32) + steps) % 256
    return Image.fromarray(hsv, "HSV").convert("RGB")


def mirror(img: Image.Image) -> Image.Image:
    return ImageOps.mirror(img)


def rotate(img: Image.Image, degrees: float, fill: tuple[int, int, int] = (255, 255, 255)) -> Image.Image:
    """Counter-clockwise rotation, canvas expanded, corners filled with ``fill``."""
    if degrees % 90 == 0:
        return img.rotate(degrees, expand=True)
    return img.convert("RGB").rotate(degrees, resample=Image.Resampling.BICUBIC, expand=True, fillcolor=fill)


def caption_bar(img: Image.Image, text: str = "BEST PRICE - FREE SHIPPING") -> Image.Image:
    """A dark bar with white text across the bottom fifth, as meme and shop copies add."""
    out = img.convert("RGB").copy()
    w, h = out.size
    draw = ImageDraw.Draw(out)
    draw.rectangle((0, h - h // 5, w, h), fill=(15, 15, 15))
    draw.text((w // 20, h - h // 5 + h // 25), text, fill=(255, 255, 255), font=_font(max(12, h // 14)))
    return out


def frame(
    img: Image.Image, colour: tuple[int, int, int] = (170, 30, 60), border: float = 0.12
) -> Image.Image:
    """A solid coloured frame ``border`` of the short side thick around the artwork."""
    w, h = img.size
    b = round(min(w, h) * border)
    out = Image.new("RGB", (w + 2 * b, h + 2 * b), colour)
    out.paste(img.convert("RGB"), (b, b))
    return out


def listing_page(
    img: Image.Image, seed: int = 0, art_side: int = 560
) -> tuple[Image.Image, tuple[int, int, int, int]]:
    """A 1280x900 marketplace screenshot with the artwork at about half the page width.

    Returns the page and the (x, y, w, h) box where the artwork was pasted."""
    rng = random.Random(seed)
    page = Image.new("RGB", (1280, 900), (247, 247, 245))
    draw = ImageDraw.Draw(page)
    draw.rectangle((0, 0, 1280, 70), fill=(35, 47, 62))
    draw.text((24, 18), "shopmart", fill=(255, 153, 0), font=_font(32))
    draw.rectangle((300, 18, 900, 52), fill=(255, 255, 255))
    draw.text((312, 24), "Search for anything", fill=(120, 120, 120), font=_font(20))
    for i, label in enumerate(("Deals", "Sell", "Help", "Cart")):
        draw.text((960 + 70 * i, 24), label, fill=(230, 230, 230), font=_font(18))
    # The product photo: long side ``art_side`` px, about half the page width.
    scale = art_side / max(img.size)
    art = img.convert("RGB").resize(
        (round(img.width * scale), round(img.height * scale)), Image.Resampling.LANCZOS
    )
    x, y = 60, 130
    draw.rectangle(
        (x - 10, y - 10, x + art.width + 10, y + art.height + 10), outline=(210, 210, 210), width=2
    )
    page.paste(art, (x, y))
    tx = x + art.width + 60
    draw.text((tx, 130), "Vintage poster print, A3, signed", fill=(20, 20, 20), font=_font(30))
    draw.text(
        (tx, 180), f"${rng.randrange(5, 90)}.{rng.randrange(100):02d}", fill=(180, 30, 30), font=_font(34)
    )
    for i in range(12):
        words = " ".join(rng.choice(_WORDS).lower() for _ in range(6))
        draw.text((tx, 250 + 30 * i), words, fill=(70, 70, 70), font=_font(18))
    draw.rectangle((tx, 640, tx + 220, 690), fill=(255, 216, 20))
    draw.text((tx + 40, 652), "Add to cart", fill=(0, 0, 0), font=_font(22))
    draw.rectangle((0, 820, 1280, 900), fill=(35, 47, 62))
    return page, (x, y, art.width, art.height)


def product_grid(
    pictures: list[Image.Image], seed: int = 0, cell: int = 120
) -> tuple[Image.Image, list[tuple[int, int, int, int]]]:
    """A 1280 px search-results page: each picture at most ``cell`` px in a bordered card with a
    title and a price, six cards a row, on a page with a header bar.

    Returns the page and the (x, y, w, h) box of each picture, in order."""
    rng = random.Random(seed)
    rows = (len(pictures) + 5) // 6
    page = Image.new("RGB", (1280, 100 + 265 * rows), (255, 255, 255))
    draw = ImageDraw.Draw(page)
    draw.rectangle((0, 0, 1280, 70), fill=(35, 47, 62))
    draw.text((30, 20), "ShopMart", fill=(255, 153, 0), font=_font(28))
    boxes = []
    for i, picture in enumerate(pictures):
        x0, y0 = 40 + (i % 6) * 203, 100 + (i // 6) * 265
        draw.rectangle((x0, y0, x0 + 185, y0 + 250), outline=(225, 225, 225))
        thumb = picture.convert("RGB")
        thumb.thumbnail((cell, cell))
        x, y = x0 + 32 + (cell - thumb.width) // 2, y0 + 12 + (cell - thumb.height) // 2
        page.paste(thumb, (x, y))
        boxes.append((x, y, thumb.width, thumb.height))
        title = f"Art print #{rng.randrange(100, 999)}"
        draw.text((x0 + 10, y0 + 150), title, fill=(20, 60, 140), font=_font(13))
        draw.text((x0 + 10, y0 + 190), f"${rng.randrange(5, 40)}.99", fill=(0, 0, 0), font=_font(16))
    return page, boxes
