"""Tango icons, a corpus no threshold was chosen on, under the issue's 20 transforms.

`python -m benchmarks.icons [--seed 0] [--unseen]`

Every threshold in ``indexes/`` was chosen on openclipart and photo tiles. The issue's bar is also
checked on corpora we do not have, so this measures one we never looked at while tuning: the
Tango icon theme (Debian ``tango-icon-theme``, public domain), 213 drawings in one house style,
drawn from their SVGs at 512 px with alpha. Icons of one set share templates (documents, folders,
devices), the hardest case for false `match`es. The icons pass the corpus filters
(``corpus.keep_distinct``: no near-duplicate or sibling of a registered work or of each other);
a seeded half is registered among the seed's 2,000 works and the other half are distractors.
Every icon is queried under every transform, so distractors are queried under all 20 too (the
detection benchmark gives each one mild edit). Methods, metrics and report are the detection
benchmark's. Prints the Markdown report and writes ``benchmarks/results/icons.json``
(``icons-unseen.json`` with ``--unseen``).
"""

from __future__ import annotations

import random
import sys
import time
from pathlib import Path

from benchmarks import report, sources
from benchmarks.corpus import Corpus, Work, build_corpus, keep_distinct, norm_path
from benchmarks.detection import evaluate_set
from benchmarks.queries import ISSUE_TRANSFORMS, Query, TransformSet, every_transform
from benchmarks.unseen import UNSEEN_SET

RESULTS = Path(__file__).resolve().parent / "results" / "icons.json"
UNSEEN_RESULTS = RESULTS.with_name("icons-unseen.json")
FIRST_KEY = 200_000  # above every clip-art key and ``benchmarks.photos``' keys
SIDE = 512  # Tango's 48 px drawings, as an artist would export them for sale
_REGISTERED_SHARE = 0.5


def icon_files() -> list[tuple[str, str]]:
    """(name, PNG path) of every Tango icon, drawn once into the cache."""
    folder = sources.cache_root() / "icons" / "drawn"
    folder.mkdir(parents=True, exist_ok=True)
    svgs = sources.tango_svgs()
    out = []
    render = None
    for svg in svgs:
        name = f"icon/{svg.parent.name}/{svg.stem}"
        png = folder / f"{svg.parent.name}_{svg.stem}.png"
        if not png.exists():
            render = render or sources.svg_to_png()
            try:
                drawn = bytes(render(svg_path=str(svg), width=SIDE, height=SIDE))
            except ValueError as exc:  # resvg's error for a file it cannot draw
                print(f"[icons] skipped {svg.name}: {exc}", file=sys.stderr)
                continue
            tmp = png.with_suffix(".tmp")
            tmp.write_bytes(drawn)
            tmp.replace(png)
        out.append((name, str(png)))
    return out


def build(seed: int, tset: TransformSet = ISSUE_TRANSFORMS) -> tuple[Corpus, list[Query]]:
    """The seed's registered works plus half the distinct icons; the other half as distractors;
    every icon rendered under every transform of ``tset``."""
    refs = build_corpus(2000, 400, seed).refs
    items = icon_files()
    random.Random(f"icons:{seed}").shuffle(items)
    kept = keep_distinct(refs, items)
    n = round(len(kept) * _REGISTERED_SHARE)
    icons = [
        Work(FIRST_KEY + i if i < n else -1, name, "clipart", str(norm_path(name)), bool(rec["transparent"]))
        for i, (name, rec) in enumerate(kept)
    ]
    corpus = Corpus(refs=refs + icons[:n], distractors=icons[n:])
    folder = f"s{seed}" if tset is ISSUE_TRANSFORMS else f"s{seed}_{tset.module.rsplit('.', 1)[-1]}"
    queries = every_transform(icons, tset, seed, sources.cache_root() / "icons" / folder)
    print(
        f"[icons] {len(items)} Tango icons, {len(kept)} distinct: {n} registered among {len(refs)} works, "
        f"{len(kept) - n} distractors; {len(queries)} queries",
        file=sys.stderr,
        flush=True,
    )
    return corpus, queries


def run(seed: int, unseen: bool = False) -> dict:
    t_start = time.perf_counter()
    tset = UNSEEN_SET if unseen else ISSUE_TRANSFORMS
    corpus, queries = build(seed, tset)
    registered = sum(w.key >= FIRST_KEY for w in corpus.refs)
    config = {"seed": seed, "per_transform": registered, "photos": "photo tiles", "icons": registered}
    return evaluate_set(corpus, queries, tset, config, t_start)


def main(argv: list[str] | None = None) -> int:
    return report.transform_set_main(
        argv, name="icons", doc=__doc__, run=run, results=RESULTS, unseen_results=UNSEEN_RESULTS,
        title="Tango icons",
    )  # fmt: skip


if __name__ == "__main__":
    raise SystemExit(main())
