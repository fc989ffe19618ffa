"""Aligned re-hash: the query region under a placement, warped back, hashes like the work."""

from __future__ import annotations

import cv2
import numpy as np
from PIL import Image

from indexes import Fingerprint, alignment, appearance, fingerprint, global_hashes, scoring
from indexes.geometry import Placement
from tests import imagegen

WORK_SIZE = (480, 360)
QUERY_SIZE = (1000, 800)


def _placed_copy(angle: float, scale: float, shift: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    """The work rotated, scaled and pasted into a grey page: (page pixels, work -> page affine)."""
    art = np.asarray(imagegen.artwork(11, WORK_SIZE))
    matrix = cv2.getRotationMatrix2D((0, 0), angle, scale)
    matrix[:, 2] += shift
    page = cv2.warpAffine(art, matrix, QUERY_SIZE, borderValue=(200, 200, 200))
    return page, matrix


def _distance(page: np.ndarray, placement: Placement) -> int:
    work = global_hashes.pdq(np.asarray(imagegen.artwork(11, WORK_SIZE)))[0]
    thumb = global_hashes.hash_input(page)
    hashes = alignment.aligned_pdq(thumb, QUERY_SIZE, placement, WORK_SIZE)
    return int(global_hashes.hamming(hashes, work[None, :]).min())


def test_region_under_the_true_placement_hashes_like_the_work() -> None:
    page, matrix = _placed_copy(angle=12, scale=0.9, shift=(250, 120))
    assert _distance(page, Placement(30, matrix, 0.5)) <= 16


def test_region_under_a_wrong_placement_does_not() -> None:
    page, matrix = _placed_copy(angle=12, scale=0.9, shift=(250, 120))
    wrong = matrix.copy()
    wrong[:, 2] += (220, 0)  # half a work to the side
    assert _distance(page, Placement(30, wrong, 0.5)) > 40


def test_homography_is_tried_beside_the_affine_map() -> None:
    page, matrix = _placed_copy(angle=0, scale=1.0, shift=(100, 100))
    homography = np.vstack([matrix, [0.0, 0.0, 1.0]])
    hashes = alignment.aligned_pdq(
        global_hashes.hash_input(page), QUERY_SIZE, Placement(30, matrix, 0.5, homography), WORK_SIZE
    )
    assert hashes.shape == (2, global_hashes.PDQ_BYTES)


def test_thumbnail_is_kept_on_fresh_fingerprints_but_not_serialised() -> None:
    fp = fingerprint(imagegen.encode(imagegen.artwork(12)))
    assert fp.thumbnail is not None and max(fp.thumbnail.shape[:2]) <= 256
    again = Fingerprint.from_bytes(fp.to_bytes())
    assert again.thumbnail is None
    assert again == fp and again.digest() == fp.digest()


def _edges(page: np.ndarray, placement: Placement, size: tuple[int, int] = QUERY_SIZE) -> float:
    work = appearance.signature(global_hashes.thumbnail(np.asarray(imagegen.artwork(11, WORK_SIZE))))
    return alignment.aligned_edges(global_hashes.hash_input(page), size, placement, WORK_SIZE, work)


def test_placed_edges_recognise_a_captioned_crop_that_the_aligned_hash_does_not() -> None:
    page, matrix = _placed_copy(angle=8, scale=1.2, shift=(200, 100))
    # Keep the top-left ~45 % of the placed work, under a black caption bar, as a hard JPEG.
    crop = page[:420, :560].copy()
    crop[:90] = 0
    crop = np.asarray(imagegen.jpeg(Image.fromarray(crop), quality=40))
    size = (crop.shape[1], crop.shape[0])
    placement = Placement(30, matrix, 0.5)
    assert _edges(crop, placement, size) >= scoring.PLACED_EDGES_MATCH
    work = global_hashes.pdq(np.asarray(imagegen.artwork(11, WORK_SIZE)))[0]
    hashes = alignment.aligned_pdq(global_hashes.hash_input(crop), size, placement, WORK_SIZE)
    assert int(global_hashes.hamming(hashes, work[None, :]).min()) > 40  # beyond aligned_score's reach


def test_placed_edges_under_a_wrong_placement_do_not_correlate() -> None:
    page, matrix = _placed_copy(angle=8, scale=1.2, shift=(200, 100))
    wrong = matrix.copy()
    wrong[:, 2] += (250, 0)
    assert _edges(page, Placement(30, wrong, 0.5)) < 0.5


def test_placed_edges_need_a_tenth_of_the_work_inside_the_query() -> None:
    page, matrix = _placed_copy(angle=0, scale=1.0, shift=(0, 0))
    outside = matrix.copy()
    outside[:, 2] += (-470, -350)  # only a 10 x 10 px corner of the work stays on the page
    assert _edges(page, Placement(30, outside, 0.5)) == 0.0


def test_recoloured_edges_find_a_copy_whose_grey_level_lost_every_edge() -> None:
    page, matrix = _placed_copy(angle=8, scale=1.2, shift=(200, 100))
    # Recoloured so that every pixel has the same luminance: red carries the old grey level and
    # green makes up the difference, so the grey edges are gone and the red channel keeps them.
    level = cv2.cvtColor(page, cv2.COLOR_RGB2GRAY).astype(np.float32)
    green = np.clip((150.0 - 0.299 * level) / 0.587, 0, 255)
    recoloured = np.dstack([level, green, np.zeros_like(level)]).astype(np.uint8)
    placement = Placement(30, matrix, 0.5)
    thumb = global_hashes.hash_input(recoloured)
    work = appearance.signature(global_hashes.thumbnail(np.asarray(imagegen.artwork(11, WORK_SIZE))))
    assert alignment.aligned_edges(thumb, QUERY_SIZE, placement, WORK_SIZE, work) < 0.3
    assert alignment.recoloured_edges(thumb, QUERY_SIZE, placement, WORK_SIZE, work) >= 0.9
    wrong = matrix.copy()
    wrong[:, 2] += (250, 0)
    assert alignment.recoloured_edges(thumb, QUERY_SIZE, Placement(30, wrong, 0.5), WORK_SIZE, work) < 0.6
