"""Aligned re-hash: compare a placed work with the query pixels under it, at hash cost.

A verified placement says where a registered work sits in the query. Warping that region of
the query back into the work's frame and hashing it with PDQ turns "many keypoints agree on a
placement" into "the placed pixels look like the work": on the 2,000-work benchmark, true
placements gave aligned distances under 32 bits in 1,585 of 2,964 cases and false ones in 3
of 1,349 (mostly shared clip-art elements). It rescues copies whose keypoints are few but whose
pixels survived: listing-page screenshots, small rotations, frames, perspective.
"""

from __future__ import annotations

import cv2
import numpy as np

from indexes import appearance, global_hashes
from indexes.geometry import Placement

# Share of the work that must lie inside the query for its placed edges to be compared.
MIN_VISIBLE = 0.1
# The placed region is warped at this multiple of the signature's side, then area-averaged
# down to it, as the signature's own thumbnail is (4x cost twice as much, for the same scores).
_EDGE_OVERSAMPLE = 2

# Side of the warped region: the thumbnail is 256 px, and a work inside a listing page
# covers about half of it, so larger would only upsample.
TARGET_SIDE = 128


def aligned_pdq(
    thumbnail: np.ndarray,
    query_working_size: tuple[int, int],
    placement: Placement,
    work_size: tuple[int, int],
    *,
    mirrored: bool = False,
) -> np.ndarray:
    """PDQ hashes (n, 32) of the query region under ``placement``, warped into the work's frame:
    by the affine map, and also by the homography when the placement has one.

    ``thumbnail`` is the query's hash-size RGB; the placement maps work working pixels to query
    working pixels (of the mirrored query when ``mirrored``). Parts of the work outside the
    query come out white, as a crop's missing area would be. Both warps are kept because
    neither wins everywhere: the homography fixes perspective copies (benchmark recall at
    `match` 0.81 -> 0.85) but a noisy one misaligns screenshots that the affine map gets right."""
    image, to_thumb = _as_placed(thumbnail, query_working_size, mirrored)
    ww, wh = work_size
    per_target = max(ww, wh) / TARGET_SIDE  # work working pixels per target pixel
    size = (max(8, round(ww / per_target)), max(8, round(wh / per_target)))
    work_from_target = np.diag([per_target, per_target, 1.0])
    affine = _affine(placement)
    maps = [affine] if placement.homography is None else [affine, placement.homography]
    hashes = []
    for work_to_query in maps:
        mapping = to_thumb @ work_to_query @ work_from_target
        warped = cv2.warpPerspective(
            image, mapping, size, flags=cv2.INTER_AREA | cv2.WARP_INVERSE_MAP, borderValue=(255, 255, 255)
        )
        hashes.append(global_hashes.pdq(warped)[0])
    return np.stack(hashes)


def aligned_edges(
    thumbnail: np.ndarray,
    query_working_size: tuple[int, int],
    placement: Placement,
    work_size: tuple[int, int],
    work_signature: np.ndarray,
    *,
    mirrored: bool = False,
) -> float:
    """Correlation of the query's edges under ``placement`` with the work's, over the part of
    the work inside the query (``indexes.appearance``); 0 when under ``MIN_VISIBLE`` of it is.

    The aligned PDQ compares grey levels, so a recoloured crop (every cue damaged at once)
    lands 60-100 bits away even when placed right; edge positions survive a recolour, and the
    work's band-limited edge map is rebuilt from its stored signature, so nothing new is kept
    per work."""
    image, to_thumb = _as_placed(thumbnail, query_working_size, mirrored)
    gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32)
    placed = _placed_edges([gray], to_thumb, placement, work_size)
    if placed is None:
        return 0.0
    (edges,), visible = placed
    return appearance.masked_correlation(appearance.edge_map(work_signature), edges, visible)


