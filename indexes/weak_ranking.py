"""The order of candidates below `review`, for a ranking evaluation's tail (``Engine.search`` with a
lowered ``min_score``): a logistic model over each candidate's evidence and its query's standing.

``scoring.weak_score`` takes the strongest of a loose placement, a drifted whole-image hash and the
copy descriptor's suggestion. Pooled over all queries, as DISC21's micro-AP pools them, that order
mixes a copy's true work with the runners-up of queries that already matched something, and with
the second and third suggestions of others. This model weighs those pieces together with what the
rest of the query found: a candidate of a query that already has a `match` is rarely a second copy,
and the strongest weak candidate of a query is far likelier true than the ones behind it.

The weights were fitted (``training/fit_weak_ranking.py``) on replays of benchmark seeds 0-4 with
the issue's transforms; the unseen edits (``benchmarks.unseen``) were kept out of the fit and
measure it (BENCHMARKS.md, forty-ninth session). Scores stay below `review`: nothing a user is
shown changes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

# The features, in ``features``' column order.
FEATURES = (
    "weak_score",  # scoring.weak_score (or a sub-review combination of stronger evidence)
    "cosine",  # the descriptor's cosine to the work, when it suggested it; else 0
    "lead_over_next",  # ... ahead of the descriptor's next work
    "lead_over_background",  # ... ahead of the nearest background picture (-0.3 when not suggested)
    "suggested",  # 1 when the descriptor suggested the work
    "suggested_first",  # 1 when it was the descriptor's nearest
    "loose_inliers",  # log(1 + inliers) of a placement found without the ratio test
    "whole_hash",  # whole-image PDQ distance / 128 (1 when none within reach)
    "region_hash",  # sub-region PDQ distance / 128 (1 when none)
    "likeness",  # whole-image appearance correlation (``appearance``)
    "query_matched",  # 1 when the query has a `match`
    "query_reviewed",  # 1 when its best is `review`
    "query_features",  # log(1 + the query's ORB features)
    "strongest",  # 1 for the query's strongest weak candidate
    "gap",  # the strongest's lead over the next weak candidate; for the others, their gap behind it
    "cosine_if_first",  # cosine x suggested_first
    "loose_if_suggested",  # loose_inliers x suggested
)
# Printed by ``python -m training.fit_weak_ranking fit --seeds 0 1 2 3 4`` (raw feature units).
WEIGHTS = np.array(
    [
        9.0146,  # weak_score
        1.9141,  # cosine
        12.5775,  # lead_over_next
        2.1452,  # lead_over_background
        -2.4175,  # suggested
        -2.8174,  # suggested_first
        0.0412,  # loose_inliers
        -4.9116,  # whole_hash
        -6.0659,  # region_hash
        0.1981,  # likeness
        -3.6146,  # query_matched
        -2.5487,  # query_reviewed
        0.0542,  # query_features
        0.2674,  # strongest
        1.9033,  # gap
        5.0006,  # cosine_if_first
        0.8137,  # loose_if_suggested
    ]
)
BIAS = 2.9705


@dataclass(frozen=True)
class Suggestion:
    """Where the copy descriptor put a work among its nearest (``Engine._suggest``)."""

    cosine: float
    lead_over_next: float
    lead_over_background: float
    rank: int


@dataclass(frozen=True)
class WeakCandidate:
    """One candidate below `review` and the evidence that ranks it."""

    key: int
    weak_score: float
    suggestion: Suggestion | None
    loose_inliers: int
    whole_hash: int | None
    region_hash: int | None
    likeness: float


_NOT_SUGGESTED_LEAD = -0.3


def features(
    candidates: list[WeakCandidate], best_score: float, query_features: int, *, match: float, review: float
) -> np.ndarray:
    """(len(candidates), len(FEATURES)) feature rows. ``best_score``: the query's best score among its
    candidates at `review` or above (0 when none); ``match`` and ``review``: the verdict thresholds."""
    order = sorted((c.weak_score for c in candidates), reverse=True)
    rows = np.zeros((len(candidates), len(FEATURES)))
    for i, c in enumerate(candidates):
        s = c.suggestion
        strongest = c.weak_score == order[0]
        # The strongest is measured against the next, the others against the strongest.
        beside = (order[1] if len(order) > 1 else 0.0) if strongest else order[0]
        first = s is not None and s.rank == 0
        loose = math.log1p(c.loose_inliers)
        rows[i] = (
            c.weak_score,
            s.cosine if s else 0.0,
            s.lead_over_next if s else 0.0,
            s.lead_over_background if s else _NOT_SUGGESTED_LEAD,
            s is not None,
            first,
            loose,
            (128 if c.whole_hash is None else c.whole_hash) / 128,
            (128 if c.region_hash is None else c.region_hash) / 128,
            c.likeness,
            best_score >= match,
            review <= best_score < match,
            math.log1p(query_features),
            strongest,
            c.weak_score - beside,
            s.cosine * first if s else 0.0,
            loose * (s is not None),
        )
    return rows


def probabilities(rows: np.ndarray) -> np.ndarray:
    """The model's chance that each row's candidate is the query's true work."""
    return 1.0 / (1.0 + np.exp(-(rows @ WEIGHTS + BIAS)))
