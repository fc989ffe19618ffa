"""The HTTP API under load: registrations/s, match latency and startup time of a real ``rights serve``.

`python -m benchmarks.api [--works 2000 100000] [--clients 8] [--requests 400] [--register 200]`

Every number comes from a real server: ``rights serve`` in a subprocess on 127.0.0.1 (a free port, a temporary
data directory), driven by ``--clients`` threads, each with its own ``httpx.Client``. Per index size:

* **Registration**: ``POST /v1/works`` (admin key, form field ``creator``) of distinct generated artworks
  (seeded ``random.Random``: polygons, lines and text on ~600 px canvases, PNG); every answer must be 201.
* **Startup**: the server is stopped and started again on the filled data directory; the time until
  ``/healthz`` answers is what an operator waits for after a restart with that many works.
* **Match**: ``POST /v1/match`` with copies of registered works (JPEG re-encode, crop, caption band) and
  unrelated artworks; client-measured latency, requests/s, and the server's own ``took_ms``. A prober
  thread times ``GET /healthz`` meanwhile, which shows whether matching stalls the server for others.

Sizes up to ``--http-max`` are registered entirely over HTTP. Larger ones (100k) would take hours that way,
so ``--register`` real works go over HTTP and the rest is **synthetic filler** written offline, with the
server stopped, into the ``works`` table in one transaction: fingerprints derived from the real works'
stored fingerprints by flipping 35 % of their bits (``benchmarks.scale._filler``, its ``copies`` model: the
lists real queries probe come out more crowded than with real art, a worst case for search time).
Filler rows are not in the transparency log (negative
``log_index``, so they can never collide with a real entry); nothing on the match path reads the log. The
server's startup reconciliation then indexes them from the database, exactly as it repairs an index that
is behind the database, so "startup s" at that size includes building the FAISS index.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import platform
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
from PIL import Image, ImageDraw, ImageFont

from benchmarks.scale import _FLIP, _filler
from indexes import Fingerprint
from rights import db
from rights.accounts import ensure_account
from rights.config import Settings
from rights.registry import Registry

RESULTS = Path(__file__).parent / "results" / "api.json"
HOST = "127.0.0.1"
# Sizes above this are reached with synthetic filler: over HTTP they would take hours.
DEFAULT_HTTP_MAX = 10_000
# Generous per-request timeout: a timeout would hide exactly the slow tails we want to see.
REQUEST_TIMEOUT_S = 300.0
# Startup with 100k works builds the FAISS index from the database; allow for a slow machine.
DEFAULT_STARTUP_TIMEOUT_S = 3600.0
# Requests per client sent before measuring: the first ones pay for lazy imports and cold caches.
WARMUP_PER_CLIENT = 2
# Creators the admin registers for; several, so the works are spread as on a real registry.
CREATORS = 16
FILLER_CREATOR = "bench-filler"
# Seeds of unrelated query images start here, far from any registered work's seed.
UNRELATED_SEED = 10_000_000
COPY_KINDS = ("jpeg", "crop", "caption")
HEALTH_PROBE_INTERVAL_S = 0.05


# ---------------------------------------------------------------------------------------------- images


def artwork(seed: int) -> Image.Image:
    """A distinct, busy picture from ``random.Random(seed)``: polygons, lines and text on ~600 px."""
    rng = random.Random(seed)
    w, h = rng.randrange(560, 661), rng.randrange(560, 661)
    im = Image.new("RGB", (w, h), _colour(rng))
    draw = ImageDraw.Draw(im)
    for _ in range(rng.randrange(25, 45)):
        cx, cy, r = rng.randrange(w), rng.randrange(h), rng.randrange(20, w // 3)
        pts = [
            (cx + rng.randrange(-r, r + 1), cy + rng.randrange(-r, r + 1)) for _ in range(rng.randrange(3, 8))
        ]
        draw.polygon(pts, fill=_colour(rng), outline=_colour(rng), width=rng.randrange(1, 4))
    for _ in range(rng.randrange(10, 25)):
        pts = [(rng.randrange(w), rng.randrange(h)) for _ in range(rng.randrange(2, 5))]
        draw.line(pts, fill=_colour(rng), width=rng.randrange(1, 6))
    for i in range(rng.randrange(3, 7)):
        font = ImageFont.load_default(size=rng.randrange(14, 44))
        draw.text(
            (rng.randrange(w - 120), rng.randrange(h - 40)), f"art {seed}.{i}", fill=_colour(rng), font=font
        )
    return im


def _colour(rng: random.Random) -> tuple[int, int, int]:
    return (rng.randrange(256), rng.randrange(256), rng.randrange(256))


def _encode(im: Image.Image, fmt: str, **options: Any) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **options)
    return buf.getvalue()


def artwork_png(seed: int) -> bytes:
    return _encode(artwork(seed), "PNG")


def copy_of(seed: int, kind: str) -> bytes:
    """What a pirate would upload: the work re-encoded, cropped, or with a caption band; always JPEG."""
    im = artwork(seed)
    rng = random.Random(seed * 7 + len(kind))
    if kind == "jpeg":
        im = im.resize((im.width * 4 // 5, im.height * 4 // 5))
        return _encode(im, "JPEG", quality=70)
    if kind == "crop":
        cw, ch = int(im.width * 0.7), int(im.height * 0.7)
        x, y = rng.randrange(im.width - cw), rng.randrange(im.height - ch)
        return _encode(im.crop((x, y, x + cw, y + ch)), "JPEG", quality=85)
    if kind == "caption":
        band = im.height // 6
        canvas = Image.new("RGB", (im.width, im.height + band), (255, 255, 255))
        canvas.paste(im, (0, 0))
        draw = ImageDraw.Draw(canvas)
        font = ImageFont.load_default(size=band // 2)
        draw.text(
            (10, im.height + band // 4),
            f"SALE ${rng.randrange(5, 99)}.99 free shipping",
            fill=(0, 0, 0),
            font=font,
        )
        return _encode(canvas, "JPEG", quality=85)
    raise ValueError(f"unknown copy kind {kind!r}")


@dataclass(frozen=True)
class Query:
    data: bytes
    kind: str  # one of COPY_KINDS, or "unrelated"
    expected: str | None  # work_id a copy should be found as


def build_queries(work_ids: dict[int, str], n: int, seed: int) -> list[Query]:
    """Three copies (cycling through COPY_KINDS) for every unrelated image; targets drawn at random."""
    rng = random.Random(seed)
    seeds = sorted(work_ids)
    out = []
    for i in range(n):
        if i % 4 == 3:
            out.append(
                Query(
                    _encode(artwork(UNRELATED_SEED + seed * 100_000 + i), "JPEG", quality=85),
                    "unrelated",
                    None,
                )
            )
            continue
        target = rng.choice(seeds)
        kind = COPY_KINDS[(i - i // 4) % len(COPY_KINDS)]
        out.append(Query(copy_of(target, kind), kind, work_ids[target]))
    return out


# ---------------------------------------------------------------------------------------------- server


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def _rights_command() -> list[str]:
    """The installed ``rights`` script next to this interpreter (the same venv), else on PATH."""
    script = Path(sys.executable).with_name("rights")
    if script.exists():
        return [str(script)]
    found = shutil.which("rights")
    if found is None:
        raise SystemExit(
            "benchmarks.api: the `rights` console script is not installed (run `make demo` first)"
        )
    return [found]


def create_key(data: Path, role: str, name: str) -> str:
    """A key through the CLI, as an operator would make one (it prints the key alone)."""
    out = subprocess.run(
        [*_rights_command(), "--data", str(data), "keys", "create", "--role", role, "--name", name],
        check=True,
        capture_output=True,
        text=True,
    )
    return out.stdout.strip()


class Server:
    """``rights serve`` in a subprocess; :meth:`start` returns the seconds until ``/healthz`` answered."""

    def __init__(self, data: Path, log_path: Path) -> None:
        self.data = data
        self.log_path = log_path
        self.port = _free_port()
        self.url = f"http://{HOST}:{self.port}"
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout_s: float) -> float:
        started = time.perf_counter()
        with open(self.log_path, "ab") as log:
            # Own session: a Ctrl-C on the benchmark reaches the server only through stop().
            self._proc = subprocess.Popen(
                [
                    *_rights_command(),
                    "--data",
                    str(self.data),
                    "serve",
                    "--host",
                    HOST,
                    "--port",
                    str(self.port),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = started + timeout_s
        with httpx.Client(base_url=self.url, timeout=5) as client:
            while True:
                if self._proc.poll() is not None:
                    raise RuntimeError(f"the server exited with {self._proc.returncode}:\n{self.log_tail()}")
                try:
                    if client.get("/healthz").status_code == 200:
                        return time.perf_counter() - started
                except httpx.TransportError:
                    pass  # not listening yet: uvicorn binds only after the lifespan opened the registry
                if time.perf_counter() > deadline:
                    self.stop()
                    raise RuntimeError(
                        f"the server was not healthy after {timeout_s:.0f} s:\n{self.log_tail()}"
                    )
                time.sleep(0.1)

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGINT)  # uvicorn's graceful shutdown: the lifespan closes the registry
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def log_tail(self, lines: int = 30) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


def server_log_problems(log_path: Path) -> dict[str, int]:
    """5xx answers in uvicorn's access log and tracebacks, for the whole life of one data directory."""
    text = log_path.read_text(errors="replace") if log_path.exists() else ""
    return {
        "access_5xx": len(re.findall(r'HTTP/1\.1" 5\d\d ', text)),
        "tracebacks": text.count("Traceback (most recent call last)"),
    }


