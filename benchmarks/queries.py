"""Render the query set to files: transformed refs plus transformed distractors."""

from __future__ import annotations

import hashlib
import importlib
import json
import multiprocessing as mp
import random
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

from tqdm import tqdm

from benchmarks import imaging, sources, transforms
from benchmarks.corpus import Corpus, Work

MILD = [t for t in transforms.TRANSFORMS if t.family == "mild"]
PHOTO_QUERY_SHARE = 0.25  # photos are 15 % of refs; oversample them so per-corpus numbers are stable


@dataclass(frozen=True)
class Query:
    qid: int
    path: str
    transform: str
    family: str
    corpus: str
    truth: int | None  # ref key, None for distractors


def pick_query_refs(refs: list[Work], per_transform: int, seed: int) -> list[Work]:
    """The refs queried under every transform, stratified so photos get a fair share."""
    rng = random.Random(f"{seed}:query-refs")
    photos = [w for w in refs if w.corpus == "photo"]
    clips = [w for w in refs if w.corpus != "photo"]
    n_photo = min(len(photos), round(per_transform * PHOTO_QUERY_SHARE))
    n_clip = min(len(clips), per_transform - n_photo)
    return sorted(rng.sample(photos, n_photo) + rng.sample(clips, n_clip), key=lambda w: w.key)


@dataclass(frozen=True)
class TransformSet:
    """The transforms a query set is rendered with: ``module`` provides ``BY_NAME`` and ``apply``."""

    module: str
    transforms: list[transforms.Transform]
    distractor_transforms: list[transforms.Transform]
    jpeg_families: tuple[str, ...]  # families saved as JPEG (the rest as PNG, except ``jpeg``)


ISSUE_TRANSFORMS = TransformSet("benchmarks.transforms", transforms.TRANSFORMS, MILD, ("composite",))


def render(job: tuple[str, str, str, int, str, str]) -> None:
    """Write one query file: (source, work name, transform, seed, output, transforms module).
    A file already there is kept, so an interrupted run resumes."""
    src, name, tname, seed, out, module_name = job
    if Path(out).exists():
        return
    module = importlib.import_module(module_name)
    img, quality = module.apply(imaging.load_path(Path(src)), name, module.BY_NAME[tname], seed)
    tmp = Path(out + ".tmp")
    if quality is None:
        img.save(tmp, format="PNG", compress_level=1)
    else:
        img.save(tmp, format="JPEG", quality=quality)
    tmp.replace(out)


def build_queries(
    corpus: Corpus, per_transform: int, seed: int, tset: TransformSet = ISSUE_TRANSFORMS
) -> list[Query]:
    """Render (or reuse) the query files; returns them with their ground truth."""
    # editing the transforms' module invalidates the cached queries
    code = Path(transforms.__file__).read_bytes()
    spec = [seed, per_transform, [w.name for w in corpus.refs], [w.name for w in corpus.distractors]]
    if tset.module != ISSUE_TRANSFORMS.module:  # the issue set keeps its old cache folders
        code += Path(importlib.import_module(tset.module).__file__ or "").read_bytes()
        spec.append(tset.module)
    tag = hashlib.sha256(json.dumps(spec).encode() + code).hexdigest()[:12]
    root = sources.cache_root() / "queries" / tag
    manifest = root / "queries.json"
    if manifest.exists():
        # Each file is found again under this cache folder (see ``corpus.build_corpus``).
        return [Query(**{**q, "path": str(root / Path(q["path"]).parent.name / Path(q["path"]).name)})
                for q in json.loads(manifest.read_text())]  # fmt: skip

    queries: list[Query] = []
    jobs: list[tuple[str, str, str, int, str, str]] = []

    def add(work: Work, t: transforms.Transform, truth: int | None) -> None:
        kind = "ref" if truth is not None else "dis"
        out = root / t.name / f"{kind}_{hash_name(work.name)}{_suffix(t, tset)}"
        queries.append(Query(len(queries), str(out), t.name, t.family, work.corpus, truth))
        jobs.append((work.path, work.name, t.name, seed, str(out), tset.module))

    for t in tset.transforms:
        (root / t.name).mkdir(parents=True, exist_ok=True)
        for w in pick_query_refs(corpus.refs, per_transform, seed):
            add(w, t, w.key)
    for w in corpus.distractors:
        add(w, random.Random(f"{seed}:{w.name}:distractor").choice(tset.distractor_transforms), None)

    _render_all(jobs)
    manifest.write_text(json.dumps([asdict(q) for q in queries]))
    return queries


def every_transform(works: list[Work], tset: TransformSet, seed: int, folder: Path) -> list[Query]:
    """Every work and every distractor (key -1) of ``works`` rendered (or reused) under each
    transform of ``tset``, as ``folder/<transform>/{ref,dis}_<file stem>``; the queries carry
    each work's corpus."""
    queries: list[Query] = []
    jobs: list[tuple[str, str, str, int, str, str]] = []
    for work in works:
        for t in tset.transforms:
            kind = "ref" if work.key >= 0 else "dis"
            out = folder / t.name / f"{kind}_{Path(work.path).stem}{_suffix(t, tset)}"
            out.parent.mkdir(parents=True, exist_ok=True)
            truth = work.key if work.key >= 0 else None
            queries.append(Query(len(queries), str(out), t.name, t.family, work.corpus, truth))
            jobs.append((work.path, work.name, t.name, seed, str(out), tset.module))
    _render_all(jobs)
    return queries


def _suffix(t: transforms.Transform, tset: TransformSet) -> str:
    # must agree with the transform returning a JPEG quality (see transforms.py)
    return ".jpg" if t.family in tset.jpeg_families or t.name == "jpeg" else ".png"


def _render_all(jobs: list[tuple[str, str, str, int, str, str]]) -> None:
    with mp.get_context("spawn").Pool(2) as pool:
        for _ in tqdm(pool.imap_unordered(render, jobs, chunksize=8), total=len(jobs), desc="queries",
                      file=sys.stderr, leave=False):  # fmt: skip
            pass


def hash_name(name: str) -> int:
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:6], "big")
