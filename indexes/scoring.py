"""Calibrated scores and verdicts.

Scores are monotone in confidence and comparable across kinds. Each evidence type maps to a
score with a logistic-free closed form whose constants were fitted on the detection benchmark
(``python -m benchmarks detection``; see BENCHMARKS.md for the run and the precision reached).
"""

from __future__ import annotations

import math

_STEP = 1e-4

# `match` is the operating point reaching >= 99 % precision on the benchmark; `review` below it.
MATCH_THRESHOLD = 0.80
REVIEW_THRESHOLD = 0.50

# Fitted 2026-11-25 on the benchmark's evidence (2,000 works, 1,600 queries): against plain
# noisy-OR with 1 - d/100 and n/(n+4), these cut false matches from 82 to 67 (distractors
# 25 -> 15) for 3 % fewer true matches; most remaining "false" ones were rotated twins in the
# corpus, since removed from it.
# PDQ bits at which a near-duplicate alone reaches MATCH_THRESHOLD, and where it stops counting
# (Meta's "confident" threshold is 31 on photos; clip art needs tighter).
_PDQ_SCALE = 100.0
_PDQ_MATCH_BITS = 20
_PDQ_ZERO_BITS = 44
# Beyond _PDQ_ZERO_BITS a whole-image distance is only a hint for ranking (``weak_score``),
# from _PDQ_HINT_SCORE down to 0 here.
_PDQ_HINT_BITS = 64
_PDQ_HINT_SCORE = 0.05
_WEAK_LIKENESS_WEIGHT = 1.0
# Aligned re-hash (``aligned_score``): bits forgiven against a whole-image hash, and the cut-off.
_ALIGNED_BONUS_BITS = 8
_ALIGNED_MAX_BITS = 40
# Sub-region (crop) hashes are 15 more chances of a collision per work.
_REGION_PENALTY = 8
# Inliers at which local evidence alone reaches MATCH_THRESHOLD is 4 x this (18).
_INLIER_HALF = 4.5
_MIN_REVIEW_INLIERS = 7
_SUPPORT_WEIGHT = 0.5
# Only identical bytes score 1.0.
BEST_NON_EXACT = 0.9999


def near_score(pdq_distance: int) -> float:
    """Score of a whole-image PDQ match at ``pdq_distance`` bits (0..256).

    1 - d/100 up to 20 bits (MATCH_THRESHOLD), then steeply down to 0 at 44 bits: mostly-white
    clip art sits 25-60 bits from unrelated clip art, so those distances are weak evidence."""
    return _whole_image_score(pdq_distance, _PDQ_MATCH_BITS)


# A query too small for local features (``Fingerprint.whole_image_only``) has its whole-image hash
# as its only evidence: it reaches `match` up to PDQ's usual confident distance (31 bits, as in
# Meta's HMA) rather than the 20 that full-size clip art needs. Resampling a 12-31 px copy moves
# its hash further than a larger copy's, while unrelated works stay far from such a query: on
# seeds 0 and 1 the nearest wrong work of every tiny query was >= 56 bits away (BENCHMARKS.md).
_TINY_MATCH_BITS = 31


def tiny_query_score(pdq_distance: int) -> float:
    """Score of a whole-image PDQ match for a query too small for local features: the shape of
    ``near_score`` stretched to reach MATCH_THRESHOLD at 31 bits, fading to 0 at 55."""
    return _whole_image_score(pdq_distance, _TINY_MATCH_BITS)


def _whole_image_score(pdq_distance: int, match_bits: int) -> float:
    """Linear from 1 at 0 bits to MATCH_THRESHOLD at ``match_bits``, then down to 0 over the next
    ``_PDQ_ZERO_BITS - _PDQ_MATCH_BITS`` bits."""
    scale = _PDQ_SCALE * match_bits / _PDQ_MATCH_BITS  # 100 for near_score: 1 - d/100
    if pdq_distance <= match_bits:
        return 1.0 - pdq_distance / scale
    zero_bits = match_bits + (_PDQ_ZERO_BITS - _PDQ_MATCH_BITS)
    fade = (zero_bits - pdq_distance) / (zero_bits - match_bits)
    return max(0.0, (1.0 - match_bits / scale) * fade)


