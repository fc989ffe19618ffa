"""Scan throughput: listings/s over local files, on local pools and Dask LocalClusters of 1 and 2 workers.

    .venv/bin/python -m benchmarks.scan [--listings 10000] [--works 50]

The feed shows a few hundred distinct pictures (copies of registered synthetic artworks and
unrelated ones), each line in a file of its own whose bytes differ only by a JPEG comment naming
the listing: the pixels repeat, the bytes never do, so workers (which analyse a repeated file's
bytes once) do the full work for every line. A last row scans the pictures' own files, repeated
line after line, to show what that reuse saves; it is not the throughput figure. Each run is a
fresh scan (a new feed path). Peak memory is the largest resident set seen (sampled every 0.2 s)
of the parent and of the biggest worker process. Prints a Markdown table.

The machine's speed varies from hour to hour (the same code measured 108 and 66 listings/s a day
apart), so the table ends with the baselines the guide compares against, on the same files
in the same run: a pHash-only and a PDQ-with-8-turns-only lookup (decode, hash, compare with the
works' hashes) in one process, the engine's throughput given as a ratio to each.
"""

from __future__ import annotations

import argparse
import io
import json
import random
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psutil
from PIL import Image, ImageDraw, ImageOps

from benchmarks.methods import PDQDihedral, PHash
from rights.config import Settings
from rights.registry import Registry
from workers.local_pool import LocalPool
from workers.scan import make_context, run_scan

DISTINCT_IMAGES = 200
BASELINE_LISTINGS = 1000  # enough for a stable rate; pHash alone would take ~70 s over 10,000
REPEATED = f"{DISTINCT_IMAGES} files repeated"


@dataclass
class Row:
    runner: str
    listings: int
    seconds: float
    parent_mb: float
    worker_mb: float

    @property
    def rate(self) -> float:
        return self.listings / self.seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--listings", type=int, default=10_000)
    parser.add_argument("--works", type=int, default=50, help="registered works")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="scan-bench-") as tmp:
        root = Path(tmp)
        settings = Settings(data=root / "data")
        images = _corpus(root / "feed", settings, args.works)
        unique = _unique_files(root / "feed", images, args.listings)
        works = sorted((root / "feed").glob("w*.png"))
        baselines = [
            _baseline(method, works, [root / "feed" / n for n in unique[:BASELINE_LISTINGS]])
            for method in (PHash(), PDQDihedral())
        ]
        rows = []
        with Registry.open(settings) as registry:
            ctx = make_context(registry)
            for name, factory, files in (
                ("local pool, 1 worker", lambda: LocalPool(ctx, 1), unique),
                ("local pool, 2 workers", lambda: LocalPool(ctx, 2), unique),
                ("Dask LocalCluster, 1 worker", lambda: _Dask(ctx, 1), unique),
                ("Dask LocalCluster, 2 workers", lambda: _Dask(ctx, 2), unique),
                (f"{REPEATED}, local pool, 2 workers", lambda: LocalPool(ctx, 2), images),
            ):
                feed = _feed(root / "feed", files, args.listings, name)
                rows.append(
                    _measure(name, factory, feed, registry, root / f"{len(rows)}.jsonl", args.listings)
                )
    print(_table(rows, args.works))
    print()
    print(_baseline_table(baselines, rows))
    return 0


def _measure(
    name: str, factory: Callable[[], object], feed: Path, registry: Registry, out: Path, n: int
) -> Row:
    sampler = _PeakRss()
    sampler.start()
    try:
        with factory() as runner:  # type: ignore[attr-defined]
            # Worker start-up (spawn, engine load) is part of a real scan, so it is inside the timing.
            started = time.perf_counter()
            run_scan(feed, registry=registry, runner=runner, out=out, progress=False)
            seconds = time.perf_counter() - started
    finally:
        sampler.stop()
    return Row(name, n, seconds, sampler.parent_mb, sampler.worker_mb)


def _baseline(method: PHash, works: list[Path], listings: list[Path]) -> tuple[str, float]:
    """``method``'s listings/s over ``listings`` in this process: decode, hash and compare."""
    method.build(list(enumerate(works)))
    started = time.perf_counter()
    for path in listings:
        method.query(path)
    return method.name, len(listings) / (time.perf_counter() - started)


class _PeakRss(threading.Thread):
    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.parent_mb = 0.0
        self.worker_mb = 0.0
        self._halt = threading.Event()

    def run(self) -> None:
        me = psutil.Process()
        while not self._halt.is_set():
            self.parent_mb = max(self.parent_mb, me.memory_info().rss / 2**20)
            for child in me.children(recursive=True):
                try:
                    self.worker_mb = max(self.worker_mb, child.memory_info().rss / 2**20)
                except psutil.Error:
                    continue
            self._halt.wait(0.2)

    def stop(self) -> None:
        self._halt.set()
        self.join()


