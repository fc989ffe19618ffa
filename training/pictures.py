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