# Two independent whole-image hashes agreeing. A whole copy blurred, noised, shrunk or re-encoded
# often drifts past PDQ's 20 bits (PDQ keeps a 16 x 16 DCT of a 64 px image, so it sees fine
# damage), while pHash (8 x 8 of 32 px) stays put. Both close at once is rare for unrelated
# works: on benchmark seed 0, pairs at PDQ 21-44 bits with pHash <= 6 were 29 true copies the
# engine had not matched and 0 wrong works; seed 1, held out, 26 and 0 (BENCHMARKS.md).
_PHASH_AGREE_BITS = 6
# A whole upload is corroborated out to the engine's PDQ candidate distance: pixelation, stripes
# and JPEG at quality 10 move PDQ 45-63 bits while pHash stays within 6. Replays of seeds 0, 2 and
# 3 and the unseen edits: +42 true `match`es, 0 wrong works or distractors. Not a picture cut from
# a page (an item, a panel): a two-colour swatch item agreed with a banded flag's pHash at 0 bits,
# 61 PDQ bits away.
_PHASH_UPLOAD_BITS = 63


def phash_may_corroborate(pdq_distance: int, *, cut_from_page: bool = False) -> bool:
    """Whether a pHash comparison could change ``corroborated_near_score`` at this PDQ distance:
    past the match distance, up to 44 bits for a picture cut from a page (an item, a panel), 63 for
    an upload as a whole."""
    return _PDQ_MATCH_BITS < pdq_distance <= (_PDQ_ZERO_BITS if cut_from_page else _PHASH_UPLOAD_BITS)


def corroborated_near_score(
    pdq_distance: int, phash_distance: int | None, *, cut_from_page: bool = False
) -> float:
    """``near_score``, except that a drifted PDQ distance (``phash_may_corroborate``) that the
    64-bit pHash confirms (<= 6 bits) counts as the match distance: exactly MATCH_THRESHOLD.
    ``phash_distance`` None means no pHash to compare (an index saved before it was kept).

    Not for queries under 32 px (``tiny_query_score``): over their own band (PDQ 32-55) the rule
    added 5 and 6 true copies on seeds 0 and 1 but a wrong match on the unseen edits, 9 of 10
    correct, under the 99 % that `match` stands for (BENCHMARKS.md)."""
    agrees = phash_distance is not None and phash_distance <= _PHASH_AGREE_BITS
    if agrees and phash_may_corroborate(pdq_distance, cut_from_page=cut_from_page):
        pdq_distance = _PDQ_MATCH_BITS
    return near_score(pdq_distance)


def aligned_score(pdq_distance: int) -> float:
    """Score of the query region under a verified placement, warped into the work's frame and
    PDQ-hashed, at ``pdq_distance`` bits from the work.

    A placement already passed RANSAC, so the hash needs less margin than a bare whole-image
    one: on the benchmark 3 of 1,349 false placements came under 32 bits (``indexes.alignment``);
    beyond ``_ALIGNED_MAX_BITS`` it counts for nothing (false placements start at ~32 bits)."""
    if pdq_distance > _ALIGNED_MAX_BITS:
        return 0.0
    return near_score(max(0, pdq_distance - _ALIGNED_BONUS_BITS))


def region_score(pdq_distance: int) -> float:
    """Score of a query matching one of a work's sub-region hashes (the query is a crop).

    Discounted against ``near_score``: 15 extra hashes per work are 15 more chances of a
    chance collision."""
    return near_score(pdq_distance + _REGION_PENALTY)


# Appearance correlation (``indexes.appearance``) at which a candidate's whole-image likeness
# counts, and reaches MATCH_THRESHOLD; 1.0 scores 0.90. Among the benchmark's returned
# candidates one false one correlated above it (0.95), the next at 0.89.
APPEARANCE_MATCH = 0.90


def appearance_score(correlation: float) -> float:
    """Score of the whole query correlating with the whole work (``indexes.appearance``)."""
    if correlation < APPEARANCE_MATCH:
        return 0.0
    return MATCH_THRESHOLD + (min(correlation, 1.0) - APPEARANCE_MATCH)


# Correlation of the placed query region's edges with the work's (``alignment.aligned_edges``)
# at which a verified placement reaches MATCH_THRESHOLD. Of the benchmark's 1,079 false
# placements 63 reached 0.85 (of 3,320 true, 2,681); 0.80 let in 37 false `match`es for 69 true.
PLACED_EDGES_MATCH = 0.85


