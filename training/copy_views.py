"""Copy-like views of a picture for training the copy descriptor: what pirates do to art.

Written apart from ``benchmarks/transforms.py`` (its code is not reused, so the benchmark does
not grade the network on the edits it was trained with), and wider: crops down to a third of the
picture, any hue, text bars of any colour, stickers of several shapes, tiled text, frames,
pages around the picture, turns and perspective, blur, downscales, noise and JPEG."""

from __future__ import annotations

import random

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

SIDE = 96  # the network's input (``indexes.copy_embedding.SIDE``)
WORDS = ["SALE", "limited", "NFT drop", "hot", "new!", "mint now", "rare", "wow", "art", "1/1", "buy",
         "collect", "exclusive", "promo", "@seller", "fresh", "#1", "gm", "free ship", "x"]  # fmt: skip
Colour = tuple[int, int, int]


def load(path: str, max_side: int = 224) -> np.ndarray:
    """RGBA pixels, the long side at most ``max_side``."""
    with Image.open(path) as im:
        rgba = im.convert("RGBA")
    scale = max_side / max(rgba.size)
    if scale < 1:
        size = (max(1, round(rgba.width * scale)), max(1, round(rgba.height * scale)))
        rgba = rgba.resize(size, Image.Resampling.BILINEAR)
    return np.asarray(rgba)


def flatten(rgba: np.ndarray, colour: Colour) -> np.ndarray:
    alpha = rgba[..., 3:4].astype(np.float32) / 255
    out = rgba[..., :3].astype(np.float32) * alpha + np.array(colour, np.float32) * (1 - alpha)
    return out.astype(np.uint8)


def to_input(rgb: np.ndarray) -> np.ndarray:
    return cv2.resize(np.ascontiguousarray(rgb), (SIDE, SIDE), interpolation=cv2.INTER_AREA)


def reference_view(rgba: np.ndarray) -> np.ndarray:
    """The registered picture as the engine sees it: flattened on white, whole."""
    return to_input(flatten(rgba, (255, 255, 255)))


def _colour(rng: random.Random) -> Colour:
    return (rng.randrange(256), rng.randrange(256), rng.randrange(256))


def _background(rng: random.Random) -> Colour:
    r = rng.random()
    return (255, 255, 255) if r < 0.55 else ((0, 0, 0) if r < 0.65 else _colour(rng))


def recolour(img: np.ndarray, rng: random.Random) -> np.ndarray:
    hsv = cv2.cvtColor(img, cv2.COLOR_RGB2HSV_FULL)
    hsv[..., 0] = (hsv[..., 0].astype(np.int32) + rng.randrange(256)) % 256
    out = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB_FULL).astype(np.float32)
    out = (out - out.mean()) * rng.uniform(0.6, 1.5) + out.mean()
    grey = out.mean(axis=2, keepdims=True)
    out = grey + (out - grey) * rng.uniform(0.6, 1.5)
    return np.clip(out, 0, 255).astype(np.uint8)


def crop(img: np.ndarray, rng: random.Random, smallest: float = 0.35) -> np.ndarray:
    h, w = img.shape[:2]
    area, aspect = rng.uniform(smallest, 1.0), float(np.exp(rng.uniform(-0.3, 0.3)))
    cw = round(min(w, max(8, w * np.sqrt(area * aspect))))
    ch = round(min(h, max(8, h * np.sqrt(area / aspect))))
    x, y = rng.randint(0, w - cw), rng.randint(0, h - ch)
    return img[y : y + ch, x : x + cw]


def _text(pil: Image.Image, rng: random.Random, box: tuple[int, int, int, int], ink: Colour) -> None:
    x0, y0, x1, y1 = box
    font = ImageFont.load_default(size=max(8, int((y1 - y0) * rng.uniform(0.5, 0.85))))
    centre = ((x0 + x1) / 2, (y0 + y1) / 2)
    ImageDraw.Draw(pil).text(centre, rng.choice(WORDS), font=font, fill=ink, anchor="mm")


