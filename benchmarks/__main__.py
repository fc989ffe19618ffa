"""`python -m benchmarks detection [--refs N] [--per-transform M] [--distractors D] [--quick]`."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from benchmarks import detection


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks")
    sub = parser.add_subparsers(dest="command", required=True)
    det = sub.add_parser("detection", help="copy-detection accuracy, throughput and latency")
    det.add_argument("--quick", action="store_true", help="~300 refs, 30 per transform, 60 distractors")
    det.add_argument("--refs", type=int)
    det.add_argument("--per-transform", type=int)
    det.add_argument("--distractors", type=int)
    det.add_argument("--throughput-images", type=int)
    det.add_argument("--seed", type=int)
    det.add_argument("--out", type=Path, default=detection.RESULTS, help="JSON results path")
    args = parser.parse_args(argv)

    cfg = detection.QUICK if args.quick else detection.Config()
    overrides = {
        "refs": args.refs,
        "per_transform": args.per_transform,
        "distractors": args.distractors,
        "throughput_images": args.throughput_images,
        "seed": args.seed,
    }
    cfg = dataclasses.replace(cfg, **{k: v for k, v in overrides.items() if v is not None})
    return detection.main(cfg, args.out)


if __name__ == "__main__":
    raise SystemExit(main())
