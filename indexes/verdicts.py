"""From evidence to verdicts: each work's pieces of evidence, found by ``Engine.search``, become
one calibrated score, verdict, kind and region (``scoring``), and a match lying inside a clearly
stronger one is explained away."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from indexes import appearance, embedding_index, geometry, global_hashes, scoring, weak_ranking
from indexes.content_box import background_to_white, content_box
from indexes.fingerprinting import Fingerprint
from indexes.global_hashes import PHASH_BYTES
from indexes.indexed_work import NO_PHASH, IndexedWork, phash_int

# A placement showing >= 85 % of the work and filling >= 85 % of the query is a whole copy
# (kind "near"); anything less is "partial" (a crop, or the work inside a larger image).
_WHOLE_SHARE = 0.85


@dataclass(frozen=True)
class Match:
    """One registered work found in a query."""

    key: int
    score: float
    verdict: str  # "match" | "review", or "" for a weaker candidate (``search(min_score=...)``)
    kind: str  # "exact" | "near" | "partial"
    region: tuple[int, int, int, int] | None  # x, y, w, h in query pixels


@dataclass
class Evidence:
    """What a search found for one work, piece by piece (``Engine.search``'s cascade)."""

    near: int | None = None  # best whole-image PDQ distance
    near_panel: tuple[int, int, int, int] | None = None  # the query panel it was found in, if one
    region: int | None = None  # best sub-region PDQ distance (the query is a crop)
    placement: geometry.Placement | None = None
    mirrored: bool = False
    aligned: int | None = None  # PDQ distance of the placed query region to the work
    edges: float = 0.0  # correlation of the placed query region's edges with the work's
    loose: int = 0  # inliers of a placement found without the ratio test (weak candidates only)
    # A placement found by matching the query against this work alone, clearly ahead of every
    # other shortlisted work's (``Engine._exclusive``), and its placed edges' correlation.
    exclusive: geometry.Placement | None = None
    exclusive_edges: float = 0.0
    # The copy descriptor's cosine to this work when it was clearly the nearest (``Engine._learned``),
    # and the query's placement against the work alone that confirmed it.
    learned: float = 0.0
    learned_placement: geometry.Placement | None = None
    # How closely the query's lightness edges fit inside this work's map, when the descriptor put
    # it nearest and no placement confirmed it (``Engine._by_lightness``).
    lightness: float = 0.0
    # Where the copy descriptor put this work among its nearest when nothing reached `match`
    # (weak candidates only).
    suggestion: weak_ranking.Suggestion | None = None

    @property
    def suggested(self) -> float:
        """How strongly the descriptor suggests this work (``scoring.suggestion``); 0 if it did not."""
        s = self.suggestion
        return 0.0 if s is None else scoring.suggestion(s.cosine, s.lead_over_next, s.lead_over_background)


def score_evidence(
    fp: Fingerprint,
    evidence: dict[int, Evidence],
    exact: set[int],
    min_score: float,
    works: Mapping[int, IndexedWork],
    same_picture: Callable[[int, int], bool],
) -> list[Match]:
    """Each work's evidence combined into one calibrated score and verdict (``scoring``), best
    first, with matches explained by a stronger one around them demoted (``_explain_away``).
    ``exact``: works whose bytes the query is. Candidates below `review` (only when ``min_score``
    asks for them) are ranked by ``weak_ranking``."""
    out: list[Match] = []
    weak: list[tuple[Match, weak_ranking.WeakCandidate]] = []
    full = (0, 0, fp.size[0], fp.size[1])
    views: np.ndarray | None = None  # the query's appearance, computed once if needed
    query_phashes: tuple[int, ...] | None = None  # likewise its pHashes (queries do not store one)
    panel_phashes: dict[tuple[int, int, int, int], tuple[int, ...]] = {}

    def phash_bits(key: int, ev: Evidence) -> int | None:
        """pHash distance to the work when it could corroborate the whole-image PDQ, else None:
        from the query's own views, or from the panel whose PDQ found the work."""
        nonlocal query_phashes
        if ev.near is None or not scoring.phash_may_corroborate(
            ev.near, cut_from_page=_cut_from_page(fp, ev)
        ):
            return None
        work_phash = works[key].phash
        if work_phash == NO_PHASH:
            return None
        if ev.near_panel is not None:
            if ev.near_panel not in panel_phashes:
                panel_phashes[ev.near_panel] = _panel_phash(fp, ev.near_panel)
            hashes = panel_phashes[ev.near_panel]
        else:
            if query_phashes is None:
                query_phashes = _query_phashes(fp)
            hashes = query_phashes
        return min(((q ^ work_phash).bit_count() for q in hashes), default=None)

    for key in exact:
        out.append(_match(fp, works[key], key, 1.0, "exact", full))
    for key, ev in evidence.items():
        if key in exact or key not in works:
            continue
        parts, kind, region = [], "near", None
        placed_whole = False
        if ev.near is not None or ev.aligned is not None:
            # The whole query, or the placed region, looks like the work: one piece of
            # evidence (the two hashes agree on whole copies, so they must not add up).
            near = 0.0
            if ev.near is not None:
                near = scoring.corroborated_near_score(
                    ev.near, phash_bits(key, ev), cut_from_page=_cut_from_page(fp, ev)
                )
            aligned = scoring.aligned_score(ev.aligned) if ev.aligned is not None else 0.0
            parts.append(max(near, aligned))
            region = full
            if ev.near_panel is not None and near >= aligned:
                kind, region = "partial", ev.near_panel  # the work fills a panel of the page
        elif ev.region is not None:
            parts.append(scoring.region_score(ev.region))
            kind, region = "partial", full
        if ev.placement is not None:
            parts.append(scoring.local_score(ev.placement.inliers, ev.placement.span))
            parts.append(scoring.placed_edges_score(ev.edges))
            region, whole = _region(fp, works[key], ev.placement, ev.mirrored)
            placed_whole = whole
            if not whole:
                kind = "partial"
        if ev.exclusive is not None:
            parts.append(scoring.exclusive_score(ev.exclusive_edges))
            if ev.placement is None:
                region, whole = _region(fp, works[key], ev.exclusive, False)
                placed_whole = whole
                if not whole:
                    kind = "partial"
        if ev.learned_placement is not None:
            parts.append(scoring.learned_score(ev.learned))
            if ev.placement is None and ev.exclusive is None:
                region, whole = _region(fp, works[key], ev.learned_placement, False)
                if not whole:
                    kind = "partial"
        if ev.lightness:
            parts.append(scoring.lightness_score(ev.lightness))
            if region is None:
                kind, region = "partial", full  # a crop of the work fills the query
        score = scoring.combine(*parts)
        raw_likeness = 0.0
        if score >= scoring.REVIEW_THRESHOLD:
            # Whole-image appearance confirms a candidate but never makes one: among all
            # works, look-alike clip art correlates too often (65 of 4,400 benchmark queries).
            if views is None:
                views = appearance.orientations(fp.appearance)
            likeness = scoring.appearance_score(appearance.similarity(views, works[key].appearance))
            if likeness > 0.0:
                score = scoring.combine(score, likeness)
                kind, region = "near", full
        if score < scoring.REVIEW_THRESHOLD and min_score < scoring.REVIEW_THRESHOLD:
            if views is None:
                views = appearance.orientations(fp.appearance)
            raw_likeness = appearance.similarity(views, works[key].appearance)
            below_review = scoring.weak_score(ev.loose, ev.near, raw_likeness, ev.suggested)
            if below_review > score:
                score, kind = below_review, "partial" if ev.loose else "near"
        if (
            placed_whole
            and _placed_alone(ev)
            and scoring.MATCH_THRESHOLD <= score < scoring.PLACED_ALONE_CHECKED_BELOW
            and fp.thumbnail is not None
            and works[key].embedding.any()
        ):
            cosine = float(embedding_index.cosines(fp.copy_descriptor(), works[key].embedding))
            if cosine < scoring.PLACED_ALONE_COSINE:
                score = scoring.unconfirmed(score)
        whole_image = 0.0
        if ev.near is not None and ev.near_panel is None:
            by_hash = scoring.tiny_query_score if fp.whole_image_only else scoring.near_score
            whole_image = by_hash(ev.near)
        match = _match(fp, works[key], key, score, kind, region, whole_image=whole_image)
        if match.score <= 0.0:
            continue
        if match.score < scoring.REVIEW_THRESHOLD and min_score < scoring.REVIEW_THRESHOLD:
            candidate = weak_ranking.WeakCandidate(
                key, match.score, ev.suggestion, ev.loose, ev.near, ev.region, raw_likeness
            )
            weak.append((match, candidate))
        elif match.score >= min_score:
            out.append(match)
    out.extend(m for m in _ranked_weak(fp, weak, out) if m.score >= min_score)
    out.sort(key=lambda m: (-m.score, m.key))
    return _explain_away(out, same_picture)


def _placed_alone(ev: Evidence) -> bool:
    """Whether a placement (or an exclusive one) is all the evidence for the work: no PDQ of the
    whole query or of a region, no lightness fit, no placement the copy descriptor named."""
    return (
        (ev.placement is not None or ev.exclusive is not None)
        and ev.near is None
        and ev.region is None
        and ev.learned_placement is None
        and not ev.lightness
    )


def _ranked_weak(
    fp: Fingerprint, weak: list[tuple[Match, weak_ranking.WeakCandidate]], shown: list[Match]
) -> list[Match]:
    """The candidates below `review`, scored again by ``weak_ranking`` in the light of what the query
    showed (``shown``: its `match` and `review` candidates)."""
    if not weak:
        return []
    best = max((m.score for m in shown), default=0.0)
    rows = weak_ranking.features(
        [c for _, c in weak],
        best,
        len(fp.local),
        match=scoring.MATCH_THRESHOLD,
        review=scoring.REVIEW_THRESHOLD,
    )
    chances = weak_ranking.probabilities(rows)
    return [
        Match(m.key, scoring.below_review(float(p)), "", m.kind, m.region)
        for (m, _), p in zip(weak, chances.tolist(), strict=True)
    ]


def _match(
    fp: Fingerprint,
    work: IndexedWork,
    key: int,
    score: float,
    kind: str,
    region: tuple | None,
    *,
    whole_image: float = 0.0,
) -> Match:
    """``whole_image``: the score of the whole-image hash alone, which a query too small for
    local features may still reach `match` with (``Fingerprint.whole_image_only``)."""
    if kind != "exact":
        score = min(score, scoring.BEST_NON_EXACT)  # 1.0 is reserved for identical bytes
    if work.low_information:
        score = scoring.cap_below_match(score)
    elif fp.low_information:
        score = scoring.cap_below_match(score)
        if fp.whole_image_only and whole_image > score:
            score, kind, region = whole_image, "near", (0, 0, fp.size[0], fp.size[1])
    score = scoring.published(score)
    return Match(key, score, scoring.verdict(score) or "", kind, region)


def _region(
    fp: Fingerprint, work: IndexedWork, placement: geometry.Placement, mirrored: bool
) -> tuple[tuple[int, int, int, int], bool]:
    """The work's outline in query pixels, and whether it is the whole query (a full copy)."""
    ww, wh = fp.working_size
    box, visible = geometry.project_box(placement.matrix, work.working_size, (ww, wh))
    x, y, w, h = box
    if mirrored:
        x = ww - (x + w)
    s = fp.scale
    whole = visible >= _WHOLE_SHARE and w * h >= _WHOLE_SHARE * ww * wh
    return (round(x * s), round(y * s), max(1, round(w * s)), max(1, round(h * s))), whole


def _query_phashes(fp: Fingerprint) -> tuple[int, ...]:
    """The query's whole-image pHash, stored in reference fingerprints; else hashed (~0.5 ms each,
    only for queries with a drifted whole-image candidate) from its thumbnail and from the views
    its PDQ was also searched in: the content inside a frame, and the page colour made white.
    Either may be the view whose PDQ found the work (seeds 0, 2 and 3 and the unseen edits: 26 more
    true `match`es than the thumbnail alone, pixelated and blurred copies and frames, none wrong).
    Empty when there is none to compare (a stored query fingerprint has no thumbnail). The views
    are cut again here rather than kept in every fingerprint: few queries need them, and every
    fingerprint crosses a process boundary in a scan."""
    if len(fp.phash) == PHASH_BYTES:
        return (phash_int(fp.phash),)
    if fp.thumbnail is None:
        return ()
    small = fp.thumbnail
    views = [small]
    if (box := content_box(small)) is not None:
        x, y, w, h = box
        views.append(small[y : y + h, x : x + w])
    if (whitened := background_to_white(small)) is not None:
        views.append(whitened)
    return tuple(phash_int(global_hashes.phash(view)) for view in views)


def _cut_from_page(fp: Fingerprint, ev: Evidence) -> bool:
    """Whether the PDQ that found the work is of a picture cut from a page (an item, or a panel
    of this query), not of an upload as a whole (``scoring.phash_may_corroborate``)."""
    return fp.page_item or ev.near_panel is not None


def _panel_phash(fp: Fingerprint, panel: tuple[int, int, int, int]) -> tuple[int, ...]:
    """pHashes of a query panel (x, y, w, h in original pixels) cut from its thumbnail, as it is
    and, on a colour, whitened (as its PDQ views are); empty when there is no thumbnail or the cut
    is under 8 px. Listing pages whose artwork panel's PDQ drifted: seeds 0, 2 and 3, 10 more true
    `match`es, none wrong (BENCHMARKS.md)."""
    if fp.thumbnail is None:
        return ()
    f = fp.thumbnail.shape[1] / fp.size[0]
    x, y, w, h = (round(v * f) for v in panel)
    cut = fp.thumbnail[y : y + h, x : x + w]
    if min(cut.shape[:2]) < 8:
        return ()
    views = (cut, background_to_white(cut))
    return tuple(phash_int(global_hashes.phash(v)) for v in views if v is not None)


def _explain_away(matches: list[Match], same_picture: Callable[[int, int], bool]) -> list[Match]:
    """Demote to `review` a match lying inside a clearly stronger match's region (``matches``
    best first): one registered drawing inside another, copied as a whole, is a copy of the
    larger work, as non-maximum suppression keeps one detection per object. On the benchmark
    20 of the 25 wrong-work `match`es were such pairs: precision at `match` 0.985 -> 0.991.
    Works that are ``same_picture`` as the stronger one are left alone."""
    out: list[Match] = []
    for m in matches:
        covered = (
            m.verdict != ""
            and m.kind != "exact"
            and any(
                y.verdict == "match"
                and y.score >= m.score + scoring.EXPLAINED_MARGIN
                and _inside(m.region, y.region)
                and not same_picture(m.key, y.key)
                for y in out
            )
        )
        if covered:
            m = Match(m.key, scoring.explained_away(m.score), "review", m.kind, m.region)
        out.append(m)
    out.sort(key=lambda m: (-m.score, m.key))
    return out


def _inside(inner: tuple[int, int, int, int] | None, outer: tuple[int, int, int, int] | None) -> bool:
    """Whether ``inner`` lies within ``outer`` widened by a tenth of its size on each side."""
    if inner is None or outer is None:
        return False
    x, y, w, h = inner
    ox, oy, ow, oh = outer
    sx, sy = ow * 0.1, oh * 0.1
    return x >= ox - sx and y >= oy - sy and x + w <= ox + ow + sx and y + h <= oy + oh + sy
