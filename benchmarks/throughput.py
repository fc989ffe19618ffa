"""Hashing throughput on ~1 MP JPEGs and query latency percentiles."""

from __future__ import annotations

import io
import multiprocessing as mp
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

from benchmarks import imaging, sources, transforms
from benchmarks.corpus import Work

TARGET_PIXELS = 1_000_000


def one_megapixel_jpegs(refs: list[Work], n: int, seed: int) -> list[bytes]:
    """JPEG (q90) versions of the first n refs resized to ~1 MP, cached on disk."""
    out_dir = sources.cache_root() / "throughput" / f"s{seed}"
    out_dir.mkdir(parents=True, exist_ok=True)
    blobs = []
    for w in refs[:n]:
        out = out_dir / f"{w.key}.jpg"
        if not out.exists():
            img = imaging.flatten(imaging.load_path(Path(w.path)), transforms.background_for(w.name, seed))
            f = (TARGET_PIXELS / (img.width * img.height)) ** 0.5
            img = img.resize(
                (max(1, round(img.width * f)), max(1, round(img.height * f))), Image.Resampling.BICUBIC
            )
            buf = io.BytesIO()
            img.save(buf, format="JPEG", quality=90)
            out.write_bytes(buf.getvalue())
        blobs.append(out.read_bytes())
    return blobs


def _phash_bytes(data: bytes) -> None:
    imaging.phash_bits(imaging.flatten(imaging.load_bytes(data)))


def _pdq_bytes(data: bytes) -> None:
    imaging.pdq_bits(imaging.flatten(imaging.load_bytes(data)))


def _engine_fp(data: bytes) -> int:
    from indexes import fingerprint

    fingerprint(data)
    return 1


def _engine_fp_mirrored(data: bytes) -> int:
    """Also describe the mirrored query, which a search only asks for when the unmirrored one
    found no match: the cost of a query no step before the mirrored one matches."""
    from indexes import fingerprint

    return len(fingerprint(data).mirrored)


def images_per_second(fn: Callable[[bytes], object], blobs: list[bytes]) -> float:
    fn(blobs[0])  # warm caches / lazy imports outside the timing
    t0 = time.perf_counter()
    for b in blobs:
        fn(b)
    return len(blobs) / (time.perf_counter() - t0)


def _pin_threads() -> None:
    from indexes import one_image_thread

    one_image_thread()  # as the product's scan workers and API server do


def pool_images_per_second(fn: Callable[[bytes], object], blobs: list[bytes], processes: int = 2) -> float:
    """Throughput with a spawn pool; pool start-up and worker imports are excluded."""
    with mp.get_context("spawn").Pool(processes, initializer=_pin_threads) as pool:
        pool.map(fn, blobs[:processes], chunksize=1)
        t0 = time.perf_counter()
        pool.map(fn, blobs, chunksize=4)
        return len(blobs) / (time.perf_counter() - t0)


def hashing_throughput(blobs: list[bytes], engine: bool) -> dict[str, float]:
    res = {
        "phash_single": images_per_second(_phash_bytes, blobs),
        "pdq_single": images_per_second(_pdq_bytes, blobs),
    }
    if engine:
        res["engine_fingerprint_single"] = images_per_second(_engine_fp, blobs)
        res["engine_fingerprint_pool2"] = pool_images_per_second(_engine_fp, blobs)
        res["engine_fingerprint_with_mirrored_single"] = images_per_second(_engine_fp_mirrored, blobs)
        res["engine_fingerprint_with_mirrored_pool2"] = pool_images_per_second(_engine_fp_mirrored, blobs)
    return res


def percentiles_ms(seconds: list[float]) -> dict[str, float]:
    if not seconds:
        return {"p50_ms": float("nan"), "p99_ms": float("nan"), "mean_ms": float("nan")}
    arr = np.asarray(seconds) * 1000
    return {
        "p50_ms": float(np.percentile(arr, 50)),
        "p99_ms": float(np.percentile(arr, 99)),
        "mean_ms": float(statistics.fmean(arr)),
    }