def placed_edges_score(correlation: float) -> float:
    """Score of the query's edges, under a verified placement, correlating with the work's."""
    if correlation < PLACED_EDGES_MATCH:
        return 0.0
    return MATCH_THRESHOLD + (min(correlation, 1.0) - PLACED_EDGES_MATCH) * 0.5


# Placed-edge correlation an exclusive placement (``Engine._exclusive``) needs: with it, 54 more
# true copies at `match` on benchmark seed 0 and 1 derivative distractor; without, 91 and 13.
# Measured on grey edges; since the twentieth session the correlation is the one that survives
# recolours and overlays (``alignment.recoloured_edges``), at the same threshold.
EXCLUSIVE_EDGES = 0.6
# ... and with 8-14 inliers. Replayed on seeds 0/1/2 (twenty-second session): 20/37/28 more true
# copies at `match` (crop + caption + recolour 8/16/15), 1/4/0 more distractors, 4 of the 5
# derivatives of a registered drawing; at 0.9, 12/25/13 more and 1/2/0; 10 inliers at 0.85, 14/27/20, 1/2/0.
FEW_INLIERS_EXCLUSIVE_EDGES = 0.85


def exclusive_score(edge_correlation: float) -> float:
    """Score of a placement that stood clear of every other shortlisted work, its placed edges
    correlating at ``EXCLUSIVE_EDGES`` or more: `match`, a little higher the better they agree."""
    return MATCH_THRESHOLD + max(0.0, min(edge_correlation, 1.0) - EXCLUSIVE_EDGES) * 0.1


# ``Engine._learned``: the copy descriptor's cosine to the nearest work, its margin over both the
# next work and the nearest background picture, and the inliers of the query placed on that work
# alone. Replays of seeds 0, 2 and 3 and the unseen edits (BENCHMARKS.md, thirty-ninth session):
# 22, 19, 27 and 4 more true `match`es, no false one. Margin 0.2 without inliers found as many and
# no false one there, but 5 of 40 generated line drawings passed it against another (4 inliers at
# most); margin 0.1 with 4 inliers let in look-alike clip art of one set (star flags, two computers).
LEARNED_SIMILARITY = 0.5
LEARNED_MARGIN = 0.17
LEARNED_INLIERS = 5
# The same with each work's nearest of its whole view and its crops' (``copy_embedding.VIEWS``),
# against the background pictures' crops too. Replays of seeds 0, 2 and 3 and the unseen edits
# (BENCHMARKS.md, forty-first session) before the whole-view rule's: a margin of 0.14 with 5
# inliers added true `match`es and no false one.
LEARNED_VIEW_MARGIN = 0.14
# When only other works are that near (the background pictures are not), the works within the
# margin are told apart by placing the query on each (``Engine._learned``): the nearest must place
# with this many inliers and every rival with under ``LEARNED_RIVAL_SHARE`` of them. Replays of
# seeds 0, 2 and 3 and the unseen edits (BENCHMARKS.md, forty-third session): the unregistered
# pictures these named placed with 7-10 inliers (a different envelope drawing: 10), true copies
# up to 116; a true copy's look-alike rivals place with 0-4 inliers, or nearly as many as it when
# the two share the drawing.
LEARNED_CONTESTED_INLIERS = 11
LEARNED_RIVAL_SHARE = 0.5
# ... and only for a crop: a placement showing under this share of the work's outline. The crops'
# descriptors are what let a crop be named there, and a whole picture placed on a look-alike with
# 11+ inliers (held-out seed 1: a text-centre toolbar icon on a justified-text one) is not a copy.
LEARNED_CONTESTED_SHOWN = 0.85


