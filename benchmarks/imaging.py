"""Small image helpers shared by the corpus, transforms and baselines."""

from __future__ import annotations

import io
from pathlib import Path

import imagehash
import numpy as np
import pdqhash
from PIL import Image

# Openclipart has a few gigantic canvases (up to 230 MP). The corpus skips
# sources above this size before decoding them (Image.open is lazy), so
# Pillow's decompression-bomb warning is redundant here.
MAX_SOURCE_PIXELS = 60_000_000
Image.MAX_IMAGE_PIXELS = None


def has_transparency(img: Image.Image) -> bool:
    """True when the image has an alpha channel that is actually used."""
    if img.mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")
    if img.mode not in ("RGBA", "LA"):
        return False
    return img.getchannel("A").getextrema()[0] < 250


def flatten(img: Image.Image, background: tuple[int, int, int] = (255, 255, 255)) -> Image.Image:
    """Composite onto a solid colour and return RGB (a no-op copy for opaque images)."""
    if img.mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA"):
        rgba = img.convert("RGBA")
        base = Image.new("RGBA", rgba.size, (*background, 255))
        base.alpha_composite(rgba)
        return base.convert("RGB")
    return img.convert("RGB")


def load_bytes(data: bytes) -> Image.Image:
    img = Image.open(io.BytesIO(data))
    img.load()
    return img


def load_path(path: Path) -> Image.Image:
    return load_bytes(path.read_bytes())


def phash_bits(rgb: Image.Image) -> np.ndarray:
    """64 pHash bits (imagehash.phash) as a bool vector."""
    return np.asarray(imagehash.phash(rgb).hash, dtype=bool).reshape(-1)


def pdq_bits(rgb: Image.Image) -> tuple[np.ndarray, int]:
    """256 PDQ bits as a bool vector, plus PDQ's quality score (0..100)."""
    bits, quality = pdqhash.compute(np.asarray(rgb.convert("RGB")))
    return np.asarray(bits, dtype=bool), int(quality)


def pdq_dihedral_bits(rgb: Image.Image) -> np.ndarray:
    """PDQ bits of the 8 dihedral variants, shape (8, 256)."""
    hashes, _quality = pdqhash.compute_dihedral(np.asarray(rgb.convert("RGB")))
    return np.asarray(hashes, dtype=bool)


def pack(bits: np.ndarray) -> str:
    return np.packbits(bits.astype(bool)).tobytes().hex()


def unpack(hexstr: str, nbits: int) -> np.ndarray:
    return np.unpackbits(np.frombuffer(bytes.fromhex(hexstr), dtype=np.uint8))[:nbits].astype(bool)
