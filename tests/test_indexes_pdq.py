"""``indexes.pdq`` against ``pdqhash``, the reference C++ bound to Python: the same 8 hashes and
quality on ordinary pictures, and a stable all-zero hash where the reference's is rounding noise."""

from __future__ import annotations

import random

import numpy as np
import pdqhash
import pytest
from PIL import Image, ImageDraw

from indexes import global_hashes, pdq
from tests import imagegen


def _reference(rgb: np.ndarray) -> tuple[np.ndarray, int]:
    hashes, quality = pdqhash.compute_dihedral(np.ascontiguousarray(rgb))
    return np.packbits(np.asarray(hashes, dtype=np.uint8), axis=1), int(quality)


def _pictures() -> list[np.ndarray]:
    """Generated artworks and photo-like noise at the sizes the engine hashes: whole 256 px
    thumbnails, crops of any shape, and small views."""
    rng = random.Random(7)
    out = []
    for seed in range(12):
        art = np.asarray(imagegen.artwork(seed, (rng.randint(60, 480), rng.randint(60, 480))))
        small = global_hashes.hash_input(art)
        h, w = small.shape[:2]
        out.append(small)
        out.append(small[rng.randint(0, h // 3) :, : w - rng.randint(0, w // 3)])
    blurred = np.random.default_rng(3).integers(0, 256, (256, 192, 3), dtype=np.uint8)
    out.append(np.asarray(Image.fromarray(blurred).resize((64, 48)).resize((256, 192))))
    out.append(np.asarray(imagegen.artwork(99, (64, 64))))
    out.append(np.asarray(imagegen.artwork(98, (40, 9))))
    return out


def test_dihedral_hashes_and_quality_equal_the_reference() -> None:
    distances = []
    for rgb in _pictures():
        ours, quality = pdq.dihedral_rgb(rgb)
        theirs, their_quality = _reference(rgb)
        assert quality == their_quality
        distances.append(int(global_hashes.hamming(ours, theirs).max()))
    # A coefficient within float32 rounding of the median may fall on the other side of it.
    assert max(distances) <= 2, distances
    assert distances.count(0) >= len(distances) - 2, distances


@pytest.mark.parametrize("size", [(600, 420), (1024, 777)])
def test_larger_pictures_equal_the_reference_too(size: tuple[int, int]) -> None:
    """Wider box windows (5-8 px) than the engine's 256 px views use."""
    rgb = np.asarray(imagegen.artwork(31, size))
    ours, quality = pdq.dihedral_rgb(rgb)
    theirs, their_quality = _reference(rgb)
    assert quality == their_quality
    assert int(global_hashes.hamming(ours, theirs).max()) <= 2


def test_alpha_is_ignored_as_the_reference_ignores_it() -> None:
    rgba = np.asarray(imagegen.artwork(12, (200, 150)).convert("RGBA")).copy()
    rgba[..., 3] = 7
    ours, quality = pdq.dihedral_rgb(rgba)
    assert np.array_equal(ours, pdq.dihedral_rgb(np.ascontiguousarray(rgba[..., :3]))[0])
    assert quality == _reference(rgba)[1] and int(global_hashes.hamming(ours, _reference(rgba)[0]).max()) <= 2


def test_single_hash_is_the_first_dihedral_one() -> None:
    for rgb in _pictures()[:6]:
        single, quality = pdq.hash_rgb(rgb)
        hashes, dihedral_quality = pdq.dihedral_rgb(rgb)
        assert np.array_equal(single, hashes[0]) and quality == dihedral_quality


_VARIANT_OF = {
    Image.Transpose.ROTATE_90: 1,
    Image.Transpose.ROTATE_180: 2,
    Image.Transpose.ROTATE_270: 3,
    Image.Transpose.FLIP_TOP_BOTTOM: 4,
    Image.Transpose.FLIP_LEFT_RIGHT: 5,
    Image.Transpose.TRANSPOSE: 6,
    Image.Transpose.TRANSVERSE: 7,
}


def test_each_turned_copy_is_nearest_its_own_variant() -> None:
    """As in the reference, the variants are exact for the transpose only: PDQ's sampling grid is
    not symmetric, so a mirrored picture is sampled a pixel off (26-56 bits, see
    ``test_indexes_engine``), yet still far nearer its own variant than any other (~128)."""
    art = imagegen.artwork(5, (256, 256))
    hashes, _ = pdq.dihedral_rgb(np.asarray(art))
    for transform, index in _VARIANT_OF.items():
        turned, _ = pdq.hash_rgb(np.asarray(art.transpose(transform)))
        distances = global_hashes.hamming(hashes, turned)
        assert int(np.argmin(distances)) == index and distances.min() < 64, (transform, distances)
    transposed, _ = pdq.hash_rgb(np.asarray(art.transpose(Image.Transpose.TRANSPOSE)))
    assert np.array_equal(transposed, hashes[6])


def test_bands_hash_to_a_stable_degenerate_zero() -> None:
    """Horizontal bands have every coefficient PDQ keeps at zero: the reference's bits are its
    rounding errors (they change with one pixel's noise), ours are all zero, which the engine's
    degenerate test refuses to index or search."""
    img = Image.new("RGB", (240, 160), (200, 30, 40))
    draw = ImageDraw.Draw(img)
    draw.rectangle((0, 55, 239, 105), fill=(20, 30, 120))
    rgb = np.asarray(img)
    ours, quality = pdq.dihedral_rgb(rgb)
    assert quality > 0
    assert not ours.any()
    assert bool(global_hashes.degenerate(ours).all())
    theirs, _ = _reference(rgb)
    assert theirs.any()  # noise, not a picture


@pytest.mark.parametrize("shape", [(4, 30), (30, 4), (1, 1)])
def test_too_small_hashes_to_zero_like_the_reference(shape: tuple[int, int]) -> None:
    rgb = np.full((*shape, 3), 128, np.uint8)
    rgb[0, 0] = 0
    ours, quality = pdq.dihedral_rgb(rgb)
    theirs, their_quality = _reference(rgb)
    assert quality == their_quality == 0
    assert not ours.any() and not theirs.any()


def test_an_empty_picture_hashes_to_zero() -> None:
    hashes, quality = pdq.dihedral_rgb(np.zeros((0, 40, 3), np.uint8))
    assert quality == 0 and not hashes.any()