# ``Engine._by_lightness``: how closely the query's lightness edges must fit inside the nearest
# work's lightness map (``lightness_map.similarity``), by how much more closely than inside each of
# the next works', and how much nearer than the background pictures the descriptor must put the
# work (half the margin a placement needs). Replays of seeds 0, 2 and 3 (BENCHMARKS.md,
# forty-fourth session): 19, 35 and 28 more true `match`es, no false one; without the background
# margin 4 more true ones and a grey flag with a star named as Somalia's.
LIGHTNESS_MATCH = 0.93
LIGHTNESS_RIVAL_GAP = 0.05
LIGHTNESS_BACKGROUND_MARGIN = LEARNED_VIEW_MARGIN / 2
# ... or a looser fit where the descriptor is sure of its nearest work on its own: that near, that
# far ahead of the next work and of the background pictures. Replays of seeds 0-3 (BENCHMARKS.md,
# forty-fifth session): 9, 9, 15 and 10 more true `match`es, no false one. With a fit of 0.70 it
# named four unregistered pictures across the seeds, which fit at 0.71-0.85.
LIGHTNESS_SURE_SIMILARITY = 0.8
LIGHTNESS_SURE_GAP = 0.05
LIGHTNESS_SURE_MARGIN = 0.05
LIGHTNESS_SURE_FIT = 0.88
# ... or a looser fit still where the descriptor puts the work far ahead of the background pictures
# (a margin no matter how many works are registered) and ahead of the next work. Replays of seeds
# 0-3 and the unseen edits (BENCHMARKS.md, forty-sixth session): of 1,913 queries whose nearest
# work was not theirs, 26 stood that far ahead of the background, and none fit above 0.47 (one at
# a margin of 0.20 fit at 0.68); 10, 15, 4, 10 and 5 more true `match`es.
LIGHTNESS_CLEAR_MARGIN = 0.22
LIGHTNESS_CLEAR_GAP = 0.03
LIGHTNESS_CLEAR_FIT = 0.6
# Background pictures whose descriptor is this near one of the work's own (whole or crop) are the
# work itself or it recoloured (the training pictures are clip art), so they are left out of the
# margins above. Replays of seeds 0-3 and the unseen edits (BENCHMARKS.md, forty-sixth session):
# the true copies this named had their work's twins at 0.95-1.0; a bar of 0.80-0.85 also named an
# unregistered picture, whose work had a background picture at 0.857.
BACKGROUND_TWIN = 0.95


def lightness_score(fit: float) -> float:
    """Score of a work the copy descriptor put nearest and the query's edges fit inside: `match`, a
    little higher the closer the fit."""
    return MATCH_THRESHOLD + max(0.0, min(fit, 1.0) - LIGHTNESS_MATCH) * 0.5


def learned_score(cosine: float) -> float:
    """Score of a work the copy descriptor named clearly and a placement confirmed: `match`, a
    little higher the closer the descriptors."""
    return MATCH_THRESHOLD + max(0.0, min(cosine, 1.0) - LEARNED_SIMILARITY) * 0.1


# Inliers whose bounding box covers less than this share of the work are discounted: a
# small cluster (one emblem, a word of text) is weaker evidence than the same count spread out.
SMALL_SPAN = 0.04
SMALL_SPAN_DISCOUNT = 0.75


def local_score(inliers: int, span: float = 1.0) -> float:
    """Score of a geometrically verified partial match with ``inliers`` one-to-one inliers.

    Below ``_MIN_REVIEW_INLIERS`` the score stays under REVIEW_THRESHOLD: 5-6 chance inliers
    between unrelated clip art are common (unit tests: 4 of 6 generated distractors)."""
    if span < SMALL_SPAN:
        inliers = int(inliers * SMALL_SPAN_DISCOUNT)
    if inliers <= 0:
        return 0.0
    score = inliers / (inliers + _INLIER_HALF)
    return score if inliers >= _MIN_REVIEW_INLIERS else min(score, REVIEW_THRESHOLD * 0.96)


def weak_score(
    loose_inliers: int, pdq_distance: int | None, likeness: float = 0.0, suggested: float = 0.0
) -> float:
    """Score of evidence too weak for `review`: a placement verified without the ratio test, a
    whole-image PDQ distance past the point where ``near_score`` gives up, and the whole-image
    appearance correlation (``indexes.appearance``), which ranks such candidates well: on the
    benchmark's, true ones correlated at a median 0.87 (photo) and false ones at 0.16; or the copy
    descriptor's ``suggestion``, whichever ranks the work higher.
    Only ever below `review`: it ranks the candidates a ranking evaluation asks for
    (``Engine.search(min_score=...)``) and is never shown otherwise."""
    top = REVIEW_THRESHOLD - _STEP
    placed = local_score(loose_inliers)
    hint = 0.0
    if pdq_distance is not None and pdq_distance < _PDQ_HINT_BITS:
        hint = _PDQ_HINT_SCORE * (_PDQ_HINT_BITS - pdq_distance) / (_PDQ_HINT_BITS - _PDQ_ZERO_BITS)
    by_descriptor = min(max(suggested, 0.0), 1.0) * top
    if not placed and not hint:
        return by_descriptor  # likeness confirms a candidate, never makes one
    return max(combine(placed, hint, max(0.0, likeness) * _WEAK_LIKENESS_WEIGHT) * top, by_descriptor)


