"""The order of candidates below `review` (``indexes.weak_ranking``): its features and the shipped
model's main preferences."""

from __future__ import annotations

import numpy as np
import pytest

from indexes import scoring, weak_ranking
from indexes.weak_ranking import Suggestion, WeakCandidate

MATCH, REVIEW = scoring.MATCH_THRESHOLD, scoring.REVIEW_THRESHOLD


def candidate(key: int, weak_score: float, rank: int | None = 0, cosine: float = 0.7) -> WeakCandidate:
    suggestion = None if rank is None else Suggestion(cosine, 0.05, 0.1, rank)
    return WeakCandidate(key, weak_score, suggestion, 0, None, None, 0.2)


def column(rows: np.ndarray, name: str) -> np.ndarray:
    return rows[:, weak_ranking.FEATURES.index(name)]


def test_each_candidate_is_measured_against_the_querys_strongest() -> None:
    rows = weak_ranking.features(
        [candidate(1, 0.3), candidate(2, 0.4, rank=1), candidate(3, 0.1, rank=None)], 0.0, 200,
        match=MATCH, review=REVIEW,
    )  # fmt: skip
    assert rows.shape == (3, len(weak_ranking.FEATURES))
    assert column(rows, "strongest").tolist() == [0, 1, 0]
    assert column(rows, "gap") == pytest.approx([-0.1, 0.1, -0.3])
    assert column(rows, "suggested").tolist() == [1, 1, 0]
    assert column(rows, "suggested_first").tolist() == [1, 0, 0]
    assert column(rows, "cosine_if_first") == pytest.approx([0.7, 0.0, 0.0])
    assert column(rows, "lead_over_background") == pytest.approx([0.1, 0.1, -0.3])
    assert column(rows, "whole_hash").tolist() == [1, 1, 1]  # no hash within reach


@pytest.mark.parametrize(("best", "matched", "reviewed"), [(0.0, 0, 0), (0.6, 0, 1), (0.9, 1, 0)])
def test_the_querys_best_verdict_is_a_feature(best: float, matched: int, reviewed: int) -> None:
    rows = weak_ranking.features([candidate(1, 0.3)], best, 50, match=MATCH, review=REVIEW)
    assert column(rows, "query_matched").tolist() == [matched]
    assert column(rows, "query_reviewed").tolist() == [reviewed]


def test_the_shipped_model_prefers_a_lone_querys_first_suggestion() -> None:
    """What the fit learned from the replays, and the reason the model exists: a query's strongest
    weak candidate, the descriptor's nearest, outranks the same evidence in a query that already
    matched a work, and outranks a later suggestion with the same weak score."""

    def chance(c: list[WeakCandidate], best: float = 0.0) -> np.ndarray:
        return weak_ranking.probabilities(weak_ranking.features(c, best, 200, match=MATCH, review=REVIEW))

    lone = chance([candidate(1, 0.4), candidate(2, 0.3, rank=1)])
    after_match = chance([candidate(1, 0.4), candidate(2, 0.3, rank=1)], best=0.95)
    assert lone[0] > lone[1]
    assert lone[0] > after_match[0]
    assert np.all((lone > 0) & (lone < 1))


@pytest.mark.parametrize("chance", [0.0, 1e-9, 0.3, 1.0, 2.0])
def test_a_weak_candidates_score_stays_above_zero_and_below_review(chance: float) -> None:
    score = scoring.below_review(chance)
    assert 0.0 < score < REVIEW
    assert score == scoring.published(score)
