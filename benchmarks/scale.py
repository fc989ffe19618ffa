"""Query latency and memory at scale: real queries against real works plus synthetic filler.

`python -m benchmarks.scale [--works 2000 100000] [--refs 300] [--per-transform 4]
[--filler pool|copies] [--pool 2000] [--flip S] [--threads 1] [--features N] [--no-exclusive]`

Each index is built here, saved, and then loaded and queried in a fresh process, as a server
would: the latency and memory columns are that process's (building leaves freed memory behind).

Filler works are made from real ORB descriptors and PDQ hashes with some of their bits flipped at
random (``--flip``). Uniform random bits would leave the IVF lists unnaturally even and far from
real queries, which flatters the index. The real refs stay in the index, so the table also shows
whether the true work is still found at that size.

Where the real descriptors come from (``--filler``):
- ``pool`` (default): ``--pool`` other corpus works that are never queried, each copied
  works/pool times with 5 % of the bits flipped (~13 bits, a re-encode's worth). The queried works
  are then ordinary members of a registry whose descriptors follow real art, and the lists the
  queries probe hold ~2,800 codes per descriptor at 10k works, as on the 2,000 real works.
- ``copies``: the queried refs themselves, 35 % flipped (~90 bits; 15 % left every filler within
  the engine's match distance of its source, a registry of forgeries). So many noisy vectors
  crowd the lists real queries land in (~19,000 codes per descriptor at 10k works): an
  adversarial worst case, kept for comparison with earlier figures. Pool works flipped 35 % crowd
  the lists the same way, so it is the noise, not the choice of works.
"""

from __future__ import annotations

import argparse
import gc
import itertools
import json
import multiprocessing as mp
import os
import pickle
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from tqdm import tqdm

from benchmarks.corpus import Work, build_corpus
from benchmarks.queries import build_queries
from indexes import Engine, Fingerprint, copy_embedding, fingerprint
from indexes import engine as engine_module
from indexes.local_features import LocalFeatures

_FLIP = {"pool": 0.05, "copies": 0.35}
# Per-component noise on a unit copy descriptor: ~0.33 in all, a cosine of ~0.95 to its source.
_NUDGE = 0.029
_SEED = 7


def _rss_mib(field: str = "VmRSS") -> float:
    """This process's resident memory (``VmHWM``: its peak; per process image, unlike
    ``ru_maxrss``, which Linux carries over from the parent through fork and exec)."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


class _Flips:
    """Random bit flips at a given share, drawn from a bank of precomputed masks: flipping each
    bit of a million works' descriptors one random draw at a time took longer than the build."""

    def __init__(self, rng: np.random.Generator, share: float, rows: int = 1 << 18) -> None:
        self.rng = rng
        self.bank = np.packbits(rng.random((rows, 256)) < share, axis=1)
        self._picks = np.zeros(0, np.int64)  # bank rows drawn ahead, in blocks (a draw per call was slow)

    def __call__(self, arr: np.ndarray) -> np.ndarray:
        if len(self._picks) < len(arr):
            self._picks = self.rng.integers(0, len(self.bank), max(1 << 20, len(arr)))
        rows, self._picks = self._picks[: len(arr)], self._picks[len(arr) :]
        return arr ^ self.bank[rows][:, : arr.shape[1]]


class _Nudges:
    """Copy descriptors moved by random noise to a cosine of ~0.95 with their source, as a
    re-encode moves them: a million copies of 2,000 descriptors would otherwise tie exactly."""

    def __init__(self, rng: np.random.Generator, rows: int = 1 << 16) -> None:
        self.rng = rng
        self.bank = rng.normal(0.0, _NUDGE, (rows, copy_embedding.DIMENSIONS)).astype(np.float32)

    def __call__(self, embedding: np.ndarray) -> np.ndarray:
        if len(embedding) != copy_embedding.DIMENSIONS:  # a source fingerprinted without one
            return embedding
        moved = embedding / 127.0 + self.bank[self.rng.integers(len(self.bank))]
        moved *= 127.0 / np.linalg.norm(moved)
        return np.clip(np.rint(moved), -127, 127).astype(np.int8)

    def views(self, views: np.ndarray) -> np.ndarray:
        """Each crop descriptor of a work moved as ``__call__`` moves one."""
        return np.stack([self(v) for v in views]) if len(views) else views


