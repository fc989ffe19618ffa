"""Select the reference works and unregistered distractors, deduplicated.

Candidates are visited in a seeded order and kept greedily, so a kept image
is never within pHash Hamming 12 or PDQ 40 of any other kept image, nor its
sibling by the content-box hashes of ``benchmarks.siblings`` (across refs and
distractors and both corpora). Normalised copies (long side
<= 1024 px, PNG, alpha kept) and per-file hashes are cached, so later runs
with other sizes only decode new candidates. The selection is written as a
JSON manifest.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import random
import re
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from benchmarks import imaging, siblings, sources

MAX_SIDE = 1024
MIN_SIDE = 64
PHOTO_TILE = 96  # the photo sources are few and small (<= 2048 px), so each is cut into tiles
PHASH_DUP = 12
PDQ_DUP = 40
BLANK_STD = 8.0
BATCH = 64
MANIFEST_VERSION = 4
# openclipart's shapes/stars holds 1,378 generated star polygons; the many-pointed
# thin-line ones all look like the same circle yet differ by > 20 pHash bits,
# so the hash dedup cannot clean them and they poison the ground truth.
GENERATED_STARS = re.compile(r"star_\d+pt\d+step")


@dataclass(frozen=True)
class Work:
    key: int  # refs: 0..n-1; distractors: -1
    name: str  # stable id, e.g. "clipart/animals/cat_01" or "photo/coffee_r0_c2"
    corpus: str  # "clipart" | "photo"
    path: str  # normalised PNG in the cache
    transparent: bool


@dataclass(frozen=True)
class Corpus:
    refs: list[Work]
    distractors: list[Work]


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)


def norm_path(name: str) -> Path:
    """The normalised PNG of a corpus image, by its name (refs, distractors and photo tiles alike)."""
    return sources.cache_root() / "norm" / f"{_safe(name)}.png"


def _candidates(rng: random.Random) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(name, source spec) lists for photos and clip art, each in seeded order."""
    oc = sources.openclipart_dir()
    clip = [
        (f"clipart/{p.relative_to(oc).with_suffix('')}", str(p))
        for p in sorted(oc.rglob("*.png"))
        if not GENERATED_STARS.fullmatch(p.stem)
    ]
    photo: list[tuple[str, str]] = []
    for src in sorted(sources.photo_files()):
        with Image.open(src) as im:
            w, h = im.size
        for r in range(h // PHOTO_TILE):
            for c in range(w // PHOTO_TILE):
                photo.append((f"photo/{src.stem}_r{r}_c{c}", f"{src}#{r},{c}"))
    rng.shuffle(clip)
    rng.shuffle(photo)
    return photo, clip


def _open_source(spec: str) -> Image.Image | None:
    if "#" in spec:  # photo tile "path#row,col"
        path, rc = spec.split("#")
        r, c = (int(x) for x in rc.split(","))
        with Image.open(path) as im:
            box = (c * PHOTO_TILE, r * PHOTO_TILE, (c + 1) * PHOTO_TILE, (r + 1) * PHOTO_TILE)
            return im.convert("RGB").crop(box)
    im = Image.open(spec)
    if im.size[0] * im.size[1] > imaging.MAX_SOURCE_PIXELS:
        return None
    im.draft("RGB", (MAX_SIDE, MAX_SIDE))  # only JPEG honours this; PNG decodes fully
    im.load()
    if im.mode not in ("RGB", "RGBA"):
        # via RGBA: palette transparency must not be dropped (Pillow warns about it too)
        im = im.convert("RGBA")
    if im.mode == "RGBA" and not imaging.has_transparency(im):
        im = im.convert("RGB")
    im.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.LANCZOS)
    return im


def _describe(item: tuple[str, str]) -> dict | None:
    """Decode one candidate, cache its normalised PNG, return its hashes (None = unusable)."""
    name, spec = item
    try:
        img = _open_source(spec)
    except Exception:
        return None
    if img is None or min(img.size) < MIN_SIDE:
        return None
    flat = imaging.flatten(img)
    if float(np.asarray(flat.convert("L"), dtype=np.float32).std()) < BLANK_STD:
        return None
    out = norm_path(name)
    if not out.exists():
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_suffix(".tmp.png")
        img.save(tmp, optimize=False)
        tmp.replace(out)
    pdq, _quality = imaging.pdq_bits(flat)
    return {
        "phash": imaging.pack(imaging.phash_bits(flat)),
        "pdq": imaging.pack(pdq),
        "pdq_turned": [imaging.pack(bits) for bits in _turned_pdq(flat)],
        "transparent": img.mode == "RGBA",
        "siblings": siblings.sibling_hashes(img, flat),
    }


def _turned_pdq(flat: Image.Image) -> list[np.ndarray]:
    """PDQ of the 7 other rotations/mirrors, computed on real pixels (pdqhash's own dihedral
    variants are 28-48 bits off for clip art), so a rotated or mirrored twin is caught too."""
    small = flat.copy()
    small.thumbnail((256, 256))
    arr = np.asarray(small.convert("RGB"))
    variants = [np.rot90(arr, k) for k in (1, 2, 3)]
    variants += [np.rot90(arr[:, ::-1], k) for k in (0, 1, 2, 3)]
    return [imaging.pdq_bits(Image.fromarray(np.ascontiguousarray(v)))[0] for v in variants]


class _Dedup:
    """Greedy near-duplicate filter over everything kept so far."""

    def __init__(self) -> None:
        self.ph = np.zeros((0, 64), dtype=bool)
        self.pdq = np.zeros((0, 256), dtype=bool)
        self.siblings = siblings.SiblingIndex()

    def try_keep(self, rec: dict) -> bool:
        ph = imaging.unpack(rec["phash"], 64)
        pdq = imaging.unpack(rec["pdq"], 256)
        turned = [imaging.unpack(h, 256) for h in rec["pdq_turned"]]
        if len(self.ph) and (
            (self.ph != ph).sum(1).min() <= PHASH_DUP
            or min((self.pdq != h).sum(1).min() for h in [pdq, *turned]) <= PDQ_DUP
            or self.siblings.is_sibling(rec["siblings"])
        ):
            return False
        self.ph = np.vstack([self.ph, ph])
        self.pdq = np.vstack([self.pdq, pdq])
        self.siblings.add(rec["siblings"])
        return True


def _hash_cache_path() -> Path:
    # v2: + rotated/mirrored PDQ; v3: + sibling hashes
    return sources.cache_root() / "norm" / "hashes_v3.json"


def _take(
    items: list[tuple[str, str]],
    need: int,
    dedup: _Dedup,
    cache: dict,
    pool: mp.pool.Pool,
    label: str,
) -> list[tuple[str, dict]]:
    kept: list[tuple[str, dict]] = []
    bar = tqdm(total=need, desc=f"corpus {label}", file=sys.stderr, leave=False)
    pos = 0
    while len(kept) < need and pos < len(items):
        batch = items[pos : pos + BATCH]
        pos += BATCH
        todo = [it for it in batch if it[0] not in cache]
        for it, rec in zip(todo, pool.map(_describe, todo, chunksize=4), strict=True):
            cache[it[0]] = rec
        for name, _spec in batch:
            rec = cache[name]
            if rec is None or not norm_path(name).exists() or not dedup.try_keep(rec):
                continue
            kept.append((name, rec))
            bar.update(1)
            if len(kept) >= need:
                break
    bar.close()
    if len(kept) < need:
        raise RuntimeError(f"only {len(kept)} usable {label} images, {need} needed")
    return kept


def keep_distinct(refs: list[Work], items: list[tuple[str, str]]) -> list[tuple[str, dict]]:
    """The ``(name, image path)`` items, in their order, that pass the filters above against
    ``refs`` and each other: no near-duplicate, no sibling, not blank or tiny. Each kept one is
    normalised into the cache (``norm_path``) like a corpus image; returns (name, hashes)."""
    hc_path = _hash_cache_path()
    cache: dict = json.loads(hc_path.read_text()) if hc_path.exists() else {}
    dedup = _Dedup()
    for w in refs:
        rec = cache.get(w.name) or _describe((w.name, w.path))
        if rec is not None:
            dedup.try_keep(rec)
    with mp.get_context("spawn").Pool(2) as pool:
        recs = pool.map(_describe, items, chunksize=4)
    return [(name, rec) for (name, _), rec in zip(items, recs, strict=True) if rec and dedup.try_keep(rec)]


def split_counts(n_refs: int, n_distractors: int) -> dict[str, tuple[int, int]]:
    """(refs, distractors) per corpus: 15 % of refs and 20 % of distractors are photos."""
    photo_refs = max(1, round(0.15 * n_refs))
    photo_dis = max(1, round(0.20 * n_distractors))
    return {
        "photo": (photo_refs, photo_dis),
        "clipart": (n_refs - photo_refs, n_distractors - photo_dis),
    }


def build_corpus(n_refs: int, n_distractors: int, seed: int) -> Corpus:
    """Select (or load the cached manifest of) refs and distractors."""
    # v4: sibling hashes in the dedup (v3 manifests, without them, are kept for comparison)
    name = f"manifest_v{MANIFEST_VERSION}_s{seed}_r{n_refs}_d{n_distractors}.json"
    manifest = sources.cache_root() / "corpus" / name
    if manifest.exists():
        data = json.loads(manifest.read_text())
        # Paths are found again from the names: a manifest written through another checkout's
        # link to the cache, or before the cache moved, holds paths that no longer exist.
        return Corpus(
            refs=[Work(**{**w, "path": str(norm_path(w["name"]))}) for w in data["refs"]],
            distractors=[Work(**{**w, "path": str(norm_path(w["name"]))}) for w in data["distractors"]],
        )
    rng = random.Random(seed)
    photo_items, clip_items = _candidates(rng)
    hc_path = _hash_cache_path()
    cache: dict = json.loads(hc_path.read_text()) if hc_path.exists() else {}
    counts = split_counts(n_refs, n_distractors)
    dedup = _Dedup()
    chosen: dict[str, list[tuple[str, dict]]] = {}
    with mp.get_context("spawn").Pool(2) as pool:
        # photos first: they are the scarce corpus, clip art must yield to them
        chosen["photo"] = _take(photo_items, sum(counts["photo"]), dedup, cache, pool, "photo")
        chosen["clipart"] = _take(clip_items, sum(counts["clipart"]), dedup, cache, pool, "clipart")
    hc_path.parent.mkdir(parents=True, exist_ok=True)
    hc_path.write_text(json.dumps(cache))

    refs: list[Work] = []
    distractors: list[Work] = []
    for corpus in ("clipart", "photo"):
        n_ref, _n_dis = counts[corpus]
        for i, (name, rec) in enumerate(chosen[corpus]):
            w = Work(-1, name, corpus, str(norm_path(name)), bool(rec["transparent"]))
            (refs if i < n_ref else distractors).append(w)
    refs = [Work(k, w.name, w.corpus, w.path, w.transparent) for k, w in enumerate(refs)]
    result = Corpus(refs=refs, distractors=distractors)
    manifest.parent.mkdir(parents=True, exist_ok=True)
    manifest.write_text(
        json.dumps(
            {
                "seed": seed,
                "refs": [asdict(w) for w in refs],
                "distractors": [asdict(w) for w in distractors],
            },
            indent=1,
        )
    )
    return result


def more_clip_art(corpus: Corpus, seed: int) -> list[Work]:
    """Every other usable clip art, deduplicated as the corpus is: against its refs, its
    distractors and each other (``benchmarks.growth`` registers them beside the refs)."""
    hc_path = _hash_cache_path()
    cache: dict = json.loads(hc_path.read_text()) if hc_path.exists() else {}
    dedup = _Dedup()
    taken = set()
    for w in corpus.refs + corpus.distractors:
        rec = cache.get(w.name)
        if rec is None:
            raise RuntimeError(f"no cached hashes for {w.name}: build the corpus first")
        dedup.try_keep(rec)  # kept when the corpus was built; this puts it in the filter
        taken.add(w.name)
    _, clip = _candidates(random.Random(f"{seed}:more"))
    todo = [item for item in clip if item[0] not in taken and item[0] not in cache]
    if todo:
        with mp.get_context("spawn").Pool(2) as pool:
            for item, rec in zip(todo, pool.map(_describe, todo, chunksize=8), strict=True):
                cache[item[0]] = rec
        hc_path.write_text(json.dumps(cache))
    extra: list[Work] = []
    for name, _spec in clip:
        rec = cache.get(name)
        if name in taken or rec is None or not norm_path(name).exists() or not dedup.try_keep(rec):
            continue
        extra.append(Work(-1, name, "clipart", str(norm_path(name)), bool(rec["transparent"])))
    return extra