# ---------------------------------------------------------------------------------------------- load


@dataclass
class Call:
    started: float  # perf_counter at send
    latency_ms: float
    status: int
    body: dict[str, Any] | None


def run_load(
    url: str, key: str, jobs: Sequence[Callable[[httpx.Client], httpx.Response]], clients: int
) -> tuple[list[Call], float]:
    """Run ``jobs`` on ``clients`` threads, one ``httpx.Client`` each; the calls in job order, and wall s."""
    local = threading.local()
    opened: list[httpx.Client] = []
    lock = threading.Lock()

    def client() -> httpx.Client:
        c: httpx.Client | None = getattr(local, "client", None)
        if c is None:
            c = httpx.Client(
                base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=REQUEST_TIMEOUT_S
            )
            local.client = c
            with lock:
                opened.append(c)
        return c

    def one(job: Callable[[httpx.Client], httpx.Response]) -> Call:
        t = time.perf_counter()
        try:
            r = job(client())
        except httpx.HTTPError as exc:  # counted, not raised: one failure must not hide the rest of the run
            print(f"[api] request failed: {exc!r}", file=sys.stderr)
            return Call(t, (time.perf_counter() - t) * 1000, 0, None)
        ms = (time.perf_counter() - t) * 1000
        try:
            body = r.json()
        except ValueError:
            body = None
        return Call(t, ms, r.status_code, body)

    t0 = time.perf_counter()
    try:
        with ThreadPoolExecutor(max_workers=clients) as pool:
            calls = list(pool.map(one, jobs))
    finally:
        for c in opened:
            c.close()
    return calls, time.perf_counter() - t0


