"""Decoding: every common format and pixel mode becomes RGB uint8; bad bytes become typed errors."""

from __future__ import annotations

import io
import os
import struct
import subprocess
import sys
import warnings
import zlib
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from indexes import (
    DecompressionBombError,
    ImageError,
    ImageTooLargeError,
    NotAnImageError,
    TruncatedImageError,
    decode,
    decode_image,
    fingerprint,
)
from indexes.decode import MAX_PIXELS, MAX_SIDE
from tests import imagegen

REPO = Path(__file__).resolve().parents[1]


def _assert_rgb8(rgb: np.ndarray, width: int, height: int) -> None:
    assert rgb.dtype == np.uint8
    assert rgb.shape == (height, width, 3)
    assert rgb.flags["C_CONTIGUOUS"]


# ---- formats and modes ---------------------------------------------------------------------


def test_exif_orientation_is_applied() -> None:
    # Stored 300x200 with a red block top-left; Orientation=6 means "rotate 90 degrees clockwise to
    # display", so the displayed image is 200x300 with the block top-right.
    img = Image.new("RGB", (300, 200), (255, 255, 255))
    img.paste((255, 0, 0), (0, 0, 60, 60))
    exif = Image.Exif()
    exif[0x0112] = 6
    data = imagegen.encode(img, "JPEG", quality=95, exif=exif.tobytes())

    decoded = decode_image(data)

    assert decoded.original_size == (200, 300)
    _assert_rgb8(decoded.rgb, 200, 300)
    top_right = decoded.rgb[10:50, -50:-10].reshape(-1, 3).mean(axis=0)
    top_left = decoded.rgb[10:50, 10:50].reshape(-1, 3).mean(axis=0)
    assert top_right[0] > 200 and top_right[1] < 60, top_right
    assert top_left.min() > 200, top_left  # white: the block moved


def test_exif_orientation_survives_downscaling() -> None:
    img = imagegen.artwork(3, (1600, 1000))
    exif = Image.Exif()
    exif[0x0112] = 6
    decoded = decode_image(imagegen.encode(img, "JPEG", quality=90, exif=exif.tobytes()), max_side=640)
    assert decoded.original_size == (1000, 1600)
    assert decoded.rgb.shape[0] == 640 and decoded.rgb.shape[1] == 400
    assert decoded.scale == pytest.approx(2.5)


def test_palette_png_with_transparency_is_flattened_on_white() -> None:
    img = Image.new("P", (64, 48), 0)
    img.putpalette([0, 0, 0, 200, 30, 30] + [0, 0, 0] * 254)
    img.paste(1, (0, 0, 32, 48))  # left half red, right half palette index 0 = transparent
    data = imagegen.encode(img, "PNG", transparency=0)

    decoded = decode_image(data)

    _assert_rgb8(decoded.rgb, 64, 48)
    assert decoded.alpha is not None
    assert decoded.alpha[:, :32].min() == 255 and decoded.alpha[:, 32:].max() == 0
    assert tuple(decoded.rgb[10, 10]) == (200, 30, 30)
    assert tuple(decoded.rgb[10, 50]) == (255, 255, 255)
    assert tuple(decoded.flattened_on((0, 0, 255))[10, 50]) == (0, 0, 255)
    assert tuple(decoded.flattened_on((0, 0, 255))[10, 10]) == (200, 30, 30)


def test_la_png_keeps_alpha() -> None:
    arr = np.zeros((40, 50, 2), np.uint8)
    arr[..., 0] = 80
    arr[:, :25, 1] = 255  # opaque grey left, transparent right
    data = imagegen.encode(Image.fromarray(arr, "LA"), "PNG")

    decoded = decode_image(data)

    _assert_rgb8(decoded.rgb, 50, 40)
    assert decoded.alpha is not None
    assert tuple(decoded.rgb[5, 5]) == (80, 80, 80)
    assert tuple(decoded.rgb[5, 45]) == (255, 255, 255)