def _filler(
    sources: list[Fingerprint], count: int, first_key: int, share: float, features: int | None = None
) -> Iterator[tuple[int, Fingerprint]]:
    """``count`` synthetic works, made lazily (a million at once would not fit in memory), with
    at most ``features`` ORB features each (the engine indexes no more than its budget)."""
    flip = _Flips(np.random.default_rng(_SEED), share)
    nudge = _Nudges(np.random.default_rng(_SEED + 1))
    for i in range(count):
        base = sources[i % len(sources)]
        kept = base.local if features is None else base.local.head(features)
        pdq = base.pdq.copy()
        pdq[:, 0, :] = flip(base.pdq[:, 0, :])
        yield (
            first_key + i,
            Fingerprint(
                sha256=f"{first_key + i:064x}",
                size=base.size,
                working_size=base.working_size,
                pdq=pdq,
                pdq_quality=base.pdq_quality,
                regions=flip(base.regions) if len(base.regions) else base.regions,
                phash=base.phash,
                local=LocalFeatures(kept.points, flip(kept.descriptors)),
                mirrored=base.mirrored,
                edge_density=base.edge_density,
                appearance=base.appearance,
                embedding=nudge(base.embedding),
                views=nudge.views(base.views),
                # Its source's: pixels are not nudged, but every work keeps one (the mapped file).
                lightness=base.lightness,
            ),
        )


def _reference(path: str) -> bytes:
    # Serialised: a fresh fingerprint also carries its 196 KB thumbnail, which only queries use.
    return fingerprint(path, role="reference").to_bytes()


def _fingerprint_all(paths: list[str], label: str) -> list[Fingerprint]:
    with mp.get_context("spawn").Pool(2) as pool:
        it = pool.imap(_reference, paths, chunksize=8)
        return [Fingerprint.from_bytes(b) for b in tqdm(it, total=len(paths), desc=label, file=sys.stderr)]


def _pool_paths(refs: list[Work], size: int) -> list[str]:
    """``size`` corpus works other than ``refs``, chosen by the same de-duplicated selection."""
    taken = {w.name for w in refs}
    bigger = build_corpus(len(refs) + size, 0, 0)
    return [w.path for w in bigger.refs if w.name not in taken][:size]


def run(
    works: list[int],
    n_refs: int,
    per_transform: int,
    filler_from: str = "pool",
    pool_size: int = 2000,
    flip: float | None = None,
    threads: int = 1,
    features: int | None = None,
    exclusive: bool = True,
) -> list[dict]:
    flip = _FLIP[filler_from] if flip is None else flip
    corpus = build_corpus(n_refs, 0, 0)
    queries = [q for q in build_queries(corpus, per_transform, 0) if q.truth is not None]
    print(f"[scale] fingerprinting {len(corpus.refs)} refs and {len(queries)} queries", file=sys.stderr)
    refs = _fingerprint_all([w.path for w in corpus.refs], "refs")
    probes = [(q.truth, fingerprint(q.path)) for q in tqdm(queries, desc="queries", file=sys.stderr)]
    sources = (
        refs if filler_from == "copies" else _fingerprint_all(_pool_paths(corpus.refs, pool_size), "pool")
    )
    rows = []
    with tempfile.TemporaryDirectory(prefix="scale-") as tmp:
        probe_file = Path(tmp) / "probes.pkl"
        probe_file.write_bytes(pickle.dumps(probes))
        for total in works:
            gc.collect()
            index_dir = Path(tmp) / f"index-{total}"
            # Built with every core (as an operator would rebuild); searched with ``threads``.
            engine = Engine(
                index_dir,
                threads=os.cpu_count() or 1,
                features_per_work=features,
                exclusive_placements=exclusive,
            )
            t0 = time.perf_counter()
            filler = max(0, total - len(refs))
            items = itertools.chain(
                enumerate(refs), _filler(sources, filler, len(refs), flip, engine.features_per_work)
            )
            engine.rebuild(tqdm(items, total=total, desc=f"build {total:,}", file=sys.stderr, mininterval=10))
            build_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            engine.save()
            save_s = time.perf_counter() - t0
            descriptors, kind, budget = len(engine._local), engine._local.kind, engine.features_per_work
            del engine
            gc.collect()
            served = _serve_in_subprocess(index_dir, probe_file, threads, exclusive)
            shutil.rmtree(index_dir)
            rows.append(
                {
                    "works": total,
                    "filler": filler_from,
                    "flip": flip,
                    "threads": threads,
                    "features_per_work": budget,
                    "exclusive_placements": exclusive,
                    "descriptors": descriptors,
                    "index": kind,
                    "build_s": round(build_s, 1),
                    "save_s": round(save_s, 1),
                    "build_peak_rss_mib": round(_rss_mib("VmHWM")),
                    **served,
                }
            )
            print(f"[scale] {rows[-1]}", file=sys.stderr)
    return rows