class _Dask:
    """LocalCluster + Client + DaskRunner as one context manager."""

    def __init__(self, ctx: object, workers: int) -> None:
        self.ctx = ctx
        self.workers = workers

    def __enter__(self) -> object:
        from distributed import Client, LocalCluster

        from workers.dask_runner import DaskRunner

        self.cluster = LocalCluster(
            n_workers=self.workers, threads_per_worker=1, processes=True, dashboard_address=None
        )
        self.client = Client(self.cluster)
        self.runner = DaskRunner(self.ctx, self.client)  # type: ignore[arg-type]
        return self.runner

    def __exit__(self, *exc: object) -> None:
        self.runner.close()
        self.client.close()
        self.cluster.close()


def _corpus(folder: Path, settings: Settings, works: int) -> list[str]:
    folder.mkdir(parents=True)
    rng = random.Random(7)
    names = []
    with Registry.open(settings) as registry:
        arts = [_artwork(seed) for seed in range(works)]
        for seed, art in enumerate(arts):
            png = _png(art)
            registry.register("bench", png, title=f"work {seed}")
            (folder / f"w{seed}.png").write_bytes(png)  # for the baselines' reference hashes
        for k in range(DISTINCT_IMAGES):
            if k % 2:  # half copies of registered works, half unrelated art
                img = arts[rng.randrange(works)]
                img = (
                    ImageOps.mirror(img)
                    if k % 3 == 0
                    else img.crop((20, 20, img.width - 30, img.height - 10))
                )
            else:
                img = _artwork(10_000 + k)
            name = f"l{k}.jpg"
            img.save(folder / name, "JPEG", quality=80)
            names.append(name)
    return names


def _unique_files(folder: Path, images: list[str], n: int) -> list[str]:
    """``n`` files cycling through ``images``, each made unique by a JPEG comment (pixels unchanged)."""
    bases = [(folder / name).read_bytes() for name in images]
    names = []
    for i in range(n):
        base = bases[i % len(bases)]
        comment = f"listing {i}".encode()
        # COM segment right after SOI; its length counts its own two bytes.
        data = base[:2] + b"\xff\xfe" + (len(comment) + 2).to_bytes(2, "big") + comment + base[2:]
        name = f"u{i}.jpg"
        (folder / name).write_bytes(data)
        names.append(name)
    return names


def _feed(folder: Path, images: list[str], n: int, label: str) -> Path:
    path = folder / f"feed-{abs(hash(label)) % 10**8}.jsonl"
    with open(path, "w", encoding="utf-8") as fh:
        for i in range(n):
            fh.write(
                json.dumps({"listing_id": f"L{i}", "platform": "bench", "image": images[i % len(images)]})
                + "\n"
            )
    return path


def _artwork(seed: int) -> Image.Image:
    rng = random.Random(seed)
    img = Image.new("RGB", (480, 360), tuple(rng.randrange(256) for _ in range(3)))
    draw = ImageDraw.Draw(img)
    for _ in range(50):
        x, y = rng.randrange(480), rng.randrange(360)
        box = (x, y, x + rng.randrange(10, 160), y + rng.randrange(10, 120))
        colour = tuple(rng.randrange(256) for _ in range(3))
        (draw.rectangle if rng.random() < 0.5 else draw.ellipse)(box, fill=colour, outline=(0, 0, 0))
    return img


def _png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def _table(rows: list[Row], works: int) -> str:
    base = rows[0].rate
    lines = [
        f"Scan of {rows[0].listings} local listings against {works} registered works "
        f"({psutil.cpu_count()} CPUs; worker start-up included)",
        "",
        "| runner | listings/s | vs local, 1 worker | vs same runner, 1 worker | seconds "
        "| peak RSS parent (MiB) | peak RSS per worker (MiB) |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    singles = {r.runner.split(",")[0]: r.rate for r in rows if r.runner.endswith(" 1 worker")}
    for r in rows:
        same = singles.get(r.runner.split(",")[0], singles["local pool"])
        cells = [
            r.runner,
            f"{r.rate:.1f}",
            f"{r.rate / base:.2f}x",
            f"{r.rate / same:.2f}x",
            f"{r.seconds:.1f}",
        ]
        cells += [f"{r.parent_mb:.0f}", f"{r.worker_mb:.0f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _baseline_table(baselines: list[tuple[str, float]], rows: list[Row]) -> str:
    engine = {r.runner: r.rate for r in rows}
    one, two = engine["local pool, 1 worker"], engine["local pool, 2 workers"]
    lines = [
        f"Baselines on the first {BASELINE_LISTINGS} of the same files, one process, no worker start-up",
        "",
        "| baseline | listings/s | local pool, 1 worker vs it | local pool, 2 workers vs it |",
        "|---|---:|---:|---:|",
    ]
    for name, rate in baselines:
        lines.append(f"| {name} alone | {rate:.1f} | {one / rate:.2f}x | {two / rate:.2f}x |")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
