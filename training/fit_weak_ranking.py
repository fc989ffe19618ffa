"""Fit ``indexes/weak_ranking.py``'s weights on replays of benchmark seeds, or measure them.

    python -m training.fit_weak_ranking fit --seeds 0 1 2 3 4
    python -m training.fit_weak_ranking measure --seeds 0 --unseen

Each seed's corpus and queries are the benchmark's (``benchmarks.corpus``, ``benchmarks.queries``;
``--unseen``: ``benchmarks.unseen``'s edits). Its engine is built once and kept under
``.cache/bench/engines``. Every query is searched as ``benchmarks.methods.EngineMethod`` searches it
(``min_score=0``), with a wider limit, and ``weak_ranking.features`` is recorded for the
candidates below `review`. ``fit``: a logistic regression of "the candidate is the query's true
work" on those rows (L2, Newton steps), printed as the module's ``WEIGHTS`` and ``BIAS``. Both
commands print the micro-AP of the replays with the candidates below `review` ordered by the
shipped weak score (the ``weak_score`` feature) and by the model, each query's list cut to the
benchmark's 10.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import sys
from collections.abc import Callable
from dataclasses import asdict
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from benchmarks import metrics, sources
from benchmarks.corpus import build_corpus
from benchmarks.queries import build_queries
from indexes import scoring, weak_ranking

LIMIT = 10  # the benchmark's (``EngineMethod``)
_WIDE_LIMIT = 50  # every candidate, whatever the weights in place rank them
_L2 = 1e-4

_engine = None
_recorded: list[tuple[list[int], np.ndarray]] = []


def _record(original: Callable[..., np.ndarray]) -> Callable[..., np.ndarray]:
    """``weak_ranking.features``, also keeping each call's candidates and rows in ``_recorded``."""

    def features(candidates: list[weak_ranking.WeakCandidate], *args: Any, **kwargs: Any) -> np.ndarray:
        rows = original(candidates, *args, **kwargs)
        _recorded.append(([c.key for c in candidates], rows))
        return rows

    return features


def _replay_one(job: tuple[str, str, dict]) -> dict:
    """One query searched on the seed's engine: its candidates at `review` or above, and the
    feature rows of those below (the last rows the search computed for each)."""
    global _engine
    from indexes import Engine, ImageError, fingerprint

    directory, path, query = job
    if _engine is None:  # one seed a pool
        weak_ranking.features = _record(weak_ranking.features)
        _engine = Engine(directory)
    try:
        fp = fingerprint(Path(path).read_bytes())
    except ImageError:
        return {**query, "shown": [], "weak": []}
    _recorded.clear()
    found = _engine.search(fp, limit=_WIDE_LIMIT, min_score=0.0)
    rows: dict[int, list[float]] = {}
    for keys, block in _recorded:  # later calls (the search's last stage) win
        rows.update(zip(keys, block.tolist(), strict=True))
    shown = [(m.key, m.score, m.verdict == "match") for m in found if m.verdict]
    weak = [(m.key, rows[m.key]) for m in found if not m.verdict and m.key in rows]
    return {**query, "shown": shown, "weak": weak}


def _engine_for(seed: int, refs: list) -> Path:
    from indexes import Engine, ImageError, fingerprint

    directory = sources.cache_root() / "engines" / f"seed{seed}"
    if not directory.exists():
        partial = directory.with_suffix(".tmp")
        shutil.rmtree(partial, ignore_errors=True)  # an interrupted build's
        engine = Engine(partial)
        for work in tqdm(refs, desc=f"indexing seed {seed}", file=sys.stderr, leave=False):
            with contextlib.suppress(ImageError):  # as the benchmark skips them
                engine.add(work.key, fingerprint(Path(work.path).read_bytes(), role="reference"))
        engine.save()
        partial.rename(directory)
    return directory


