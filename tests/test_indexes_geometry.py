"""Geometric verification and the local-evidence score, on synthetic correspondences."""

from __future__ import annotations

import numpy as np

from indexes import geometry, scoring


def _similarity(points: np.ndarray, scale: float, angle_deg: float, shift: tuple[float, float]) -> np.ndarray:
    a = np.deg2rad(angle_deg)
    rot = scale * np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    return (points @ rot.T + np.array(shift)).astype(np.float32)


def test_true_placement_wins_over_a_degenerate_affine_with_more_inliers() -> None:
    rng = np.random.default_rng(0)
    work = rng.uniform(0, 640, (14, 2)).astype(np.float32)
    query = _similarity(work, 1.6, 8.0, (-120.0, -90.0))
    # Repeated structure: 30 correspondences that all fit an affine map collapsing the work
    # onto a thin band of the query. It has more inliers than the real placement but is not a
    # plausible copy, so the similarity model must be tried too.
    junk_work = rng.uniform(0, 640, (30, 2)).astype(np.float32)
    band_x = 0.5 * junk_work[:, 0] + 0.2 * junk_work[:, 1] + 10
    junk_query = np.stack([band_x, 100.0 + rng.uniform(-4, 4, 30)], axis=1)
    placement = geometry.verify(
        np.concatenate([work, junk_work]), np.concatenate([query, junk_query.astype(np.float32)]), (640, 640)
    )
    assert placement is not None
    assert placement.inliers >= 12
    mapped = work @ placement.matrix[:, :2].T + placement.matrix[:, 2]
    assert np.abs(mapped - query).max() < geometry.REPROJECTION_PX


def test_stretched_copy_keeps_the_affine_fit() -> None:
    rng = np.random.default_rng(1)
    work = rng.uniform(0, 640, (40, 2)).astype(np.float32)
    query = (work * np.array([1.5, 1.0])).astype(np.float32)  # aspect stretch: not a similarity
    placement = geometry.verify(work, query, (640, 640))
    assert placement is not None and placement.inliers >= 38


def test_random_correspondences_are_rejected() -> None:
    rng = np.random.default_rng(2)
    work = rng.uniform(0, 640, (40, 2)).astype(np.float32)
    query = rng.uniform(0, 800, (40, 2)).astype(np.float32)
    placement = geometry.verify(work, query, (640, 640))
    assert placement is None or placement.inliers < scoring._MIN_REVIEW_INLIERS


def test_clustered_inliers_count_for_less_than_spread_ones() -> None:
    spread = scoring.local_score(20, span=0.3)
    clustered = scoring.local_score(20, span=scoring.SMALL_SPAN / 2)
    assert clustered < spread
    assert scoring.verdict(spread) == "match"
    assert scoring.verdict(clustered) != "match"
