"""The detection benchmark: build corpus and queries, run every method, score, report."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from benchmarks import metrics, report, throughput, verified
from benchmarks.corpus import Corpus, build_corpus
from benchmarks.methods import EngineMethod, Method, PDQDihedral, PHash, engine_available
from benchmarks.queries import ISSUE_TRANSFORMS, Query, TransformSet, build_queries
from benchmarks.transforms import FAMILIES, TRANSFORMS

RESULTS = Path(__file__).resolve().parent / "results" / "detection.json"


@dataclass(frozen=True)
class Config:
    refs: int = 2000
    per_transform: int = 200
    distractors: int = 400
    throughput_images: int = 200
    seed: int = 0


QUICK = Config(refs=300, per_transform=30, distractors=60, throughput_images=40)


def _log(msg: str) -> None:
    print(f"[detection] {msg}", file=sys.stderr, flush=True)


def run_method(method: Method, refs: list[tuple[int, Path]], queries: list[Query]) -> dict:
    t0 = time.perf_counter()
    method.build(refs)
    build_s = time.perf_counter() - t0
    preds: list[metrics.Pred] = []
    hash_s: list[float] = []
    search_s: list[float] = []
    errors: list[str] = []
    for q in tqdm(queries, desc=f"query {method.name}", file=sys.stderr, leave=False):
        try:
            out = method.query(Path(q.path))
        except Exception as exc:  # a crash on one query must not hide the other numbers
            errors.append(f"{Path(q.path).parent.name}/{Path(q.path).name}: {type(exc).__name__}: {exc}")
            continue
        preds.extend(metrics.Pred(q.qid, p.key, p.score, p.match) for p in out)
        hash_s.append(method.hash_s)
        search_s.append(method.search_s)
    return {
        "preds": preds,
        "build_s": build_s,
        "hash_s": hash_s,
        "search_s": search_s,
        "errors": errors,
        "build_errors": getattr(method, "build_errors", []),
        "fingerprint_errors": getattr(method, "query_errors", 0),
    }


def scores(preds: list[metrics.Pred], queries: list[Query], shown_min_score: float | None = None) -> dict:
    truth = {q.qid: q.truth for q in queries}
    ids = {q.qid for q in queries}
    preds = [p for p in preds if p.query in ids]
    by_transform = {q.qid: q.transform for q in queries if q.truth is not None}
    extra = {}
    if shown_min_score is not None:
        # Micro-AP over what a user is shown (`match` and `review`), as reported before the
        # engine submitted its weaker candidates.
        extra["micro_ap_shown"] = metrics.micro_ap([p for p in preds if p.score >= shown_min_score], truth)
    correct, matched = metrics.match_counts(preds, truth)
    return {
        "queries": len(queries),
        "positives": sum(q.truth is not None for q in queries),
        "distractors": sum(q.truth is None for q in queries),
        "micro_ap": metrics.micro_ap(preds, truth),
        **extra,
        "recall_at_p90": metrics.recall_at_precision(preds, truth, 0.9),
        "distractor_fp_rate": metrics.distractor_fp_rate(preds, truth),
        "precision_at_match": metrics.precision_at_match(preds, truth),
        "matches": [correct, matched],
        "precision_at_match_ci95": list(metrics.wilson_interval(correct, matched)),
        "recall_at_match": metrics.recall_at_match(preds, truth, truth),
        "family_recall": metrics.grouped_recall(
            preds, truth, {q.qid: q.family for q in queries if q.truth is not None}
        ),
        "transform_recall": metrics.grouped_recall(preds, truth, by_transform),
        # true ref anywhere in the returned list, confident or not
        "transform_recall_any": metrics.grouped_recall(preds, truth, by_transform, at_match=False),
    }


def run(cfg: Config) -> dict:
    t_start = time.perf_counter()
    _log(f"corpus: {cfg.refs} refs, {cfg.distractors} distractors (seed {cfg.seed})")
    corpus = build_corpus(cfg.refs, cfg.distractors, cfg.seed)
    queries = build_queries(corpus, cfg.per_transform, cfg.seed)
    _log(f"{len(queries)} queries over {len(TRANSFORMS)} transforms")
    results = evaluate(corpus, queries, [t.name for t in TRANSFORMS], FAMILIES, cfg.__dict__)
    if cfg.throughput_images > 0:  # 0 skips the throughput section
        _log(f"throughput on {cfg.throughput_images} ~1 MP JPEGs")
        blobs = throughput.one_megapixel_jpegs(corpus.refs, cfg.throughput_images, cfg.seed)
        engine = results["engine_available"]
        results["throughput_images_per_s"] = throughput.hashing_throughput(blobs, engine=engine)
    results["wall_s"] = time.perf_counter() - t_start
    return results


def evaluate(
    corpus: Corpus, queries: list[Query], transform_names: list[str], families: list[str], config: dict
) -> dict:
    """Every method (pHash, PDQ8 and the engine when it imports) built on the corpus's refs and
    scored on ``queries``: the results dict that ``report.markdown`` renders."""
    refs = [(w.key, Path(w.path)) for w in corpus.refs]
    methods: list[Method] = [PHash(), PDQDihedral()]
    why_not = engine_available()
    if why_not is None:
        methods.append(EngineMethod())
    else:
        _log(f"engine: not available ({why_not})")

    results: dict = {
        "config": config,
        "corpus": {
            "refs": {c: sum(w.corpus == c for w in corpus.refs) for c in ("clipart", "photo")},
            "distractors": {c: sum(w.corpus == c for w in corpus.distractors) for c in ("clipart", "photo")},
            "transparent_refs": sum(w.transparent for w in corpus.refs),
        },
        "families": families,
        "transforms": transform_names,
        "engine_available": why_not is None,
        "engine_unavailable_reason": why_not,
        "methods": {},
    }
    verdicts = verified.load()
    sources = verified.source_names(corpus, queries)
    ref_names = {w.key: w.name for w in corpus.refs}
    for method in methods:
        _log(f"running {method.name}")
        raw = run_method(method, refs, queries)
        shown = getattr(method, "shown_min_score", None)
        kept = verified.without_derivatives(raw["preds"], sources, ref_names, verdicts)
        entry = {
            "overall": scores(raw["preds"], queries, shown),
            "by_corpus": {
                c: scores(raw["preds"], [q for q in queries if q.corpus == c], shown)
                for c in ("clipart", "photo")
            },
            "build_s": raw["build_s"],
            "latency_excl_hash": throughput.percentiles_ms(raw["search_s"]),
            "latency_incl_hash": throughput.percentiles_ms(
                [a + b for a, b in zip(raw["hash_s"], raw["search_s"], strict=True)]
            ),
            "hash_total_s": sum(raw["hash_s"]),
            "search_total_s": sum(raw["search_s"]),
            "query_errors": raw["errors"][:20],
            "query_error_count": len(raw["errors"]),
            "build_errors": raw["build_errors"][:20],
            "build_error_count": len(raw["build_errors"]),
            "fingerprint_error_count": raw["fingerprint_errors"],
            "weak_search_inconsistent": getattr(method, "inconsistent", None),
            "verified": {**scores(kept, queries, shown), "dropped": len(raw["preds"]) - len(kept)},
            "false_matches": verified.false_matches(raw["preds"], queries, sources, ref_names, verdicts),
        }  # fmt: skip
        results["methods"][method.name] = entry
    return results


def evaluate_set(
    corpus: Corpus, queries: list[Query], tset: TransformSet, config: dict, started: float
) -> dict:
    """``evaluate`` over ``tset``'s transforms, by the issue's four families (or the set's own), with
    the wall time since ``started`` (a ``time.perf_counter()``) as ``wall_s``."""
    families = FAMILIES if tset is ISSUE_TRANSFORMS else sorted({t.family for t in tset.transforms})
    results = evaluate(corpus, queries, [t.name for t in tset.transforms], families, config)
    results["wall_s"] = time.perf_counter() - started
    return results


def main(cfg: Config, out: Path = RESULTS) -> int:
    results = run(cfg)
    report.save_and_print(results, out)
    _log(f"wrote {out}")
    return 0