def replay(seed: int, unseen: bool, workers: int, saved: Path | None = None) -> list[dict]:
    """Seed ``seed``'s queries replayed; read from, or else written to, ``saved`` (a folder) if given."""
    path = None if saved is None else saved / f"seed{seed}{'-unseen' if unseen else ''}.json"
    if path is not None and path.exists():
        return json.loads(path.read_text())
    corpus = build_corpus(2000, 400, seed)
    if unseen:
        from benchmarks.unseen import UNSEEN_SET

        queries = build_queries(corpus, 200, seed, UNSEEN_SET)
    else:
        queries = build_queries(corpus, 200, seed)
    directory = str(_engine_for(seed, corpus.refs))
    jobs = [(directory, q.path, asdict(q)) for q in queries]
    with get_context("spawn").Pool(workers) as pool:
        searched = pool.imap(_replay_one, jobs, chunksize=16)
        replayed = list(tqdm(searched, total=len(jobs), desc=f"seed {seed}", file=sys.stderr, leave=False))
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(replayed))
    return replayed


def micro_ap(replayed: list[dict], weak_score: Callable[[np.ndarray], np.ndarray]) -> float:
    """The benchmark's micro-AP with each query's candidates below `review` scored by
    ``weak_score(rows)``, and its list cut to ``LIMIT``."""
    truth = {q["qid"]: q["truth"] for q in replayed}
    preds = []
    for q in replayed:
        ranked = [(key, score) for key, score, _ in q["shown"]]
        if q["weak"]:
            scores = weak_score(np.array([row for _, row in q["weak"]]))
            ranked += [(key, float(s)) for (key, _), s in zip(q["weak"], scores, strict=True)]
        ranked.sort(key=lambda item: (-item[1], item[0]))
        preds += [metrics.Pred(q["qid"], key, score) for key, score in ranked[:LIMIT]]
    return metrics.micro_ap(preds, truth)


def fit(rows: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, float]:
    """Logistic regression on standardised features (L2 ``_L2``), returned in raw feature units."""
    mean, spread = rows.mean(axis=0), rows.std(axis=0) + 1e-9
    z = np.c_[(rows - mean) / spread, np.ones(len(rows))]
    w = np.zeros(z.shape[1])
    penalty = _L2 * np.diag(np.r_[np.ones(z.shape[1] - 1), 0.0])
    for _ in range(50):
        p = 1.0 / (1.0 + np.exp(-z @ w))
        gradient = z.T @ (p - labels) / len(labels) + penalty @ w
        hessian = (z * (p * (1 - p))[:, None]).T @ z / len(labels) + penalty
        step = np.linalg.solve(hessian + 1e-9 * np.eye(len(w)), gradient)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    weights = w[:-1] / spread
    return weights, float(w[-1] - (weights * mean).sum())


def _by_weak_score(rows: np.ndarray) -> np.ndarray:
    """The order before the model: ``scoring.weak_score``."""
    return rows[:, weak_ranking.FEATURES.index("weak_score")]


def _by_model(weights: np.ndarray, bias: float) -> Callable[[np.ndarray], np.ndarray]:
    def score(rows: np.ndarray) -> np.ndarray:
        chances = 1.0 / (1.0 + np.exp(-(rows @ weights + bias)))
        return np.array([scoring.below_review(float(p)) for p in chances])

    return score


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m training.fit_weak_ranking", description=__doc__.split("\n")[0]
    )
    parser.add_argument("command", choices=("fit", "measure"))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--unseen", action="store_true", help="benchmarks.unseen's edits, not the issue's")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--replays", type=Path, help="keeps each seed's replay, reused if there (clear it after a change)"
    )
    args = parser.parse_args(argv)
    replayed = {seed: replay(seed, args.unseen, args.workers, args.replays) for seed in args.seeds}
    weights, bias = weak_ranking.WEIGHTS, weak_ranking.BIAS
    if args.command == "fit":
        rows = [(row, key == q["truth"]) for r in replayed.values() for q in r for key, row in q["weak"]]
        x, y = np.array([r for r, _ in rows]), np.array([t for _, t in rows], float)
        print(f"{len(y)} candidates below review, {int(y.sum())} true")
        weights, bias = fit(x, y)
        print("WEIGHTS = np.array([")
        for name, w in zip(weak_ranking.FEATURES, weights.tolist(), strict=True):
            print(f"    {w:.4f},  # {name}")
        print(f"])\nBIAS = {bias:.4f}")
    print("| seed | µAP, weak score | µAP, model |\n|---|---|---|")
    for seed, r in replayed.items():
        print(f"| {seed} | {micro_ap(r, _by_weak_score):.4f} | {micro_ap(r, _by_model(weights, bias)):.4f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