@pytest.mark.parametrize("mode", ["L", "RGB", "I;16"])
def test_a_png_transparent_by_a_key_colour_decodes_as_its_rgba_twin(mode: str) -> None:
    """PNG optimisers store line art as grey or RGB with one colour transparent (tRNS). Flattened
    as stored, its background was black: works refused as blank, thumbnails of them missed."""
    art = imagegen.artwork(3, (90, 70)).convert("L")
    shape = np.asarray(art).copy()
    shape[shape == 0] = 1  # the key is 0: no drawn pixel may share it
    shape[:, :30] = 0  # transparent left third
    stored = Image.fromarray(shape.astype(np.uint16) * 257 if mode == "I;16" else shape)
    stored = stored.convert(mode) if mode == "RGB" else stored
    key = (0, 0, 0) if mode == "RGB" else 0
    rgba = np.dstack([shape, shape, shape, np.where(shape == 0, 0, 255).astype(np.uint8)])

    keyed = decode_image(imagegen.encode(stored, "PNG", transparency=key))
    twin = decode_image(imagegen.encode(Image.fromarray(rgba, "RGBA"), "PNG"))

    assert keyed.alpha is not None and np.array_equal(keyed.alpha, twin.alpha)
    assert np.abs(keyed.rgb.astype(int) - twin.rgb).max() <= 1  # 16 bits scale back to 8 with rounding
    assert tuple(keyed.rgb[10, 10]) == (255, 255, 255)  # on white, as every transparent work


def test_rgba_png_half_transparent_pixel_is_blended() -> None:
    img = Image.new("RGBA", (40, 40), (0, 0, 0, 0))
    img.paste((0, 0, 0, 128), (0, 0, 20, 40))
    decoded = decode_image(imagegen.encode(img, "PNG"))
    _assert_rgb8(decoded.rgb, 40, 40)
    assert decoded.alpha is not None
    assert abs(int(decoded.rgb[5, 5, 0]) - 127) <= 1  # 50 % black over white
    assert tuple(decoded.flattened_on((0, 0, 0))[5, 35]) == (0, 0, 0)


@pytest.mark.parametrize("colour", [(255, 255, 255), (0, 0, 0), (96, 96, 96), (200, 30, 70)])
def test_flattening_matches_pillow_compositing(colour: tuple[int, int, int]) -> None:
    """Every alpha level and ink, flattened on white at decode and then recomposited over
    ``colour``, agrees with Pillow compositing the original over ``colour`` directly."""
    rng = np.random.default_rng(7)
    rgba = rng.integers(0, 256, (64, 64, 4), dtype=np.uint8)
    rgba[..., 3] = np.arange(64 * 64).reshape(64, 64) % 256  # all 256 alpha levels
    original = Image.fromarray(rgba, "RGBA")
    decoded = decode_image(imagegen.encode(original, "PNG"))
    assert decoded.alpha is not None
    expected = Image.new("RGBA", original.size, (*colour, 255))
    expected.alpha_composite(original)
    got = decoded.flattened_on(colour).astype(int)
    assert np.abs(got - np.asarray(expected.convert("RGB"), dtype=int)).max() <= 1


def test_opaque_rgba_has_no_alpha() -> None:
    decoded = decode_image(imagegen.encode(imagegen.artwork(1).convert("RGBA"), "PNG"))
    assert decoded.alpha is None
    _assert_rgb8(decoded.rgb, 480, 360)


def test_16_bit_grayscale_png_is_rescaled() -> None:
    arr = np.zeros((30, 40), np.uint16)
    arr[:, 10:20] = 32768
    arr[:, 20:] = 65535
    img = Image.fromarray(arr)  # uint16 -> mode I;16
    data = imagegen.encode(img, "PNG")
    assert Image.open(io.BytesIO(data)).mode.startswith("I;16")

    decoded = decode_image(data)

    _assert_rgb8(decoded.rgb, 40, 30)
    assert tuple(decoded.rgb[0, 5]) == (0, 0, 0)
    assert abs(int(decoded.rgb[0, 15, 0]) - 128) <= 1
    assert tuple(decoded.rgb[0, 35]) == (255, 255, 255)


@pytest.mark.parametrize(
    ("dtype", "middle", "top", "mode"),
    [
        # Everything over 65535 was clipped to white.
        (np.int32, 1 << 30, (1 << 31) - 1, "I"),
        # HDR and scientific tools write floats in 0..1; they decoded all black (an audit).
        (np.float32, 0.5, 1.0, "F"),
    ],
)
def test_32_bit_tiffs_are_rescaled_to_their_range(dtype: type, middle: float, top: float, mode: str) -> None:
    arr = np.zeros((30, 40), dtype)
    arr[:, 10:20] = middle
    arr[:, 20:] = top
    data = imagegen.encode(Image.fromarray(arr, mode), "TIFF")
    assert Image.open(io.BytesIO(data)).mode == mode

    decoded = decode_image(data)

    _assert_rgb8(decoded.rgb, 40, 30)
    assert tuple(decoded.rgb[0, 5]) == (0, 0, 0)
    assert abs(int(decoded.rgb[0, 15, 0]) - 128) <= 1
    assert tuple(decoded.rgb[0, 35]) == (255, 255, 255)


