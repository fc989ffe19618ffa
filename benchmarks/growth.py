"""Does precision hold as the registry grows? The same queries against more registered works.

`python -m benchmarks.growth [--seed 0] [--per-transform 200] [--out FILE]`

The detection benchmark registers 2,000 works. A registry grows, and each work added is one more
that an innocent upload or another work's copy could be mistaken for. This registers the seed's
2,000 works and then, beside them, every other usable clip art of the source package,
deduplicated exactly as the corpus is (``corpus.more_clip_art``: against the refs, the
distractors and each other), and searches the detection benchmark's queries (copies of the refs
under the issue's 20 transforms, and the 400 unregistered distractors) against both registries.

What to read: true copies found, copies that name a wrong work, distractors at `match`, and the
`match`es that name an added work, each listed for a look, as are the copies found among the refs
alone but not beside the added works. If false `match`es grew only with works that share a drawing
with the query, the extra ones are derivatives a hash dedup cannot see, as in the audits of
BENCHMARKS.md. pHash (≤ 10) and PDQ + dihedral (≤ 31) run on the same files.
Prints Markdown and writes ``benchmarks/results/growth.json``.
"""

from __future__ import annotations

import multiprocessing as mp
import sys
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from tqdm import tqdm

from benchmarks import report
from benchmarks.corpus import Work, build_corpus, more_clip_art
from benchmarks.methods import PDQDihedral, PHash
from benchmarks.queries import Query, build_queries

if TYPE_CHECKING:
    from indexes import Fingerprint

RESULTS = Path(__file__).resolve().parent / "results" / "growth.json"
_RANSAC_SEED = 7


def _fingerprint(job: tuple[int, str, str]) -> tuple[int, Fingerprint | None]:
    """(key or query id, fingerprint or None when the image is refused); runs in a spawned worker."""
    from indexes import ImageError, fingerprint, one_image_thread

    one_image_thread()
    key, path, role = job
    try:
        return key, fingerprint(Path(path).read_bytes(), role=role)
    except ImageError:
        return key, None


def _fingerprints(jobs: Sequence[tuple[int, str, str]], label: str) -> dict[int, Fingerprint | None]:
    with mp.get_context("spawn").Pool(2) as pool:
        done = pool.imap(_fingerprint, jobs, chunksize=16)
        return dict(tqdm(done, total=len(jobs), desc=f"fingerprint {label}", file=sys.stderr, leave=False))


def _tally(found: dict[int, set[int]], queries: Sequence[Query], added: set[int]) -> dict:
    """Counts of one method on one registry: ``found`` maps each query id to its `match`ed keys."""
    copies = [q for q in queries if q.truth is not None]
    distractors = [q for q in queries if q.truth is None]
    return {
        "true": sum(q.truth in found[q.qid] for q in copies),
        "copies": len(copies),
        "wrong": sum(len(found[q.qid] - {q.truth}) for q in copies),
        "distractors_at_match": sum(bool(found[q.qid]) for q in distractors),
        "distractors": len(distractors),
        "naming_added": sum(len(found[q.qid] & added) for q in queries),
    }


def _engine_runs(
    refs: list[Work], more: list[Work], queries: Sequence[Query]
) -> tuple[dict[str, dict[int, set[int]]], list[dict], list[dict], int]:
    import cv2

    from indexes import Engine, one_image_thread

    one_image_thread()
    jobs = [(w.key, w.path, "reference") for w in refs + more]
    works = {k: fp for k, fp in _fingerprints(jobs, "works").items() if fp is not None}
    query_fps = _fingerprints([(q.qid, q.path, "query") for q in queries], "queries")
    ref_keys = {w.key for w in refs}
    engines = {"refs": Engine(), "refs + more": Engine()}
    engines["refs"].rebuild((k, fp) for k, fp in works.items() if k in ref_keys)
    engines["refs + more"].rebuild(works.items())
    found: dict[str, dict[int, set[int]]] = {name: {} for name in engines}
    named: list[dict] = []
    names = {w.key: w.name for w in refs + more}
    for q in tqdm(queries, desc="search", file=sys.stderr, leave=False):
        fp = query_fps[q.qid]
        for name, engine in engines.items():
            matches = []
            if fp is not None:
                cv2.setRNGSeed(_RANSAC_SEED)
                matches = [m for m in engine.search(fp, limit=10) if m.verdict == "match"]
            found[name][q.qid] = {m.key for m in matches}
            if name == "refs + more":
                named += [
                    {"query": q.path, "transform": q.transform, "truth": q.truth, "work": names[m.key],
                     "score": m.score, "kind": m.kind}
                    for m in matches if m.key not in ref_keys
                ]  # fmt: skip
    lost = [
        {"query": q.path, "transform": q.transform, "truth": names[q.truth],
         "instead": sorted(names[k] for k in found["refs + more"][q.qid])}
        for q in queries
        if q.truth is not None and q.truth in found["refs"][q.qid] - found["refs + more"][q.qid]
    ]  # fmt: skip
    return found, named, lost, len(works)


