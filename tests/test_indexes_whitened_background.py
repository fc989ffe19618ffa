"""A transparent work copied flattened onto a colour gets a query view with that colour made white."""

from __future__ import annotations

import numpy as np
import pytest

from indexes import fingerprint, global_hashes
from indexes.content_box import background_to_white
from tests import imagegen


def _nearest_bits(query_views: np.ndarray, work_view: np.ndarray) -> list[int]:
    """Per query view, the least Hamming distance over its 8 orientations to ``work_view``."""
    return [int(min(global_hashes.hamming(view[o], work_view) for o in range(8))) for view in query_views]


@pytest.mark.parametrize("seed", [0, 2, 4])
@pytest.mark.parametrize("colour", [(40, 120, 160), (180, 60, 60)])
def test_a_copy_flattened_onto_a_colour_hashes_like_the_work_on_white(
    seed: int, colour: tuple[int, int, int]
) -> None:
    art = imagegen.transparent_artwork(seed)
    work = fingerprint(imagegen.encode(art), role="reference")
    copy = fingerprint(imagegen.encode(imagegen.on_background(art, colour), "JPEG", quality=80))
    bits = _nearest_bits(copy.pdq, work.pdq[0, 0])  # the work flattened onto white
    assert bits[0] > 44  # the premise: the copy as uploaded is far from the work's hash
    assert min(bits[1:]) <= 20  # within PDQ's match distance once its background is white


def test_white_backgrounds_and_busy_borders_get_no_extra_view() -> None:
    art = imagegen.transparent_artwork(0)
    on_white = imagegen.on_background(art, (255, 255, 255))
    assert background_to_white(np.asarray(on_white)) is None
    busy = np.asarray(imagegen.artwork(3))  # shapes run off every edge: no uniform border
    assert background_to_white(busy) is None
    # The copy on a colour gets one view more than the same copy on white; the view is white-framed.
    on_colour = imagegen.on_background(art, (40, 120, 160))
    views_on_white = len(fingerprint(imagegen.encode(on_white)).pdq)
    assert len(fingerprint(imagegen.encode(on_colour)).pdq) == views_on_white + 1
    whitened = background_to_white(np.asarray(on_colour))
    assert whitened is not None and whitened[0, 0].tolist() == [255, 255, 255]
