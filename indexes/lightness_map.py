"""A work's lightness map, and where a query's edges sit inside it without a placement.

ORB needs repeatable corners, and a small or flat picture cut down, captioned, recoloured and saved
as a JPEG keeps too few: on benchmark seed 0, 23 of 200 crops that placed as PNGs placed with
nothing once saved at JPEG quality 40-70, 12 of them crops of 96 px photo tiles. This compares
pixels instead. Each registered work keeps its lightness ((max + min) / 2 of R, G and B, which a hue
rotation leaves alone) squashed to ``SIDE`` x ``SIDE`` (4 KB). A query's lightness edges are
scaled to each candidate size of a crop of the work, with its top or bottom quarter (a caption
bar) left out or not, and correlated (normalised, so contrast changes cancel) at every shift with
the work's edges: the best correlation is the measure.

The measure alone is weak against plain pictures (one circle's rim fits any circle), so the engine
takes it only for the work its copy descriptor puts nearest, and only when it clearly beats the
works ranked next (``Engine._learned``).
"""

from __future__ import annotations

import cv2
import numpy as np

SIDE = 64
MAP_BYTES = SIDE * SIDE
EMPTY = np.zeros(0, np.uint8)
# The first pass: crops showing these shares of the work's width and height, anywhere in it, whole or
# with the top or bottom quarter of the query left out (a caption bar covers 18-25 % of a
# captioned picture's height). A query fitting one at ``_PROMISING`` is searched again at widths
# and heights around the best share, each independently (a stretched copy changes its aspect).
_FIRST_SHARES = (0.75, 0.9)
_CAPTION_SHARE = 0.25
_CUTS = ("none", "top", "bottom")
_PROMISING = 0.5
_STEPS = (-0.15, -0.075, 0.0, 0.075, 0.15)
_SMALLEST = 0.5
_SEARCH_SCALE = 2
_BLUR_SIGMA = 1.0
# Below this the template is flat: no edges to place.
_MIN_SPREAD = 1e-3
# A query with fewer strong edges than this share of its pixels (one diagonal edge across a dark
# photo tile: 0.063) fits any picture with an edge like it: held-out seed 1 named a camera tile as
# a retina tile so (BENCHMARKS.md, forty-fourth session). True copies the step found on seeds 0, 2
# and 3 in replays: 8 of 81 had under 0.07 (0.008-0.068), all plain crops, none captioned.
_MIN_EDGE_SHARE = 0.07
_EDGE_LEVEL = 0.25


def lightness_map(rgb: np.ndarray) -> np.ndarray:
    """(``MAP_BYTES``,) uint8 lightness of an RGB image (a 256 px thumbnail in practice)."""
    return np.ascontiguousarray(_squashed(_lightness(rgb), SIDE, SIDE).round().astype(np.uint8)).ravel()


def similarity(query_rgb: np.ndarray, work_map: np.ndarray) -> float:
    """Best normalised correlation (-1..1) of the query's lightness edges, as any searched crop of
    the work, with the work's; 0 when either side is flat, the query's edges are too sparse to
    tell pictures apart (``_MIN_EDGE_SHARE``), or the map is missing."""
    query = prepared(query_rgb)
    return 0.0 if query is None else fit(query, work_map)


def prepared(query_rgb: np.ndarray) -> np.ndarray | None:
    """The query's lightness, computed once for ``fit`` against several works; None when its
    edges are too sparse to tell pictures apart (``_MIN_EDGE_SHARE``)."""
    query = _lightness(query_rgb)
    return None if _edge_share(query, SIDE * _SEARCH_SCALE) < _MIN_EDGE_SHARE else query


def fit(query: np.ndarray, work_map: np.ndarray) -> float:
    """``similarity`` of a ``prepared`` query. Two sizes first, then, for a query that fits one at
    ``_PROMISING``, sizes around the best (most unrelated pictures stop after the first pass, a
    tenth of the cost of the whole search)."""
    if work_map.shape != (MAP_BYTES,):
        return 0.0
    # Searched at twice the stored size: the map is upsampled, the query's edges keep more detail.
    side = SIDE * _SEARCH_SCALE
    plane = work_map.reshape(SIDE, SIDE).astype(np.float32)
    work = _edges(cv2.resize(plane, (side, side), interpolation=cv2.INTER_LINEAR))
    if float(work.std()) < _MIN_SPREAD:
        return 0.0
    first, (share, cut) = _best_fit(work, query, side, [(s, s) for s in _FIRST_SHARES], _CUTS)
    if first < _PROMISING:
        return max(first, 0.0)
    around = [min(1.0, max(_SMALLEST, share + step)) for step in _STEPS]
    pairs = [(x, y) for x in dict.fromkeys(around) for y in dict.fromkeys(around)]
    return min(max(first, _best_fit(work, query, side, pairs, (cut,))[0]), 1.0)


def _best_fit(
    work: np.ndarray,
    query: np.ndarray,
    side: int,
    shares: list[tuple[float, float]],
    cuts: tuple[str, ...],
) -> tuple[float, tuple[float, str]]:
    """The best correlation of the query's edges at each (width, height) share of the work, with
    each of ``cuts`` applied, and the (width share, cut) that gave it."""
    best, where = 0.0, (1.0, "none")
    for share_x, share_y in shares:
        width, height = round(side * share_x), round(side * share_y)
        edges = _edges(_squashed(query, width, height))
        rows = round(height * _CAPTION_SHARE)
        for cut in cuts:
            template = edges[rows:] if cut == "top" else edges[: height - rows] if cut == "bottom" else edges
            if float(template.std()) < _MIN_SPREAD:
                continue
            scores = cv2.matchTemplate(work, np.ascontiguousarray(template), cv2.TM_CCOEFF_NORMED)
            if float(scores.max()) > best:
                best, where = float(scores.max()), (share_x, cut)
    return best, where


def _edge_share(query: np.ndarray, side: int) -> float:
    """The share of the query's edge map, squashed to the search size, above a quarter of its peak."""
    edges = _edges(_squashed(query, side, side))
    peak = float(edges.max())
    return float((edges > _EDGE_LEVEL * peak).mean()) if peak > 0.0 else 0.0


def _lightness(rgb: np.ndarray) -> np.ndarray:
    # Channel by channel: numpy's max over a last axis of 3 cost ~6 ms for a 256 px thumbnail.
    red, green, blue = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    high = np.maximum(np.maximum(red, green), blue).astype(np.float32)
    return (high + np.minimum(np.minimum(red, green), blue)) * 0.5


def _squashed(plane: np.ndarray, width: int, height: int) -> np.ndarray:
    return cv2.resize(plane, (width, height), interpolation=cv2.INTER_AREA)


def _edges(plane: np.ndarray) -> np.ndarray:
    """Gradient magnitude after a light blur."""
    plane = cv2.GaussianBlur(plane, (0, 0), _BLUR_SIGMA)
    return cv2.magnitude(cv2.Sobel(plane, cv2.CV_32F, 1, 0), cv2.Sobel(plane, cv2.CV_32F, 0, 1))