def test_a_png_with_megabytes_of_compressed_metadata_decodes() -> None:
    """A 2.3 MB XMP history (compressed iTXt) made Pillow refuse the whole valid picture as corrupt."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    png = imagegen.encode(Image.new("RGB", (40, 30), (200, 30, 30)), "PNG")
    xmp = b"".join(b"<rdf:li>xmp.did:%032x</rdf:li>" % i for i in range(60_000))
    itxt = chunk(b"iTXt", b"XML:com.adobe.xmp\x00\x01\x00\x00\x00" + zlib.compress(xmp))
    assert len(xmp) > 2 * 1024 * 1024

    decoded = decode_image(png[:33] + itxt + png[33:])  # after IHDR, as Photoshop writes it

    _assert_rgb8(decoded.rgb, 40, 30)
    assert tuple(decoded.rgb[15, 20]) == (200, 30, 30)
    # Still bounded: 100 MB of zeros in one chunk is refused, not inflated.
    bomb = chunk(b"zTXt", b"Comment\x00\x00" + zlib.compress(bytes(100 * 1024 * 1024)))
    with pytest.raises(TruncatedImageError):
        decode_image(png[:33] + bomb + png[33:])


def test_cmyk_jpeg_becomes_rgb() -> None:
    img = Image.new("CMYK", (64, 64), (0, 0, 0, 0))  # white
    img.paste((255, 0, 0, 0), (0, 0, 32, 64))  # cyan left half
    data = imagegen.encode(img, "JPEG", quality=95)
    assert Image.open(io.BytesIO(data)).mode == "CMYK"

    decoded = decode_image(data)

    _assert_rgb8(decoded.rgb, 64, 64)
    r, g, b = (int(v) for v in decoded.rgb[32, 8])
    assert r < 40 and g > 215 and b > 215, (r, g, b)
    assert decoded.rgb[32, 56].min() > 215


def test_webp_decodes() -> None:
    img = imagegen.artwork(5, (200, 150))
    decoded = decode_image(imagegen.encode(img, "WEBP", lossless=True))
    assert decoded.format == "WEBP"
    _assert_rgb8(decoded.rgb, 200, 150)
    assert np.array_equal(decoded.rgb, np.asarray(img))


def test_animated_gif_uses_first_frame() -> None:
    frames = [Image.new("RGB", (60, 40), colour) for colour in ((250, 0, 0), (0, 250, 0), (0, 0, 250))]
    data = imagegen.encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    assert Image.open(io.BytesIO(data)).n_frames == 3

    decoded = decode_image(data)

    _assert_rgb8(decoded.rgb, 60, 40)
    r, g, b = (int(v) for v in decoded.rgb[20, 30])
    assert r > 200 and g < 50 and b < 50, (r, g, b)


def test_large_image_is_shrunk_to_max_side() -> None:
    decoded = decode_image(imagegen.encode(imagegen.artwork(2, (1500, 900)), "PNG"), max_side=500)
    assert decoded.original_size == (1500, 900)
    _assert_rgb8(decoded.rgb, 500, 300)
    assert decoded.scale == pytest.approx(3.0)


# ---- bad input -----------------------------------------------------------------------------


def _patched_to_declare(data: bytes, width: int, height: int) -> bytes:
    """``data``, a PNG, with its IHDR patched to declare ``width`` x ``height`` (CRC fixed)."""
    buf = bytearray(data)
    assert buf[12:16] == b"IHDR"
    buf[16:24] = struct.pack(">II", width, height)
    buf[29:33] = struct.pack(">I", zlib.crc32(bytes(buf[12:29])))
    return bytes(buf)


def _png_declaring(width: int, height: int) -> bytes:
    """A small real PNG whose IHDR is patched to declare ``width`` x ``height`` (CRC fixed)."""
    return _patched_to_declare(imagegen.encode(Image.new("RGB", (8, 8), (9, 9, 9)), "PNG"), width, height)


def _half(data: bytes) -> bytes:
    return data[: len(data) // 2]


_ART = imagegen.artwork(11, (300, 220))
BAD_INPUTS = {
    "empty": (b"", NotAnImageError),
    "text": (b"<html><body>404 not found</body></html>" * 20, NotAnImageError),
    "random-bytes": (bytes(np.random.default_rng(5).integers(0, 256, 4096, dtype=np.uint8)), NotAnImageError),
    "truncated-png": (_half(imagegen.encode(_ART, "PNG")), TruncatedImageError),
    "truncated-jpeg": (_half(imagegen.encode(_ART, "JPEG", quality=90)), TruncatedImageError),
    "bomb-20000x20000": (_png_declaring(20_000, 20_000), DecompressionBombError),
    "strip-50000x1": (imagegen.encode(Image.new("L", (50_000, 1), 128), "PNG"), ImageTooLargeError),
    "tall-1x50000": (_png_declaring(1, 50_000), ImageTooLargeError),
    # ICO decodes its embedded PNG inside Image.open, before any size check: not an accepted format.
    "icon-container": (imagegen.encode(Image.new("RGB", (64, 64), (9, 90, 9)), "ICO"), NotAnImageError),
}


@pytest.mark.parametrize("name", list(BAD_INPUTS))
def test_bad_input_raises_typed_error(name: str) -> None:
    data, expected = BAD_INPUTS[name]
    with pytest.raises(ImageError) as info:
        decode_image(data)
    assert type(info.value) is expected
    assert info.value.code == expected.code
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize("name", list(BAD_INPUTS))
def test_fingerprint_raises_the_same_typed_error(name: str) -> None:
    data, expected = BAD_INPUTS[name]
    for role in ("query", "reference"):
        with pytest.raises(expected):
            fingerprint(data, role=role)


def test_error_codes_are_distinct_and_stable() -> None:
    codes = {cls.code for _, cls in BAD_INPUTS.values()}
    assert codes == {"not_an_image", "truncated_image", "decompression_bomb", "image_too_large"}


def test_bomb_error_carries_declared_size() -> None:
    # 195 MP: over our MAX_PIXELS, under Pillow's own hard limit (2 x MAX_PIXELS), so our check fires.
    assert MAX_PIXELS < 15_000 * 13_000 < 2 * MAX_PIXELS and MAX_SIDE >= 15_000
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        with pytest.raises(DecompressionBombError) as info:
            decode_image(_png_declaring(15_000, 13_000))
    assert (info.value.width, info.value.height) == (15_000, 13_000)


def test_bomb_between_our_limit_and_twice_it_raises_no_warning() -> None:
    # 195 MP: over our 180 MP limit, under 2x it, where Pillow itself would only warn.
    with pytest.raises(DecompressionBombError):
        decode_image(_png_declaring(15_000, 13_000))


def test_very_short_prefixes_never_raise_untyped_errors() -> None:
    png = imagegen.encode(_ART, "PNG")
    jpg = imagegen.encode(_ART, "JPEG", quality=80)
    for data in (png, jpg):
        for cut in (1, 8, 16, 30, 60, 200, 600):
            with pytest.raises(ImageError) as info:
                decode_image(data[:cut])
            assert info.value.code in ("not_an_image", "truncated_image"), (cut, info.value)


def _exif_orientation_6(broken: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = 6
    exif[0x010F] = "Camera"
    raw = exif.tobytes()
    return raw[:10] if broken == 0 else raw[:17] + b"\0" + raw[18:]


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP"])
@pytest.mark.parametrize("broken", [0, 1])
def test_broken_exif_leaves_the_pixels_as_stored(fmt: str, broken: int) -> None:
    """Pillow raised struct.error from such EXIF blocks: an untyped crash on a decodable image."""
    img = imagegen.artwork(12, (320, 200))
    decoded = decode_image(imagegen.encode(img, fmt, exif=_exif_orientation_6(broken)))
    # Cut short, the block has no orientation to apply; with one bad byte, Pillow still reads the 6.
    assert decoded.original_size == ((320, 200) if broken == 0 else (200, 320))
    assert decoded.original_size == (decoded.rgb.shape[1], decoded.rgb.shape[0])


def test_the_original_size_follows_the_orientation_tag_not_the_shape() -> None:
    """A 2049 x 2048 PNG shrinks to a square; its size was once guessed as 2048 x 2049."""
    decoded = decode_image(imagegen.encode(Image.new("RGB", (2049, 2048), (200, 30, 30)), "PNG"))
    assert decoded.original_size == (2049, 2048)


def test_sixteen_bit_rows_scale_exactly_across_chunks() -> None:
    ramp = (np.arange(700, dtype=np.uint32)[:, None] * 93 + np.arange(300)[None, :] * 7) % 65536
    decoded = decode_image(imagegen.encode(Image.fromarray(ramp.astype(np.uint16)), "PNG"))  # I;16
    expected = np.clip(ramp.astype(np.float64) * (255.0 / 65535.0), 0, 255).astype(np.uint8)
    assert np.array_equal(decoded.rgb[..., 0], expected)


def test_files_that_are_not_regular_are_refused_before_reading(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)  # no writer: a plain open() would wait forever
    for path in (fifo, tmp_path):
        with pytest.raises(NotAnImageError, match="not a regular file"):
            fingerprint(path)


def test_corrupt_exif_decodes_without_a_warning(tmp_path: Path) -> None:
    """Pillow's UserWarning printed two lines of its source on a scan's stderr. Run in a plain
    interpreter: pytest turns every warning into an error (and then the image is refused)."""
    corrupt = b"Exif\x00\x00II*\x00\x08\x00\x00\x00\xff\xff\x00\x00garbage"
    image = tmp_path / "corrupt-exif.jpg"
    image.write_bytes(imagegen.encode(imagegen.artwork(2), "JPEG", quality=90, exif=corrupt))
    code = (
        f"from indexes import decode_image; print(decode_image(open({str(image)!r}, 'rb').read()).rgb.shape)"
    )
    run = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert run.stdout.strip() == "(360, 480, 3)" and run.stderr == "", run.stderr


def test_a_truncated_animated_gif_is_a_typed_error_at_every_cut() -> None:
    """Cut inside its second frame, a GIF raised IndexError or struct.error (counting its frames)."""
    frames = [imagegen.artwork(i, (120, 90)).convert("P") for i in range(3)]
    data = imagegen.encode(frames[0], "GIF", save_all=True, append_images=frames[1:])
    untyped = []
    for cut in range(10, len(data), 7):
        try:
            decode_image(data[:cut])
        except ImageError:
            pass
        except Exception as exc:
            untyped.append((cut, type(exc).__name__))
    assert untyped == []


def test_only_the_first_page_of_a_tiff_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    """Counting a TIFF's pages walked them all: quadratic, 17 s for 40,000 pages of a 4.6 MB file."""
    from PIL import TiffImagePlugin

    pages = [imagegen.artwork(i, (64, 48)) for i in range(4)]
    data = imagegen.encode(pages[0], "TIFF", save_all=True, append_images=pages[1:])
    visited: list[int] = []
    real_seek = TiffImagePlugin.TiffImageFile._seek

    def seek(self: TiffImagePlugin.TiffImageFile, frame: int) -> None:
        visited.append(frame)
        real_seek(self, frame)

    monkeypatch.setattr(TiffImagePlugin.TiffImageFile, "_seek", seek)
    assert decode_image(data).rgb.shape == (48, 64, 3)
    assert max(visited, default=0) == 0


