"""The whole-image appearance signature (``indexes.appearance``) on generated art."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from PIL import Image, ImageFilter

from indexes import appearance
from tests import imagegen


def sig(img: Image.Image) -> np.ndarray:
    return appearance.signature(np.asarray(img.convert("RGB")))


def shrink(img: Image.Image, factor: float) -> Image.Image:
    return img.resize((round(img.width * factor), round(img.height * factor)), Image.Resampling.LANCZOS)


ART = imagegen.artwork(101)
UNRELATED = [imagegen.artwork(seed) for seed in range(300, 312)] + [
    imagegen.sample_image(name).convert("RGB") for name in imagegen.SAMPLE_NAMES
]


def test_signature_is_255_signed_bytes_and_a_blank_image_has_none() -> None:
    s = sig(ART)
    assert s.shape == (appearance.SIGNATURE_BYTES,) and s.dtype == np.int8
    assert np.abs(s).max() == 127  # scaled to the full range
    blank = sig(imagegen.plain_fill())
    assert not blank.any()
    assert len(appearance.orientations(blank)) == 0
    assert appearance.similarity(appearance.orientations(s), blank) == 0.0


def test_a_missing_signature_compares_as_zero() -> None:
    """Fingerprints made before signatures existed carry an empty one."""
    assert len(appearance.orientations(appearance.EMPTY)) == 0
    assert appearance.similarity(appearance.orientations(sig(ART)), appearance.EMPTY) == 0.0
    assert appearance.similarity(appearance.orientations(appearance.EMPTY), sig(ART)) == 0.0


@pytest.mark.parametrize(
    "op",
    [
        Image.Transpose.FLIP_LEFT_RIGHT,
        Image.Transpose.FLIP_TOP_BOTTOM,
        Image.Transpose.ROTATE_90,
        Image.Transpose.ROTATE_180,
        Image.Transpose.ROTATE_270,
        Image.Transpose.TRANSPOSE,
        Image.Transpose.TRANSVERSE,
    ],
)
def test_rotations_and_mirrors_correlate_fully_in_one_orientation(op: Image.Transpose) -> None:
    views = appearance.orientations(sig(ART.transpose(op)))
    assert len(views) == 8
    assert appearance.similarity(views, sig(ART)) > 0.99


def test_a_small_blurred_recoloured_copy_correlates_and_unrelated_art_does_not() -> None:
    copy = imagegen.jpeg(shrink(ART, 0.2).filter(ImageFilter.GaussianBlur(1)), 30)
    copy = Image.merge("RGB", copy.split()[::-1])  # channels swapped: a recolour
    views = appearance.orientations(sig(copy))
    assert appearance.similarity(views, sig(ART)) >= 0.9
    unrelated = [appearance.similarity(views, sig(img)) for img in UNRELATED]
    assert max(unrelated) < 0.6, unrelated


def test_an_aspect_stretch_is_invisible_to_it() -> None:
    stretched = ART.resize((ART.width * 3 // 2, ART.height))
    assert appearance.similarity(appearance.orientations(sig(stretched)), sig(ART)) > 0.97


def test_masked_correlation_of_flat_or_unmasked_maps_is_zero() -> None:
    ramp = np.tile(np.arange(appearance.SIDE, dtype=np.float32), (appearance.SIDE, 1))
    everywhere = np.ones(ramp.shape, bool)
    assert appearance.masked_correlation(ramp, ramp, everywhere) == pytest.approx(1.0)
    assert appearance.masked_correlation(ramp, np.zeros_like(ramp), everywhere) == 0.0
    left = np.zeros(ramp.shape, bool)
    left[:, :1] = True  # one constant column of the ramp: nothing to correlate
    assert appearance.masked_correlation(ramp, ramp, left) == 0.0


def test_edge_map_rebuilds_the_band_limited_edges_of_the_image() -> None:
    art = np.asarray(imagegen.artwork(5, (256, 256)))
    small = cv2.resize(
        cv2.cvtColor(art, cv2.COLOR_RGB2GRAY).astype(np.float32),
        (appearance.SIDE,) * 2,
        interpolation=cv2.INTER_AREA,
    )
    rebuilt = appearance.edge_map(appearance.signature(art))
    everywhere = np.ones(rebuilt.shape, bool)
    assert appearance.masked_correlation(rebuilt, appearance.low_pass_edges(small), everywhere) > 0.99
    other = np.asarray(imagegen.artwork(6, (256, 256)))
    assert (
        appearance.masked_correlation(appearance.edge_map(appearance.signature(other)), rebuilt, everywhere)
        < 0.6
    )


def _edges_of(seed: int) -> np.ndarray:
    art = np.asarray(imagegen.artwork(seed, (256, 256)))
    grey = cv2.cvtColor(art, cv2.COLOR_RGB2GRAY).astype(np.float32)
    return appearance.low_pass_edges(cv2.resize(grey, (appearance.SIDE,) * 2, interpolation=cv2.INTER_AREA))


def test_unoccluded_correlation_leaves_out_an_overlay_but_not_missing_art() -> None:
    work = _edges_of(5)
    everywhere = np.ones(work.shape, bool)
    # A busy band over the bottom quarter (a caption): it adds edges the work lacks.
    captioned = work.copy()
    band = np.random.default_rng(0).normal(0.0, 2.0 * float(work.std()), (16, appearance.SIDE))
    captioned[-16:] = float(work.mean()) + np.abs(band).astype(np.float32)
    assert appearance.masked_correlation(work, captioned, everywhere) < 0.6
    assert appearance.unoccluded_correlation(work, captioned, everywhere) > 0.9
    # The same quarter empty instead (a derivative drawing that kept the rest): it still counts.
    emptied = work.copy()
    emptied[-16:] = float(work.min())
    plain = appearance.masked_correlation(work, emptied, everywhere)
    assert plain < 0.8
    assert appearance.unoccluded_correlation(work, emptied, everywhere) < plain + 0.05


def test_unoccluded_correlation_of_unrelated_edges_stays_low() -> None:
    everywhere = np.ones((appearance.SIDE,) * 2, bool)
    assert appearance.unoccluded_correlation(_edges_of(5), _edges_of(6), everywhere) < 0.6
