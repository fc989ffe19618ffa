"""Full-size photographs under the issue's 20 transforms, beside the clip art.

`python -m benchmarks.photos [--seed 0] [--unseen]`

The detection benchmark's photo corpus is 96 px tiles, because the reachable public-domain
photographs are few (``benchmarks.sources``). Copy-detection corpora such as DISC21 are
photographs at full size, so this measures that case on what there is: the same source photos
used whole (300–660 px) or cut into windows (436–1,000 px), and registered among the seed's clip-art
works (its photo tiles are left out: they are cut from the same photographs, and a query of a
whole window would rightly match the tiles inside it). Other windows of the same photographs are
the distractors. Every work and every distractor is queried under all 20 transforms; methods,
metrics and report are the detection benchmark's. Small (20 works), so a single copy moves a
transform's recall by 0.05. ``--unseen`` uses the 16 edits of ``benchmarks.unseen`` instead of
the issue's 20. Prints the Markdown report and writes ``benchmarks/results/photos.json``
(``photos-unseen.json`` with ``--unseen``).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from PIL import Image

from benchmarks import report, sources
from benchmarks.corpus import Corpus, Work, build_corpus
from benchmarks.detection import evaluate_set
from benchmarks.queries import ISSUE_TRANSFORMS, Query, TransformSet, every_transform
from benchmarks.unseen import UNSEEN_SET

RESULTS = Path(__file__).resolve().parent / "results" / "photos.json"
UNSEEN_RESULTS = RESULTS.with_name("photos-unseen.json")
FIRST_KEY = 100_000  # above every clip-art key
# Photographs large enough to cut: (windows per row, per column); the first row's windows are
# registered and the rest are distractors (for the retina, the first two of four).
_CUT = {"earth": (4, 2), "night": (4, 2), "retina": (2, 2), "hubble_deep_field": (1, 2)}
_REGISTERED_SHARE = 0.5


def photo_windows(
    images: dict[str, Image.Image],
) -> tuple[list[tuple[str, Image.Image]], list[tuple[str, Image.Image]]]:
    """(registered, distractor) lists of (name, RGB image): the photographs in ``_CUT`` cut into
    non-overlapping windows, half registered and half distractors; every other one registered whole."""
    works: list[tuple[str, Image.Image]] = []
    distractors: list[tuple[str, Image.Image]] = []
    for stem in sorted(images):
        img = images[stem].convert("RGB")
        if stem not in _CUT:
            works.append((stem, img))
            continue
        cols, rows = _CUT[stem]
        w, h = img.width // cols, img.height // rows
        cut = [
            (f"{stem}_r{r}_c{c}", img.crop((c * w, r * h, (c + 1) * w, (r + 1) * h)))
            for r in range(rows)
            for c in range(cols)
        ]
        n = round(len(cut) * _REGISTERED_SHARE)
        works += cut[:n]
        distractors += cut[n:]
    return works, distractors


def _load(path: Path) -> Image.Image:
    with Image.open(path) as img:
        return img.convert("RGB")


def _save(items: list[tuple[str, Image.Image]], folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, img in items:
        path = folder / f"{name}.png"
        if not path.exists():
            img.save(path, format="PNG")
        paths.append(path)
    return paths


def build(seed: int, tset: TransformSet = ISSUE_TRANSFORMS) -> tuple[Corpus, list[Query]]:
    """The clip-art works of the seed's corpus plus the photo works, and the queries rendered with
    every transform of ``tset``."""
    works, distractors = photo_windows({path.stem: _load(path) for path in sources.photo_files()})
    root = sources.cache_root() / "photos_full"
    work_paths = _save(works, root / "works")
    distractor_paths = _save(distractors, root / "distractors")
    photo_works = [
        Work(FIRST_KEY + i, f"photo_full/{p.stem}", "photo", str(p), False) for i, p in enumerate(work_paths)
    ]
    photo_distractors = [Work(-1, f"photo_full/{p.stem}", "photo", str(p), False) for p in distractor_paths]
    clip_art = [w for w in build_corpus(2000, 400, seed).refs if w.corpus == "clipart"]
    corpus = Corpus(refs=clip_art + photo_works, distractors=photo_distractors)

    # The issue's set keeps its old cache folder.
    folder = f"s{seed}" if tset is ISSUE_TRANSFORMS else f"s{seed}_{tset.module.rsplit('.', 1)[-1]}"
    queries = every_transform(photo_works + photo_distractors, tset, seed, root / folder)
    return corpus, queries


def run(seed: int, unseen: bool = False) -> dict:
    t_start = time.perf_counter()
    tset = UNSEEN_SET if unseen else ISSUE_TRANSFORMS
    corpus, queries = build(seed, tset)
    photos = sum(w.key >= FIRST_KEY for w in corpus.refs)
    print(
        f"[photos] {photos} photographs among {len(corpus.refs)} works, {len(corpus.distractors)} "
        f"photographs as distractors, {len(queries)} queries",
        file=sys.stderr,
        flush=True,
    )
    # Read by ``report.markdown``: every photograph is queried, and they are not tiles.
    config = {"seed": seed, "per_transform": photos, "photos": "full-size photographs"}
    return evaluate_set(corpus, queries, tset, config, t_start)


def main(argv: list[str] | None = None) -> int:
    return report.transform_set_main(
        argv, name="photos", doc=__doc__, run=run, results=RESULTS, unseen_results=UNSEEN_RESULTS,
        title="Full-size photographs",
    )  # fmt: skip


if __name__ == "__main__":
    raise SystemExit(main())