def recoloured_edges(
    thumbnail: np.ndarray,
    query_working_size: tuple[int, int],
    placement: Placement,
    work_size: tuple[int, int],
    work_signature: np.ndarray,
) -> float:
    """``aligned_edges`` made to survive a recolour and an overlay: the best correlation with the
    work's edges of the edges of the query's grey level or of one of its colour channels, each
    taken whole or with an overlay's tiles left out (``appearance.unoccluded_correlation``).

    A hue rotation moves grey levels so that edges between colours fade or vanish in grey
    while a channel keeps them; a caption bar over a recoloured crop adds strong edges the
    work lacks. For the exclusive placements (``Engine._exclusive``), on benchmark seeds 0 and
    1: 30 and 32 more true copies at `match`, the same wrong works, and 3 and 2 more
    distractors, each a derivative of a registered drawing (BENCHMARKS.md, twentieth session)."""
    image, to_thumb = _as_placed(thumbnail, query_working_size, False)
    gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    planes = [p.astype(np.float32) for p in (gray, image[..., 0], image[..., 1], image[..., 2])]
    placed = _placed_edges(planes, to_thumb, placement, work_size)
    if placed is None:
        return 0.0
    maps, visible = placed
    work = appearance.edge_map(work_signature)
    measures = (appearance.masked_correlation, appearance.unoccluded_correlation)
    return max(measure(work, edges, visible) for edges in maps for measure in measures)


def _placed_edges(
    planes: list[np.ndarray], to_thumb: np.ndarray, placement: Placement, work_size: tuple[int, int]
) -> tuple[list[np.ndarray], np.ndarray] | None:
    """Each grey ``plane`` of the query under ``placement``, warped into the work's frame as a
    band-limited edge map (``appearance.low_pass_edges``), and which of its pixels lie inside
    the query; None when under ``MIN_VISIBLE`` of the work does."""
    side = appearance.SIDE * _EDGE_OVERSAMPLE
    ww, wh = work_size
    # Target pixels -> work working pixels (squashed to a square, as the signature is) -> query.
    mapping = to_thumb @ _affine(placement) @ np.diag([ww / side, wh / side, 1.0])
    inverse = cv2.WARP_INVERSE_MAP
    # Which signature pixels lie inside the query, less a one-pixel rim of partly covered ones.
    inside = cv2.warpPerspective(
        np.ones(planes[0].shape, np.uint8),
        mapping @ np.diag([_EDGE_OVERSAMPLE, _EDGE_OVERSAMPLE, 1.0]),
        (appearance.SIDE, appearance.SIDE),
        flags=cv2.INTER_NEAREST | inverse,
        borderValue=0,
    )
    visible = cv2.erode(inside, np.ones((3, 3), np.uint8), borderType=cv2.BORDER_REPLICATE) > 0
    if visible.mean() < MIN_VISIBLE:
        return None
    maps = []
    for plane in planes:
        # Replicated borders: a constant fill would draw an edge along the query's border.
        warped = cv2.warpPerspective(
            plane, mapping, (side, side), flags=cv2.INTER_LINEAR | inverse, borderMode=cv2.BORDER_REPLICATE
        )
        small = cv2.resize(warped, (appearance.SIDE, appearance.SIDE), interpolation=cv2.INTER_AREA)
        maps.append(appearance.low_pass_edges(small))
    return maps, visible


def _as_placed(
    thumbnail: np.ndarray, query_working_size: tuple[int, int], mirrored: bool
) -> tuple[np.ndarray, np.ndarray]:
    """The thumbnail as the placement sees the query (flipped for a mirrored one), and the 3x3
    scaling from query working pixels to thumbnail pixels."""
    image = np.ascontiguousarray(thumbnail[:, ::-1]) if mirrored else thumbnail
    to_thumb = image.shape[1] / max(1, query_working_size[0])
    return image, np.diag([to_thumb, to_thumb, 1.0])


def _affine(placement: Placement) -> np.ndarray:
    """The placement's 2x3 affine map as a 3x3 matrix."""
    return np.vstack([placement.matrix, [0.0, 0.0, 1.0]])
