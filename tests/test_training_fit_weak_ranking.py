"""The weak ranking's fit and its measure (``training.fit_weak_ranking``), on made-up replays."""

from __future__ import annotations

import random

import numpy as np

from indexes import weak_ranking
from training import fit_weak_ranking

N = len(weak_ranking.FEATURES)


def test_the_fit_finds_the_feature_that_tells_true_from_false() -> None:
    rng = np.random.default_rng(3)
    rows = rng.normal(size=(4000, N))
    labels = (rows[:, 1] + 0.3 * rng.normal(size=4000) > 1.5).astype(float)
    weights, bias = fit_weak_ranking.fit(rows, labels)
    assert weights[1] > 1.0
    assert np.abs(np.delete(weights, 1)).max() < 0.3 * weights[1]
    chances = 1 / (1 + np.exp(-(rows @ weights + bias)))
    assert chances[labels == 1].mean() > 0.5 > chances[labels == 0].mean()


def replay(candidates: int) -> list[dict]:
    """Queries whose true work (key 0) is one weak candidate among false ones; column 1 tells it."""
    rand = random.Random(5)
    out = []
    for qid in range(20):
        weak = []
        for key in range(candidates):
            row = [0.0] * N
            row[0] = rand.random()  # a weak score that says nothing
            row[1] = 1.0 if key == 0 else 0.0
            weak.append([key, row])
        out.append({"qid": qid, "truth": 0, "shown": [], "weak": weak})
    return out


def test_the_measure_scores_each_order_and_cuts_each_list_to_the_benchmarks() -> None:
    replayed = replay(5)
    by_weak_score = fit_weak_ranking.micro_ap(replayed, lambda rows: rows[:, 0])
    by_column = fit_weak_ranking.micro_ap(replayed, lambda rows: rows[:, 1] + 0.01 * rows[:, 0])
    assert by_column == 1.0 > by_weak_score
    # The true work last of 12: beyond the benchmark's 10, it is never submitted.
    last = fit_weak_ranking.micro_ap(replay(12), lambda rows: -rows[:, 1])
    assert last == 0.0
