"""Copies made with edits the engine was never tuned on, against the same baselines.

`python -m benchmarks.unseen [--refs 2000] [--per-transform 200] [--distractors 400] [--seed 0]`

Same corpus, methods and metrics as ``python -m benchmarks detection``, but the queries use the 16
transforms of ``benchmarks.unseen_transforms`` (AugLy-style edits from the DISC21 tool set and
piracy edits outside issue 2's list), and each distractor gets one of them too. Every threshold in
``indexes/`` was chosen on the issue's transforms, so this shows how they carry over. Prints the
Markdown report and writes ``benchmarks/results/unseen.json``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from benchmarks import report
from benchmarks.corpus import build_corpus
from benchmarks.detection import evaluate
from benchmarks.queries import TransformSet, build_queries
from benchmarks.unseen_transforms import UNSEEN

RESULTS = Path(__file__).resolve().parent / "results" / "unseen.json"
UNSEEN_SET = TransformSet("benchmarks.unseen_transforms", UNSEEN, UNSEEN, ("unseen",))


def run(refs: int, per_transform: int, distractors: int, seed: int) -> dict:
    t_start = time.perf_counter()
    corpus = build_corpus(refs, distractors, seed)
    queries = build_queries(corpus, per_transform, seed, UNSEEN_SET)
    print(
        f"[unseen] {len(queries)} queries over {len(UNSEEN)} unseen transforms", file=sys.stderr, flush=True
    )
    config = {"refs": refs, "per_transform": per_transform, "distractors": distractors, "seed": seed}
    results = evaluate(corpus, queries, [t.name for t in UNSEEN], ["unseen"], config)
    results["wall_s"] = time.perf_counter() - t_start
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.unseen", description=__doc__.split("\n")[0])
    parser.add_argument("--refs", type=int, default=2000)
    parser.add_argument("--per-transform", type=int, default=200)
    parser.add_argument("--distractors", type=int, default=400)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=RESULTS, help="JSON results path")
    args = parser.parse_args(argv)
    results = run(args.refs, args.per_transform, args.distractors, args.seed)
    report.save_and_print(results, args.out, title="Unseen transforms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