def _baseline_runs(
    method_cls: type[PHash], refs: list[Work], more: list[Work], queries: Iterable[Query]
) -> dict:
    large = method_cls()
    large.build([(w.key, Path(w.path)) for w in refs + more])
    # The refs come first: the smaller registry is their rows, not a second hashing of them.
    small = method_cls()
    small.keys, small.db = large.keys[: len(refs)], large.db[: len(refs)]
    found: dict[str, dict[int, set[int]]] = {"refs": {}, "refs + more": {}}
    for q in tqdm(list(queries), desc=method_cls.name, file=sys.stderr, leave=False):
        h = small.query_hash(Path(q.path))
        for name, method in (("refs", small), ("refs + more", large)):
            found[name][q.qid] = {p.key for p in method.search(h) if p.match}
    return found


def run(seed: int, per_transform: int) -> dict:
    t0 = time.perf_counter()
    corpus = build_corpus(2000, 400, seed)
    queries = build_queries(corpus, per_transform, seed)
    extra = more_clip_art(corpus, seed)
    first = len(corpus.refs)
    more = [Work(first + i, w.name, w.corpus, w.path, w.transparent) for i, w in enumerate(extra)]
    added = {w.key for w in more}
    print(f"[growth] {len(corpus.refs)} works + {len(more)} more, {len(queries)} queries", file=sys.stderr)
    found, named, lost, indexed = _engine_runs(corpus.refs, more, queries)
    methods = {"engine": found}
    for cls in (PHash, PDQDihedral):
        methods[cls.name] = _baseline_runs(cls, corpus.refs, more, queries)
    tallies = {
        method: {name: _tally(per_query, queries, added) for name, per_query in runs.items()}
        for method, runs in methods.items()
    }
    return {
        "config": {"seed": seed, "per_transform": per_transform},
        "works": {"refs": len(corpus.refs), "refs + more": len(corpus.refs) + len(more), "indexed": indexed},
        "tallies": tallies,
        "engine_matches_naming_added": named,
        "engine_copies_lost": lost,
        "wall_s": round(time.perf_counter() - t0, 1),
    }


def markdown(res: dict) -> str:
    rows = []
    for method, per_registry in res["tallies"].items():
        for registry, t in per_registry.items():
            rows.append(
                [
                    method,
                    f"{res['works'][registry]:,} ({registry})",
                    f"{t['true']:,} of {t['copies']:,}",
                    str(t["wrong"]),
                    f"{t['distractors_at_match']} of {t['distractors']} "
                    f"({100 * t['distractors_at_match'] / max(1, t['distractors']):.2f} %)",
                    str(t["naming_added"]) if registry != "refs" else "–",
                ]
            )
    header = ["method", "registered works", "copies found at `match`", "wrong works at `match`",
              "distractors at `match`", "`match`es naming an added work"]  # fmt: skip
    lines = [f"## Registry growth (seed {res['config']['seed']})", "", report._table(header, rows), ""]
    if res["engine_matches_naming_added"]:
        lines += ["Engine `match`es naming an added work (look at each pair):", ""]
        lines += [
            f"- {m['transform']} {'copy' if m['truth'] is not None else 'distractor'} "
            f"`{Path(m['query']).name}` → `{m['work']}` ({m['kind']}, {m['score']:.3f})"
            for m in res["engine_matches_naming_added"]
        ]
    if res.get("engine_copies_lost"):
        lines += ["", "Engine: copies found at `match` among the refs alone, not with the added works:", ""]
        lines += [
            f"- {m['transform']} `{Path(m['query']).name}` of `{m['truth']}`: "
            + (", ".join(f"`{w}`" for w in m["instead"]) or "nothing")
            + " at `match` instead"
            for m in res["engine_copies_lost"]
        ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    return report.seeded_main(argv, name="growth", doc=__doc__, results=RESULTS, run=run, render=markdown)


if __name__ == "__main__":
    raise SystemExit(main())
