"""Copy-detection metrics (DISC21 conventions), as pure functions.

Predictions are (query_id, ref_key, score, match) tuples pooled over all
queries; `truth` maps every query id to its ref key, or None for a
distractor. Threshold metrics step over distinct scores, so tied scores are
all in or all out (no luck from the order inside a tie).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import NamedTuple


class Pred(NamedTuple):
    query: int
    ref: int
    score: float
    match: bool = False


def dedup(preds: Iterable[Pred]) -> list[Pred]:
    """Keep each (query, ref) pair once, at its best score, sorted by score descending."""
    best: dict[tuple[int, int], Pred] = {}
    for p in preds:
        k = (p.query, p.ref)
        if k not in best or p.score > best[k].score:
            best[k] = p
    return sorted(best.values(), key=lambda p: -p.score)


def _pr_steps(preds: Iterable[Pred], truth: Mapping[int, int | None]) -> list[tuple[float, float]]:
    """(precision, recall) after each distinct score threshold, highest threshold first."""
    ranked = dedup(preds)
    n_pos = sum(1 for t in truth.values() if t is not None)
    steps: list[tuple[float, float]] = []
    tp = 0
    for i, p in enumerate(ranked):
        tp += truth.get(p.query) == p.ref
        if i + 1 == len(ranked) or ranked[i + 1].score != p.score:
            steps.append((tp / (i + 1), tp / n_pos if n_pos else 0.0))
    return steps


def micro_ap(preds: Iterable[Pred], truth: Mapping[int, int | None]) -> float:
    """DISC21 µAP: area under the pooled precision-recall curve (sum of precision × recall gain)."""
    ap, prev_recall = 0.0, 0.0
    for precision, recall in _pr_steps(preds, truth):
        ap += precision * (recall - prev_recall)
        prev_recall = recall
    return ap


def recall_at_precision(preds: Iterable[Pred], truth: Mapping[int, int | None], target: float = 0.9) -> float:
    """Highest recall over score thresholds whose precision is at least `target`."""
    return max((r for p, r in _pr_steps(preds, truth) if p >= target), default=0.0)


def _found(preds: Iterable[Pred], truth: Mapping[int, int | None], at_match: bool = True) -> set[int]:
    """Query ids whose true ref is among their `match` predictions (or any prediction)."""
    return {p.query for p in preds if (p.match or not at_match) and truth.get(p.query) == p.ref}


def recall_at_match(preds: Iterable[Pred], truth: Mapping[int, int | None], queries: Iterable[int]) -> float:
    """Share of the given (positive) queries whose true ref is reported as a match."""
    qs = [q for q in queries if truth.get(q) is not None]
    if not qs:
        return float("nan")
    found = _found(preds, truth)
    return sum(q in found for q in qs) / len(qs)


def grouped_recall(
    preds: Iterable[Pred], truth: Mapping[int, int | None], groups: Mapping[int, str], at_match: bool = True
) -> dict[str, float]:
    """Recall per group label (e.g. transform or family) of positive queries.

    at_match=False counts the true ref anywhere in the returned list: the gap
    to the at-match recall is copies that were found but not confidently.
    """
    found = _found(preds, truth, at_match)
    totals: dict[str, list[int]] = {}
    for q, g in groups.items():
        if truth.get(q) is not None:
            t = totals.setdefault(g, [0, 0])
            t[0] += q in found
            t[1] += 1
    return {g: hit / n for g, (hit, n) in sorted(totals.items())}


def distractor_fp_rate(preds: Iterable[Pred], truth: Mapping[int, int | None]) -> float:
    """Share of distractor queries (truth None) that got any `match` prediction."""
    distractors = {q for q, t in truth.items() if t is None}
    if not distractors:
        return float("nan")
    flagged = {p.query for p in preds if p.match and p.query in distractors}
    return len(flagged) / len(distractors)


def match_counts(preds: Iterable[Pred], truth: Mapping[int, int | None]) -> tuple[int, int]:
    """Correct and all `match` predictions (distinct query/ref pairs)."""
    matched = [p for p in dedup(preds) if p.match]
    return sum(truth.get(p.query) == p.ref for p in matched), len(matched)


def precision_at_match(preds: Iterable[Pred], truth: Mapping[int, int | None]) -> float:
    """Share of `match` predictions (distinct query/ref pairs) that are correct."""
    correct, total = match_counts(preds, truth)
    return correct / total if total else float("nan")


def wilson_interval(successes: int, trials: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion (95 % at z = 1.96; Wilson, JASA 1927).

    Why: precision at `match` is ~37 false of ~3,700, so a seed's figure moves by about +-0.003
    by chance alone, as much as its distance to the 0.99 target; the interval says so. Wilson's
    stays inside [0, 1] and is sound near 1, where the normal approximation is not."""
    if trials <= 0:
        return float("nan"), float("nan")
    p = successes / trials
    scale = 1.0 + z * z / trials
    centre = (p + z * z / (2 * trials)) / scale
    half = z * math.sqrt(p * (1.0 - p) / trials + z * z / (4 * trials * trials)) / scale
    return max(0.0, centre - half), min(1.0, centre + half)