class HealthProber:
    """Times ``GET /healthz`` every 50 ms in the background: a stalled server shows up as a slow probe."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.latencies_ms: list[float] = []
        self.failures = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> HealthProber:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        with httpx.Client(base_url=self.url, timeout=REQUEST_TIMEOUT_S) as client:
            while not self._stop.wait(HEALTH_PROBE_INTERVAL_S):
                t = time.perf_counter()
                try:
                    ok = client.get("/healthz").status_code == 200
                except httpx.HTTPError:
                    ok = False
                self.latencies_ms.append((time.perf_counter() - t) * 1000)
                self.failures += not ok


def _pct(values: Sequence[float], q: float) -> float:
    """Percentile by linear interpolation (numpy's default), without numpy."""
    if not values:
        return float("nan")
    s = sorted(values)
    pos = (len(s) - 1) * q / 100
    lo = int(pos)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


def _status_counts(calls: Sequence[Call]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for c in calls:
        counts[str(c.status)] = counts.get(str(c.status), 0) + 1
    return counts


def register_over_http(
    url: str, key: str, seeds: Sequence[int], clients: int
) -> tuple[dict[int, str], dict[str, Any]]:
    """Register the artworks of ``seeds``; returns seed → work_id and the measurements."""
    print(f"[api] generating {len(seeds)} artworks", file=sys.stderr)
    images = [artwork_png(s) for s in seeds]  # before the clock starts: the client must not compete for CPU

    def job(seed: int, image: bytes) -> Callable[[httpx.Client], httpx.Response]:
        form = {"title": f"Artwork {seed}", "creator": f"artist{seed % CREATORS}"}
        return lambda c: c.post("/v1/works", files={"image": (f"{seed}.png", image, "image/png")}, data=form)

    print(f"[api] registering {len(seeds)} works over HTTP with {clients} clients", file=sys.stderr)
    calls, wall = run_load(url, key, [job(s, im) for s, im in zip(seeds, images, strict=True)], clients)
    ok = [c for c in calls if c.status == 201 and c.body is not None]
    work_ids = {s: c.body["work_id"] for s, c in zip(seeds, calls, strict=True) if c.status == 201 and c.body}
    # Completion times show whether registration slows down as the index grows (saves rewrite it whole).
    done = sorted(c.started + c.latency_ms / 1000 for c in calls)
    quarter = max(1, len(done) // 4)
    stats = {
        "count": len(seeds),
        "ok_201": len(ok),
        "status_counts": _status_counts(calls),
        "contested": sum(c.body is not None and c.body.get("status") == "contested" for c in ok),
        "wall_s": round(wall, 2),
        "per_s": round(len(seeds) / wall, 1),
        "first_quarter_per_s": round(
            quarter / max(1e-9, done[quarter - 1] - min(c.started for c in calls)), 1
        ),
        "last_quarter_per_s": round(quarter / max(1e-9, done[-1] - done[-quarter - 1]), 1)
        if len(done) > quarter
        else None,
        "p50_ms": round(_pct([c.latency_ms for c in calls], 50), 1),
        "p99_ms": round(_pct([c.latency_ms for c in calls], 99), 1),
        "mean_png_kib": round(statistics.fmean(len(im) for im in images) / 1024, 1),
    }
    if len(ok) != len(seeds):
        bad = [c for c in calls if c.status != 201][:3]
        print(
            f"[api] WARNING: {len(seeds) - len(ok)} registrations were not 201, "
            f"e.g. {[(c.status, c.body) for c in bad]}",
            file=sys.stderr,
        )
    return work_ids, stats


def match_over_http(
    url: str, key: str, queries: Sequence[Query], clients: int, serial: Sequence[Query]
) -> dict[str, Any]:
    """Warm-up, then ``serial`` one at a time (the latency floor), then ``queries`` on ``clients`` threads."""

    def job(q: Query) -> Callable[[httpx.Client], httpx.Response]:
        return lambda c: c.post("/v1/match", files={"image": ("q.jpg", q.data, "image/jpeg")})

    warmup = queries[: clients * WARMUP_PER_CLIENT]
    queries = queries[len(warmup) :]
    run_load(url, key, [job(q) for q in warmup], clients)
    # One client alone: what a single request costs when it does not queue behind others for the CPU.
    alone, _ = run_load(url, key, [job(q) for q in serial], 1)
    print(f"[api] matching {len(queries)} queries with {clients} clients", file=sys.stderr)
    with HealthProber(url) as prober:
        calls, wall = run_load(url, key, [job(q) for q in queries], clients)
    ok = [(q, c) for q, c in zip(queries, calls, strict=True) if c.status == 200 and c.body is not None]
    copies = [(q, c) for q, c in ok if q.expected is not None]
    found = sum(
        bool(c.body and c.body["verdict"] == "match" and c.body["matches"][0]["work_id"] == q.expected)
        for q, c in copies
    )
    by_kind = {}
    for kind in COPY_KINDS:
        of_kind = [(q, c) for q, c in copies if q.kind == kind]
        if of_kind:
            hits = sum(
                bool(
                    c.body and c.body["verdict"] == "match" and c.body["matches"][0]["work_id"] == q.expected
                )
                for q, c in of_kind
            )
            by_kind[kind] = round(hits / len(of_kind), 3)
    unrelated = [c for q, c in ok if q.expected is None]
    latencies = [c.latency_ms for c in calls]
    took = [float(c.body["took_ms"]) for _, c in ok if c.body is not None]
    return {
        "count": len(queries),
        "warmup": len(warmup),
        "serial": len(serial),
        "serial_p50_ms": round(_pct([c.latency_ms for c in alone], 50), 1),
        "serial_took_p50_ms": round(
            _pct([float(c.body["took_ms"]) for c in alone if c.status == 200 and c.body], 50), 1
        ),
        "status_counts": _status_counts(calls),
        "wall_s": round(wall, 2),
        "per_s": round(len(queries) / wall, 1),
        "p50_ms": round(_pct(latencies, 50), 1),
        "p90_ms": round(_pct(latencies, 90), 1),
        "p99_ms": round(_pct(latencies, 99), 1),
        "max_ms": round(max(latencies), 1),
        "server_took_p50_ms": round(_pct(took, 50), 1),
        "server_took_p99_ms": round(_pct(took, 99), 1),
        "copies_found": round(found / len(copies), 3) if copies else None,
        "copies_found_by_kind": by_kind,
        "unrelated_false_match": sum(c.body is not None and c.body["verdict"] == "match" for c in unrelated),
        "unrelated": len(unrelated),
        "healthz_probes": len(prober.latencies_ms),
        "healthz_p50_ms": round(_pct(prober.latencies_ms, 50), 1),
        "healthz_p99_ms": round(_pct(prober.latencies_ms, 99), 1),
        "healthz_failures": prober.failures,
    }


# ---------------------------------------------------------------------------------------------- filler


def fill_synthetic(data: Path, total: int) -> dict[str, Any]:
    """Top the works table up to ``total`` live works with filler derived from the real works' fingerprints.

    The server must be stopped. One transaction, the registry's own columns; the FAISS index is left alone
    so that the server's startup reconciliation indexes the new rows from the database.
    """
    t0 = time.perf_counter()
    with Registry.open(Settings(data=data)) as registry:
        conn = registry.db
        rows = conn.execute(
            "SELECT id, fingerprint FROM works WHERE status != 'withdrawn' ORDER BY id"
        ).fetchall()
        if not rows:
            raise RuntimeError("filler needs at least one real work to derive fingerprints from")
        refs = [Fingerprint.from_bytes(bytes(r["fingerprint"])) for r in rows]
        count = total - len(rows)
        first_key = int(conn.execute("SELECT max(id) FROM works").fetchone()[0]) + 1
        now = db.utcnow()

        def values() -> Iterator[tuple[object, ...]]:
            for i, (key, fp) in enumerate(_filler(refs, count, first_key, _FLIP["copies"])):
                blob = fp.to_bytes()
                # fp_digest is Fingerprint.digest(): SHA-256 of these very bytes (computed once here).
                digest = hashlib.sha256(blob).hexdigest()
                yield (
                    key,
                    FILLER_CREATOR,
                    f"filler {key}",
                    fp.sha256,
                    blob,
                    digest,
                    "{}",
                    "registered",
                    now,
                    -key,
                )
                if i and i % 20_000 == 0:
                    print(f"[api] filler: {i:,}/{count:,} rows", file=sys.stderr)

        with registry.transaction() as tx:
            ensure_account(tx, FILLER_CREATOR, "creator")
            tx.executemany(
                "INSERT INTO works (id, creator, title, sha256, fingerprint, fp_digest, metadata, status,"
                " registered_at, log_index) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                values(),
            )
    return {"filler_rows": count, "fill_s": round(time.perf_counter() - t0, 1)}


# ---------------------------------------------------------------------------------------------- driver


def saved_index_works(data: Path) -> int:
    """How many works the persisted index holds (what a starting server loads rather than rebuilds)."""
    manifest = data / "index" / "manifest.json"
    return int(json.loads(manifest.read_text()).get("works", 0)) if manifest.exists() else 0


@dataclass
class Row:
    works: int
    registered_http: int
    synthetic: int
    registration: dict[str, Any]
    startup_s: float
    match: dict[str, Any]
    fill: dict[str, Any] = field(default_factory=dict)
    server_log: dict[str, int] = field(default_factory=dict)
    works_indexed: int = 0
    startup_loaded: int = 0  # works in the saved FAISS index the server loaded at startup
    startup_indexed_from_db: int = 0  # works its startup reconciliation added from the database


def measure(size: int, args: argparse.Namespace, root: Path) -> Row:
    prefill = size > args.http_max
    real = min(size, args.register) if prefill else size
    data = root / f"data-{size}"
    log_path = root / f"server-{size}.log"
    admin = create_key(data, "admin", "bench")
    platform_key = create_key(data, "platform", "bench-shop")
    server = Server(data, log_path)
    try:
        server.start(args.startup_timeout)
        work_ids, registration = register_over_http(server.url, admin, range(1, real + 1), args.clients)
        server.stop()
        fill = fill_synthetic(data, size) if prefill and size > real else {}
        saved = saved_index_works(data)
        if fill:
            print(f"[api] wrote {fill['filler_rows']:,} filler works in {fill['fill_s']} s", file=sys.stderr)
        print(f"[api] restarting the server with {size:,} works", file=sys.stderr)
        startup = server.start(args.startup_timeout)
        indexed = int(httpx.get(f"{server.url}/healthz", timeout=30).json()["works_indexed"])
        print(f"[api] healthy after {startup:.1f} s with {indexed:,} works indexed", file=sys.stderr)
        queries = build_queries(work_ids, args.requests + args.clients * WARMUP_PER_CLIENT, seed=size)
        serial = build_queries(work_ids, args.serial, seed=size + 1)
        matched = match_over_http(server.url, platform_key, queries, args.clients, serial)
    finally:
        server.stop()
    row = Row(
        works=size,
        registered_http=real,
        synthetic=size - real,
        registration=registration,
        startup_s=round(startup, 2),
        match=matched,
        fill=fill,
        server_log=server_log_problems(log_path),
        works_indexed=indexed,
        startup_loaded=saved,
        startup_indexed_from_db=indexed - saved,
    )
    print(f"[api] {json.dumps(asdict(row))}", file=sys.stderr)
    if not args.keep:
        shutil.rmtree(data, ignore_errors=True)
    return row


def table(rows: Sequence[Row]) -> str:
    lines = [
        "| works | registrations/s | match p50 ms | match p99 ms | matches/s | server took_ms p50 "
        "| startup s |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        reg = f"{r.registration['per_s']}"
        if r.synthetic:
            reg += f" (first {r.registered_http:,})"
        lines.append(
            f"| {r.works:,} | {reg} | {r.match['p50_ms']} | {r.match['p99_ms']} | {r.match['per_s']} | "
            f"{r.match['server_took_p50_ms']} | {r.startup_s} |"
        )
    return "\n".join(lines)


def notes(rows: Sequence[Row]) -> str:
    out = []
    for r in rows:
        m, g = r.match, r.registration
        source = f"{r.registered_http:,} registered over HTTP"
        if r.synthetic:
            source += f" + {r.synthetic:,} synthetic (written in {r.fill['fill_s']} s)"
        out += [
            f"- **{r.works:,} works** ({source})",
            f"  - registration: {g['ok_201']}/{g['count']} answered 201 ({g['contested']} contested); "
            f"{g['first_quarter_per_s']}/s in the first quarter, {g['last_quarter_per_s']}/s in the last; "
            f"latency p50 {g['p50_ms']} ms, p99 {g['p99_ms']} ms",
            f"  - startup: loaded {r.startup_loaded:,} works from the saved index, indexed "
            f"{r.startup_indexed_from_db:,} from the database, {r.startup_s} s until /healthz answered",
            f"  - match: statuses {m['status_counts']}; p90 {m['p90_ms']} ms, max {m['max_ms']} ms, "
            f"took_ms p99 {m['server_took_p99_ms']}; one client alone: p50 {m['serial_p50_ms']} ms "
            f"(took_ms {m['serial_took_p50_ms']})",
            f"  - accuracy: copies found as the right work {m['copies_found']} {m['copies_found_by_kind']}; "
            f"unrelated images called match {m['unrelated_false_match']}/{m['unrelated']}",
            f"  - /healthz while matching: p50 {m['healthz_p50_ms']} ms, p99 {m['healthz_p99_ms']} ms, "
            f"{m['healthz_failures']} failed; server log: {r.server_log['access_5xx']} 5xx, "
            f"{r.server_log['tracebacks']} tracebacks",
        ]
    return "\n".join(out)


def machine() -> dict[str, Any]:
    load = os.getloadavg()
    return {
        "cores": os.cpu_count(),
        "cpu": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "load_average_at_start": [round(x, 2) for x in load],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.api", description=(__doc__ or "").split("\n")[0]
    )
    parser.add_argument("--works", type=int, nargs="+", default=[2000, 100_000], help="index sizes")
    parser.add_argument("--clients", type=int, default=8, help="concurrent HTTP clients")
    parser.add_argument("--requests", type=int, default=400, help="match requests per index size")
    parser.add_argument(
        "--register",
        type=int,
        default=200,
        help="works registered over HTTP before synthetic filler (large sizes)",
    )
    parser.add_argument(
        "--http-max",
        type=int,
        default=DEFAULT_HTTP_MAX,
        help="sizes up to this are registered entirely over HTTP",
    )
    parser.add_argument("--serial", type=int, default=20, help="match requests sent by one client alone")
    parser.add_argument("--startup-timeout", type=float, default=DEFAULT_STARTUP_TIMEOUT_S, help="seconds")
    parser.add_argument("--out", type=Path, default=RESULTS, help="JSON results path")
    parser.add_argument("--keep", action="store_true", help="keep the data directories and server logs")
    args = parser.parse_args(argv)
    if min(args.works) < 1 or args.clients < 1 or args.requests < 1 or args.register < 1:
        parser.error("--works, --clients, --requests and --register must be positive")

    info = machine()
    root = Path(tempfile.mkdtemp(prefix="rights-bench-api-"))
    try:
        rows = [measure(size, args, root) for size in args.works]
    finally:
        if args.keep:
            print(f"[api] data directories and server logs kept in {root}", file=sys.stderr)
        else:
            shutil.rmtree(root, ignore_errors=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {
                "machine": info,
                "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
                "rows": [asdict(r) for r in rows],
            },
            indent=2,
        )
        + "\n"
    )
    print(f"### HTTP API: {args.clients} concurrent clients, `rights serve` (uvicorn) on {HOST}\n")
    print(table(rows))
    print()
    print(notes(rows))
    print(
        f"\nmachine: {info['cores']} cores ({info['cpu']}, Python {info['python']}), load average at start "
        f"{info['load_average_at_start']}; client and server share it."
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