def caption(img: np.ndarray, rng: random.Random) -> np.ndarray:
    pil = Image.fromarray(img)
    h, w = img.shape[:2]
    bar_h = max(6, int(h * rng.uniform(0.12, 0.28)))
    y0 = 0 if rng.random() < 0.5 else h - bar_h
    plain = (255, 255, 255) if rng.random() < 0.5 else (0, 0, 0)
    bar = _colour(rng) if rng.random() < 0.3 else plain
    if rng.random() < 0.8:  # else bare text over the picture
        ImageDraw.Draw(pil).rectangle((0, y0, w, y0 + bar_h), fill=bar)
    _text(pil, rng, (0, y0, w, y0 + bar_h), (255 - bar[0], 255 - bar[1], 255 - bar[2]))
    return np.asarray(pil)


def stickers(img: np.ndarray, rng: random.Random) -> np.ndarray:
    pil = Image.fromarray(img)
    draw = ImageDraw.Draw(pil)
    h, w = img.shape[:2]
    for _ in range(rng.randint(1, 4)):
        r = int(min(h, w) * rng.uniform(0.06, 0.18))
        x, y = rng.randint(0, w), rng.randint(0, h)
        if rng.random() < 0.5:
            box = (x - r, y - r, x + r, y + r)
            draw.ellipse(box, fill=_colour(rng), outline=_colour(rng), width=max(1, r // 6))
        else:
            draw.regular_polygon((x, y, r), rng.randint(3, 8), rotation=rng.uniform(0, 90), fill=_colour(rng))
    return np.asarray(pil)


def watermark(img: np.ndarray, rng: random.Random) -> np.ndarray:
    h, w = img.shape[:2]
    layer = Image.new("RGBA", (w, h), (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    size = max(8, int(min(h, w) * rng.uniform(0.06, 0.12)))
    font = ImageFont.load_default(size=size)
    ink = ((255, 255, 255) if rng.random() < 0.5 else (0, 0, 0)) + (rng.randint(60, 140),)
    word = rng.choice(WORDS)
    for yy in range(0, h, size * 3):
        for xx in range(-(yy % (size * 4)), w, size * 6):
            draw.text((xx, yy), word, font=font, fill=ink)
    return np.asarray(Image.alpha_composite(Image.fromarray(img).convert("RGBA"), layer).convert("RGB"))


def frame(img: np.ndarray, rng: random.Random) -> np.ndarray:
    t, b, left, right = (int(min(img.shape[:2]) * rng.uniform(0.03, 0.2)) for _ in range(4))
    return cv2.copyMakeBorder(img, t, b, left, right, cv2.BORDER_CONSTANT, value=_colour(rng))


def page(img: np.ndarray, rng: random.Random) -> np.ndarray:
    """The picture on a larger page, with blocks and lines of text around it."""
    h, w = img.shape[:2]
    scale = rng.uniform(0.4, 0.75)
    ph, pw = int(h / scale), int(w / scale * rng.uniform(0.8, 1.4))
    pil = Image.new("RGB", (pw, ph), (255, 255, 255) if rng.random() < 0.6 else _colour(rng))
    draw = ImageDraw.Draw(pil)
    for _ in range(rng.randint(2, 6)):
        x, y = rng.randint(0, pw), rng.randint(0, ph)
        draw.rectangle((x, y, x + rng.randint(10, pw // 2), y + rng.randint(4, ph // 8)), fill=_colour(rng))
    pil.paste(Image.fromarray(img), (rng.randint(0, max(0, pw - w)), rng.randint(0, max(0, ph - h))))
    for _ in range(rng.randint(1, 4)):
        y = rng.randint(0, ph - 10)
        _text(pil, rng, (0, y, pw, y + max(8, ph // 14)), (0, 0, 0))
    return np.asarray(pil)


def turn(img: np.ndarray, rng: random.Random) -> np.ndarray:
    h, w = img.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), rng.uniform(-15, 15), 1.0)
    return cv2.warpAffine(img, m, (w, h), borderMode=cv2.BORDER_CONSTANT, borderValue=_colour(rng))


def perspective(img: np.ndarray, rng: random.Random) -> np.ndarray:
    h, w = img.shape[:2]
    src = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
    jitter = np.float32([[rng.uniform(-0.12, 0.12) * w, rng.uniform(-0.12, 0.12) * h] for _ in range(4)])
    m = cv2.getPerspectiveTransform(src, src + jitter)
    return cv2.warpPerspective(img, m, (w, h), borderMode=cv2.BORDER_CONSTANT, borderValue=_colour(rng))


def pixelate(img: np.ndarray, rng: random.Random) -> np.ndarray:
    """Blocks: a small copy blown up with nearest-neighbour (a low-resolution preview, a mosaic)."""
    h, w = img.shape[:2]
    f = rng.randint(12, 48) / max(h, w)  # blocks along the long side
    small = cv2.resize(img, (max(2, round(w * f)), max(2, round(h * f))), interpolation=cv2.INTER_AREA)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_NEAREST)


def stripes(img: np.ndarray, rng: random.Random) -> np.ndarray:
    """Parallel bands of colour at any angle, blended in (a 'do not copy' overlay)."""
    h, w = img.shape[:2]
    layer = img.copy()
    step = max(6, min(h, w) // rng.randint(4, 14))
    width = max(2, int(step * rng.uniform(0.2, 0.5)))
    angle = rng.uniform(0, np.pi)
    dx, dy = np.cos(angle), np.sin(angle)
    reach = int(np.hypot(h, w))
    colours = [_colour(rng) for _ in range(rng.randint(1, 4))]
    for i, off in enumerate(range(-reach, reach, step)):
        cx, cy = w / 2 - dy * off, h / 2 + dx * off
        p0 = (int(cx - dx * reach), int(cy - dy * reach))
        p1 = (int(cx + dx * reach), int(cy + dy * reach))
        cv2.line(layer, p0, p1, colours[i % len(colours)], width)
    a = rng.uniform(0.3, 0.6)
    return cv2.addWeighted(img, 1 - a, layer, a, 0)


def jpeg(img: np.ndarray, rng: random.Random) -> np.ndarray:
    _, buf = cv2.imencode(".jpg", img[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, rng.randint(25, 90)])
    return cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1]


def copy_view(
    rgba: np.ndarray, rng: random.Random, heavy_share: float = 0.0, blocks_share: float = 0.0
) -> tuple[np.ndarray, bool]:
    """A copy as found in the wild: each edit applied by chance, several at once. ``heavy_share``
    of the views are a crop, a caption and a recolour together (the engine's hardest case);
    ``blocks_share`` of the others get stripes or pixelation. Also says whether this one did (a
    fine-tune learns those anew and anchors the rest, ``train_copy_embedding``)."""
    if rng.random() < heavy_share:
        img = caption(crop(flatten(rgba, _background(rng)), rng, smallest=0.5), rng)
        if rng.random() < 0.3:
            img = stickers(img, rng)
        return to_input(jpeg(recolour(img, rng), rng)), False
    img = flatten(rgba, _background(rng))
    if rng.random() < 0.7:
        img = crop(img, rng)
    if rng.random() < 0.3:
        img = turn(img, rng) if rng.random() < 0.6 else perspective(img, rng)
    for edit, chance in ((caption, 0.4), (stickers, 0.2), (watermark, 0.12), (frame, 0.12), (page, 0.1)):
        if rng.random() < chance:
            img = edit(img, rng)
    if rng.random() < 0.5:
        img = recolour(img, rng)
    elif rng.random() < 0.15:
        img = np.repeat(cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)[..., None], 3, axis=2)
    blocks = blocks_share > 0 and rng.random() < blocks_share  # no draw: older runs' views stay
    if blocks:
        img = stripes(img, rng) if rng.random() < 0.5 else pixelate(img, rng)
    if rng.random() < 0.15:
        img = cv2.GaussianBlur(img, (0, 0), rng.uniform(0.5, 1.5))
    if rng.random() < 0.2:
        h, w = img.shape[:2]
        s = rng.uniform(0.25, 0.6)
        img = cv2.resize(img, (max(8, int(w * s)), max(8, int(h * s))), interpolation=cv2.INTER_AREA)
    if rng.random() < 0.6:
        img = jpeg(img, rng)
    if rng.random() < 0.1:
        noise = np.random.default_rng(rng.randrange(1 << 30)).normal(0, 8, img.shape)
        img = np.clip(img + noise, 0, 255).astype(np.uint8)
    return to_input(img), blocks