def _serve_in_subprocess(index_dir: Path, probe_file: Path, threads: int, exclusive: bool) -> dict:
    """Load the saved index in a fresh process, as a server would, and time the real queries
    there: its memory is then the index as loaded, not what building it left behind."""
    cmd = [sys.executable, "-m", "benchmarks.scale", "--serve", str(index_dir), str(probe_file)]
    cmd += ["--threads", str(threads)] + ([] if exclusive else ["--no-exclusive"])
    out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def serve(index_dir: Path, probe_file: Path, threads: int, exclusive: bool = True) -> dict:
    """Load ``index_dir`` and run every probe: latency, recall and this process's memory."""
    probes: list[tuple[int, Fingerprint]] = pickle.loads(probe_file.read_bytes())
    baseline = _rss_mib()
    t0 = time.perf_counter()
    engine = Engine(index_dir, threads=threads, exclusive_placements=exclusive)
    load_s = time.perf_counter() - t0
    loaded = _rss_mib()
    lat, hits = [], 0
    pdq_ms, orb_ms, scanned, learned_ms = [], [], [], []
    for truth, fp in probes:
        t = time.perf_counter()
        found = engine.search(fp, limit=10)
        lat.append((time.perf_counter() - t) * 1000)
        hits += bool(found) and found[0].key == truth and found[0].verdict == "match"
        # Where the time goes: the PDQ stage and the ORB FAISS query alone, timed again
        # outside the search above (the rest of a search is voting and RANSAC).
        t = time.perf_counter()
        engine._near(fp, {})
        pdq_ms.append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        engine._local.search(fp.local.descriptors, 3)
        orb_ms.append((time.perf_counter() - t) * 1000)
        scanned.append(engine._local.probed_codes(fp.local.descriptors))
        if fp.thumbnail is not None:  # the copy descriptor's flat scan, then the crops compared
            query = copy_embedding.embed(fp.thumbnail)
            t = time.perf_counter()
            keys, sims = engine._embeddings.nearest(query, engine_module._VIEW_CANDIDATES)
            engine._nearest_by_views(query, keys, sims, 0.0)
            learned_ms.append((time.perf_counter() - t) * 1000)
    return {
        "load_s": round(load_s, 1),
        "p50_ms": round(statistics.median(lat), 2),
        "p99_ms": round(float(np.percentile(lat, 99)), 2),
        "recall_at_match": round(hits / len(probes), 3),
        "pdq_p50_ms": round(statistics.median(pdq_ms), 2),
        "orb_faiss_p50_ms": round(statistics.median(orb_ms), 2),
        "codes_per_descriptor_p50": round(statistics.median(scanned)),
        "descriptor_scan_p50_ms": round(statistics.median(learned_ms), 2) if learned_ms else None,
        "descriptors_indexed": len(engine._embeddings),
        "index_rss_mib": round(loaded - baseline),
        "serving_peak_rss_mib": round(_rss_mib("VmHWM")),
    }


def table(rows: list[dict]) -> str:
    head = (
        "| works | features per work | descriptors | index | build s | search p50 ms | search p99 ms "
        "| recall@match | index MiB (loaded) | serving peak RSS MiB | build peak RSS MiB | load s "
        "| PDQ stage p50 ms | ORB FAISS p50 ms | codes in probed lists per descriptor "
        "| copy descriptors | their scan and crops p50 ms |"
    )
    lines = [head, "|" + "---|" * 17]
    for r in rows:
        lines.append(
            f"| {r['works']:,} | {r['features_per_work']} | {r['descriptors']:,} | {r['index']} | "
            f"{r['build_s']} | {r['p50_ms']} | {r['p99_ms']} | {r['recall_at_match']} | "
            f"{r['index_rss_mib']:,} | {r['serving_peak_rss_mib']:,} | {r['build_peak_rss_mib']:,} | "
            f"{r['load_s']} | {r['pdq_p50_ms']} | {r['orb_faiss_p50_ms']} | "
            f"{r['codes_per_descriptor_p50']:,} | {r.get('descriptors_indexed', 0):,} | "
            f"{r.get('descriptor_scan_p50_ms')} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.scale")
    parser.add_argument("--works", type=int, nargs="+", default=[2000, 100_000])
    parser.add_argument("--refs", type=int, default=300)
    parser.add_argument("--per-transform", type=int, default=4)
    parser.add_argument("--filler", choices=("pool", "copies"), default="pool")
    parser.add_argument(
        "--pool",
        type=int,
        default=2000,
        help="never-queried works the pool filler is made from (the corpus has ~2,900 besides the refs)",
    )
    parser.add_argument("--flip", type=float, help="share of filler bits flipped (pool 0.05, copies 0.35)")
    parser.add_argument("--threads", type=int, default=1, help="FAISS threads per search")
    parser.add_argument(
        "--features", type=int, help="ORB features indexed per work (Engine features_per_work; default 384)"
    )
    parser.add_argument(
        "--no-exclusive",
        action="store_true",
        help="keep no descriptors per work (Engine exclusive_placements=False): 32 bytes less per feature",
    )
    parser.add_argument("--serve", nargs=2, metavar=("INDEX_DIR", "PROBES"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:  # the measuring subprocess
        print(
            json.dumps(serve(Path(args.serve[0]), Path(args.serve[1]), args.threads, not args.no_exclusive))
        )
        return 0
    a = args
    rows = run(
        a.works, a.refs, a.per_transform, a.filler, a.pool, a.flip, a.threads, a.features, not a.no_exclusive
    )
    setting = f"{args.threads} FAISS thread(s), real queries, {args.filler} filler works"
    print(f"### Search latency at scale ({setting})\n")
    print(table(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
