"""Which pictures the copy descriptor is trained on (no PyTorch here: ``background_views`` uses it
with the engine alone)."""

from __future__ import annotations

import glob
import json
from pathlib import Path

CORPUS = Path(".cache/bench/norm")
# Every benchmark seed's works and distractors are left out of training.
BENCHMARK_MANIFESTS = ".cache/bench/corpus/manifest_v4_s*_r2000_d400.json"


def training_pictures(corpus: Path, manifests: str) -> list[Path]:
    """Clip art in ``corpus`` that no benchmark manifest registers or queries."""
    files = sorted(glob.glob(manifests))
    if not files:
        raise SystemExit(f"no benchmark manifests match {manifests}: run the benchmark once first")
    used = set()
    for name in files:
        manifest = json.loads(Path(name).read_text())
        used |= {Path(x["path"]).name for x in manifest["refs"] + manifest["distractors"]}
    return [p for p in sorted(corpus.glob("clipart*.png")) if p.name not in used]


# The pictures whose descriptors the engine ships as its background, row by row: the thirty-ninth
# session's 1,229 training pictures, found again in today's corpus by their descriptors: each row
# names the file whose descriptor is within one quantum of it (148 name a file another row names).
BACKGROUND_LIST = Path(__file__).with_name("background_pictures.txt")


def background_pictures(corpus: Path) -> list[Path]:
    """The shipped background's pictures in ``corpus``, row by row."""
    names = BACKGROUND_LIST.read_text().split()
    missing = [n for n in names if not (corpus / n).exists()]
    if missing:
        raise SystemExit(f"{len(missing)} background pictures missing from {corpus} (first: {missing[0]})")
    return [corpus / n for n in names]