# ``suggestion``: what the lead over the next work and over the background pictures add to the
# descriptor's cosine. Replays of seed 0 (BENCHMARKS.md, forty-sixth session), the first three
# works by views of every query left without `match` suggested so: µAP 0.977 -> 0.989; on the
# unseen edits (not used in the choice) 0.884 -> 0.913. The cosine alone gave 0.989 and 0.912.
SUGGESTION_LEAD_WEIGHT = 0.3


def suggestion(cosine: float, lead_over_next: float, lead_over_background: float) -> float:
    """How strongly the copy descriptor alone suggests a work, 0-1, for ranking weak candidates:
    its cosine, raised a little by how far it stands ahead of the next work and of the background
    pictures (a copy's work usually stands clear of both; an unrelated picture's nearest does not,
    and one behind the background pictures is lowered)."""
    score = cosine + SUGGESTION_LEAD_WEIGHT * (lead_over_next + lead_over_background)
    return min(max(score, 0.0), 1.0)


# A whole work placed on the whole query with nothing else behind it (no PDQ, no region hash, no
# lightness fit, no descriptor-named placement) scores below this from 18-39 inliers or an
# exclusive placement; there it is a `match` only when the copy descriptor finds the whole query
# like the work too. Icons of one set share a page, a casing or a frame and place on each other
# that way. On recorded evidence (BENCHMARKS.md, fiftieth session) 40 of the 49 such genuinely
# different `match`es on the Tango icons had a cosine under 0.5 and none of their true ones did;
# benchmark runs: Tango icons' distractors at `match` 4.4 / 4.2 -> 2.9 / 3.1 %, openclipart seeds
# 0-3 0.75 / 1.0 / 0.5 / 1.0 -> 0.5 / 0.75 / 0.5 / 0.5 %, one true `match` lost (a caption).
PLACED_ALONE_CHECKED_BELOW = 0.9
PLACED_ALONE_COSINE = 0.5


def unconfirmed(score: float) -> float:
    """The score of a `match` the copy descriptor does not confirm (``PLACED_ALONE_*``): `review`,
    in the same order."""
    return score - (PLACED_ALONE_CHECKED_BELOW - MATCH_THRESHOLD)


def below_review(chance: float) -> float:
    """Published score of a weak candidate ``weak_ranking`` gives this chance (0-1) of being the
    query's true work: below `review`, and above 0 so that it is still submitted."""
    return max(_STEP, published(min(max(chance, 0.0), 1.0) * (REVIEW_THRESHOLD - _STEP)))


def combine(*scores: float) -> float:
    """Evidence for the same work: the strongest piece, raised by the others at half weight.

    Plain noisy-OR assumes independence, but PDQ closeness and ORB inliers are correlated on
    look-alike clip art, and full noisy-OR produced most false matches on the benchmark."""
    ordered = sorted(scores, reverse=True)
    if not ordered:
        return 0.0
    miss = 1.0 - ordered[0]
    for s in ordered[1:]:
        miss *= 1.0 - s * _SUPPORT_WEIGHT
    return 1.0 - miss


def verdict(score: float) -> str | None:
    if score >= MATCH_THRESHOLD:
        return "match"
    if score >= REVIEW_THRESHOLD:
        return "review"
    return None


# A match lying inside a match scoring at least this much higher is explained by it.
EXPLAINED_MARGIN = 0.03


def explained_away(score: float) -> float:
    """Score of a match explained by a stronger one around it: down a quarter, kept in `review`."""
    return published(min(MATCH_THRESHOLD - _STEP, max(REVIEW_THRESHOLD, score * 0.75)))


def cap_below_match(score: float) -> float:
    """Largest published score that is still `review`: when either side is low-information."""
    return min(score, MATCH_THRESHOLD - _STEP)


def published(score: float) -> float:
    """Scores are published with 4 decimals, rounded *down* so none crosses a threshold."""
    return round(math.floor(score / _STEP + 1e-9) * _STEP, 4) if score < 1.0 else 1.0