def _lossless_webp() -> bytes:
    return imagegen.encode(Image.new("RGBA", (7500, 7000), (9, 9, 9, 99)), "WEBP", lossless=True)


def _float_tiff() -> bytes:
    return imagegen.encode(Image.new("F", (9000, 9000)), "TIFF", compression="tiff_deflate")


def _avif() -> bytes:
    return imagegen.encode(Image.new("RGB", (7500, 7000), (9, 9, 9)), "AVIF", speed=10, quality=30)


@pytest.mark.parametrize(
    ("make", "said"), [(_lossless_webp, "WebP"), (_float_tiff, "floating"), (_avif, "AVIF")]
)
def test_small_files_whose_decoders_hold_several_copies_are_bombs(
    make: Callable[[], bytes], said: str
) -> None:
    """A 6.5 kB WebP of 13,000 px peaked at 2.65 GB, a 1.1 MB float TIFF of 179.6 MP at 2.1 GB, a
    6 kB AVIF of 13,000 px at 2.0 GB (an audit; 64 MP at 0.69 GB)."""
    data = make()
    assert len(data) < 2_000_000
    with pytest.raises(DecompressionBombError, match=said):
        decode_image(data)


@pytest.mark.parametrize("mode", ["RGBA", "LA", "P", "CMYK"])
def test_large_pictures_converted_to_rgb_are_reduced_a_band_at_a_time(mode: str) -> None:
    """Converted whole, a 180 MP transparent PNG or GIF or a CMYK TIFF peaked at ~1.5 GB (an audit):
    a second full-size copy, and Pillow reduces RGBA through a premultiplied third. In bands, the
    same pixels come out as the whole-image conversion gives, in under a band's memory more."""
    rng = np.random.default_rng(5)
    h, w = 3 * decode._BAND_PIXELS // 2900 + 7, 2900  # three bands and a partial block at the bottom
    samples = rng.integers(0, 256, (h, w, 4), dtype=np.uint8)
    samples[: h // 3, :, 3] = 0  # transparent at the top
    im = Image.fromarray(samples, "RGBA")
    im = im.convert(mode) if mode != "LA" else Image.fromarray(samples[..., :2].copy(), "LA")
    data = imagegen.encode(
        im, "TIFF" if mode == "CMYK" else "PNG", **({"transparency": 3} if mode == "P" else {})
    )
    factor = 5
    whole = decode._to_rgb_or_rgba(Image.open(io.BytesIO(data))).reduce(factor)
    banded = decode._reduce_in_bands(Image.open(io.BytesIO(data)), factor)
    assert banded.mode == whole.mode and banded.size == whole.size
    assert np.array_equal(np.asarray(banded), np.asarray(whole))


@pytest.mark.parametrize("channels", [1, 4])
def test_16_bit_pngs_have_the_lower_limit_of_formats_that_decode_to_several_copies(channels: int) -> None:
    """A 329 kB 16-bit grey PNG of 13,000 px peaked at 1.19 GB, a 16-bit RGBA one at 1.36 GB; the
    same size in 8 bits at 0.72 GB. 16-bit RGBA opens as mode RGBA: only the stored depth tells."""
    shape = (8, 8) if channels == 1 else (8, 8, 4)
    ok, encoded = cv2.imencode(".png", np.full(shape, 40_000, np.uint16))
    assert ok
    sixteen = encoded.tobytes()
    assert decode_image(sixteen).rgb.shape == (8, 8, 3)  # small ones decode as before
    with pytest.raises(DecompressionBombError, match="16-bit"):
        decode_image(_patched_to_declare(sixteen, 9_000, 9_000))  # 81 MP
    with pytest.raises(TruncatedImageError):  # 8-bit at 81 MP is allowed: only its data is missing
        decode_image(_png_declaring(9_000, 9_000))


_MUTATED_FORMATS: dict[str, dict[str, object]] = {
    "PNG": {},
    "JPEG": {"quality": 85},
    "GIF": {},
    "WEBP": {},
    "BMP": {},
    "TIFF": {"compression": "tiff_lzw"},
}


def _mutations(data: bytes, rng: np.random.Generator, count: int) -> list[bytes]:
    """Damage as it arrives from the wild: flipped bytes, cut tails, spliced junk, a bad header."""
    out = []
    for n in range(count):
        buf = bytearray(data)
        kind = n % 4
        if kind == 0:
            for at in rng.integers(0, len(buf), int(rng.integers(1, 20))):
                buf[at] = int(rng.integers(0, 256))
        elif kind == 1:
            buf = buf[: int(rng.integers(1, len(buf)))]
        elif kind == 2:
            at = int(rng.integers(0, len(buf)))
            buf[at:at] = rng.integers(0, 256, int(rng.integers(1, 64)), dtype=np.uint8).tobytes()
        else:
            for at in rng.integers(0, min(len(buf), 64), int(rng.integers(1, 6))):
                buf[at] = int(rng.integers(0, 256))
        out.append(bytes(buf))
    return out


@pytest.mark.parametrize("fmt", list(_MUTATED_FORMATS))
def test_damaged_files_of_every_format_fingerprint_or_raise_a_typed_error(fmt: str) -> None:
    """A one-off run of 1,800 such files (twelve formats) found no untyped error; this keeps it so."""
    art = imagegen.artwork(13, (96, 64))
    data = imagegen.encode(art.convert("P") if fmt == "GIF" else art, fmt, **_MUTATED_FORMATS[fmt])
    fingerprint(data)  # the undamaged file is fine
    refused = 0
    for damaged in _mutations(data, np.random.default_rng(sum(map(ord, fmt))), 24):
        try:
            fingerprint(damaged)
        except ImageError:
            refused += 1
    assert refused > 0  # the damage reached the decoder
