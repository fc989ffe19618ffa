"""Flat vs IVF search cost for the ORB index, by index size: where the flat limit should sit.

    .venv/bin/python -m benchmarks.flat_vs_ivf [--sizes 4000 16000 32000 60000]

Indexed vectors are the ORB descriptors of the committed sample works, repeated with 20 % of
their bits flipped to reach each size; queries are the descriptors of 20 sample listings
(~450 each, as a real query). One thread. Prints a Markdown table: ms per query for a flat
index and for the IVF the engine builds at that size, and how often IVF's nearest neighbour
is the flat one's (ties between near-identical fillers count as misses, so it is a floor).
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import faiss
import numpy as np

from indexes import fingerprint
from indexes.binary_index import BinaryIndex

SAMPLES = Path(__file__).resolve().parent.parent / "samples"


def _descriptors(paths: list[Path], role: str) -> list[np.ndarray]:
    return [fingerprint(p, role=role).local.descriptors for p in paths]


def _filled(base: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    parts, have = [], 0
    while have < n:
        parts.append(base ^ np.packbits(rng.random((len(base), 256)) < 0.2, axis=1))
        have += len(base)
    return np.concatenate(parts)[:n]


def _ms_per_query(index: BinaryIndex, queries: list[np.ndarray]) -> float:
    times = []
    for q in queries:
        t = time.perf_counter()
        index.search(q, 3)
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.flat_vs_ivf", description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[4000, 8000, 16000, 32000, 60000])
    args = parser.parse_args(argv)
    faiss.omp_set_num_threads(1)
    base = np.concatenate(_descriptors(sorted((SAMPLES / "works").iterdir()), "reference"))
    queries = _descriptors(sorted((SAMPLES / "listings").iterdir())[:20], "query")
    rng = np.random.default_rng(7)
    print("| indexed descriptors | flat ms | IVF ms | IVF lists | lists probed | top-1 agreement |")
    print("|---:|---:|---:|---:|---:|---:|")
    for n in args.sizes:
        vectors, ids = _filled(base, n, rng), np.arange(n, dtype=np.int64)
        flat = BinaryIndex.build(vectors, ids, flat_limit=n)
        ivf = BinaryIndex.build(vectors, ids, flat_limit=0)
        agree = total = 0
        for q in queries:
            d_flat, i_flat = flat.search(q, 1)
            _, i_ivf = ivf.search(q, 1)
            near = d_flat[:, 0] <= 64
            total += int(near.sum())
            agree += int((i_flat[near, 0] == i_ivf[near, 0]).sum())
        print(
            f"| {n:,} | {_ms_per_query(flat, queries):.1f} | {_ms_per_query(ivf, queries):.1f} | "
            f"{ivf.lists} | {ivf.probes} | {agree / max(1, total):.2f} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
