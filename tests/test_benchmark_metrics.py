"""Hand-checkable cases for the benchmark metrics."""

import math

import pytest

from benchmarks.metrics import (
    Pred,
    distractor_fp_rate,
    grouped_recall,
    match_counts,
    micro_ap,
    precision_at_match,
    recall_at_match,
    recall_at_precision,
    wilson_interval,
)

# queries 0 and 1 are copies of refs 10 and 11; query 2 is a distractor
TRUTH = {0: 10, 1: 11, 2: None}
# ranked: correct, wrong (distractor), correct -> PR steps (1, .5), (.5, .5), (2/3, 1)
PREDS = [Pred(0, 10, 0.9, True), Pred(2, 10, 0.8, True), Pred(1, 11, 0.7, False)]


def test_micro_ap_sums_precision_times_recall_gain() -> None:
    assert micro_ap(PREDS, TRUTH) == pytest.approx(1 * 0.5 + (2 / 3) * 0.5)


def test_micro_ap_divides_by_all_positive_queries() -> None:
    # query 1 never predicted: recall tops out at 1/2
    assert micro_ap([Pred(0, 10, 1.0)], TRUTH) == pytest.approx(0.5)


def test_duplicate_pairs_count_once() -> None:
    preds = [Pred(0, 10, 0.9), Pred(0, 10, 0.5), Pred(1, 11, 0.4)]
    assert micro_ap(preds, TRUTH) == pytest.approx(1.0)


def test_ties_are_scored_as_one_threshold() -> None:
    # order inside a tie must not matter: both orders give precision 1/2 at recall 1/2
    a = [Pred(0, 10, 0.5), Pred(1, 99, 0.5)]
    assert micro_ap(a, TRUTH) == micro_ap(a[::-1], TRUTH) == pytest.approx(0.25)
    assert recall_at_precision(a, TRUTH, 0.9) == 0.0


def test_recall_at_precision() -> None:
    assert recall_at_precision(PREDS, TRUTH, 0.9) == pytest.approx(0.5)
    assert recall_at_precision(PREDS, TRUTH, 0.6) == pytest.approx(1.0)
    assert recall_at_precision([], TRUTH) == 0.0


def test_operating_point_metrics() -> None:
    assert recall_at_match(PREDS, TRUTH, [0, 1, 2]) == pytest.approx(0.5)
    assert distractor_fp_rate(PREDS, TRUTH) == pytest.approx(1.0)
    assert precision_at_match(PREDS, TRUTH) == pytest.approx(0.5)
    assert math.isnan(precision_at_match([Pred(0, 10, 0.9, False)], TRUTH))


def test_grouped_recall_ignores_distractors() -> None:
    groups = {0: "mild", 1: "geometric", 2: "mild"}
    assert grouped_recall(PREDS, TRUTH, groups) == {"geometric": 0.0, "mild": 1.0}
    # query 1's true ref was returned, just not as a match
    assert grouped_recall(PREDS, TRUTH, groups, at_match=False) == {"geometric": 1.0, "mild": 1.0}


def test_match_counts_pair_the_precision() -> None:
    assert match_counts(PREDS, TRUTH) == (1, 2)
    assert match_counts([Pred(0, 10, 0.9, False)], TRUTH) == (0, 0)


def test_wilson_interval_matches_published_values() -> None:
    # Newcombe (Stat. Med. 1998), Table I: 81/263 -> 0.2553-0.3662; textbook 5/10 and 0/10.
    assert wilson_interval(81, 263) == pytest.approx((0.2553, 0.3662), abs=1e-4)
    assert wilson_interval(5, 10) == pytest.approx((0.2366, 0.7634), abs=1e-4)
    lo, hi = wilson_interval(0, 10)
    assert lo == 0.0 and hi == pytest.approx(0.2775, abs=1e-4)
    assert wilson_interval(10, 10)[1] == 1.0
    assert all(math.isnan(x) for x in wilson_interval(0, 0))


def test_wilson_interval_narrows_with_trials_around_the_proportion() -> None:
    # A benchmark seed's precision: 37 false of 3,681 `match`es.
    lo, hi = wilson_interval(3644, 3681)
    assert lo < 3644 / 3681 < hi and lo < 0.99 < hi
    lo10, hi10 = wilson_interval(36440, 36810)
    assert lo < lo10 < hi10 < hi
