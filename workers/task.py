"""What a scan worker process does with a chunk of listings: read or fetch, fingerprint, search.

Runs inside pool or Dask worker processes. The engine index is loaded once per process and kept in
a module-level cache keyed by the index folder and its version (:func:`engine_for`); a process pool
initializer or a Dask ``WorkerPlugin`` only warms that cache, so each task merely looks it up.

Workers return raw ``indexes.Match`` values; turning them into contract match objects (titles,
creators, licences) needs the database and happens in the parent.
"""

from __future__ import annotations

import contextlib
import hashlib
import os

# Before anything can load OpenMP (faiss, OpenCV): one thread per worker process, parallelism
# comes from having several processes. A no-op where the parent already set it.
os.environ.setdefault("OMP_NUM_THREADS", "1")

import shutil
import sys
import tempfile
import threading
import time
import traceback
from dataclasses import dataclass, field, replace
from pathlib import Path

import cv2
import httpx

from indexes import Engine, ImageError, LowInformationError, Match, fingerprint, one_image_thread
from indexes.decode import read_image_file
from indexes.index_copy import restore_index
from rights.config import Settings
from rights.errors import RightsError
from rights.evidence import pixels_b64
from rights.fetch import FetchFailed, fetch_client, fetch_image
from workers.malloc_tuning import reuse_freed_memory
from workers.url_results import RecentResults

__all__ = [
    "Item",
    "Result",
    "WorkerContext",
    "analyse_chunk",
    "engine_for",
    "index_version",
    "sees_index",
    "warm_up",
    "with_local_bytes",
]

# Matches asked of the engine per listing; the contract's findings carry at most this many.
SEARCH_LIMIT = 10
RANSAC_SEED = 12345


@dataclass(frozen=True)
class WorkerContext:
    """Everything a worker needs besides the listings; small and picklable."""

    index_dir: str
    index_version: str
    settings: Settings = field(default_factory=Settings)


@dataclass(frozen=True)
class Item:
    seq: int
    image: str  # absolute local path or http(s) URL
    # Filled in by the parent for workers on machines that cannot read its disk
    # (:func:`with_local_bytes`): the local file's bytes, or why they could not be read.
    data: bytes | None = None
    unreadable: str | None = None


@dataclass(frozen=True)
class Result:
    seq: int
    matches: list[Match]
    error: str | None = None
    query_thumb: str | None = None  # base64 JPEG, only when something matched
    query_size: tuple[int, int] | None = None


# A result holds at most 10 matches and, when something matched, a ~10-20 kB thumbnail: a few
# tens of MB at most per worker. Kept 10 minutes: one scan's repeats, not next week's scan.
URL_RESULTS = 2048
URL_RESULT_TTL_S = 600.0
# The same for image bytes, whatever path or URL they came from: one pirated picture re-listed by
# many sellers, or one file named by many feed lines, is fingerprinted and searched once.
BYTES_RESULTS = 2048

_lock = threading.Lock()
_engine: tuple[tuple[str, str], Engine] | None = None
_client: httpx.Client | None = None
_by_url: RecentResults[Result] = RecentResults(URL_RESULTS, URL_RESULT_TTL_S)
_by_bytes: RecentResults[Result] = RecentResults(BYTES_RESULTS, URL_RESULT_TTL_S)


def index_version(index_dir: Path) -> str:
    """Changes whenever the engine saves a new index, so long-lived workers reload it."""
    manifest = Path(index_dir) / "manifest.json"
    try:
        st = manifest.stat()
    except FileNotFoundError:
        return "empty"
    return f"{st.st_mtime_ns}:{st.st_size}"


def sees_index(index_dir: str, version: str) -> bool:
    """Whether this process reads the index at ``index_dir`` as the parent saved it (same disk)."""
    return index_version(Path(index_dir)) == version


def engine_for(ctx: WorkerContext, shipped: dict[str, bytes] | None = None) -> Engine:
    """The process's engine for ``ctx``; loaded on first use, then reused by every task.

    ``shipped`` is the index's files, sent by a runner whose workers cannot read the data
    directory: they are written to a local folder once, and the engine loads from there."""
    global _engine
    key = (ctx.index_dir, ctx.index_version)
    with _lock:
        if _engine is None or _engine[0] != key:
            folder = Path(ctx.index_dir) if shipped is None else _local_copy(ctx, shipped)
            _engine = (key, Engine(folder, threads=1))
            _by_url.clear()  # searched in the index before
            _by_bytes.clear()
        return _engine[1]


# Where shipped indexes are written: one folder per (index folder, version), shared by the worker
# processes of one machine. A copy no process has started using for a day is deleted: deleting
# one that a process is still loading would leave it an empty engine, which finds nothing.
INDEX_COPIES = Path(tempfile.gettempdir()) / "rights-index-copies"
STALE_COPY_S = 24 * 3600


def _local_copy(ctx: WorkerContext, files: dict[str, bytes]) -> Path:
    origin = hashlib.sha256(ctx.index_dir.encode()).hexdigest()[:16]
    version = hashlib.sha256(ctx.index_version.encode()).hexdigest()[:16]
    target = INDEX_COPIES / f"{origin}-{version}"
    if not target.exists():
        restore_index(files, target)
    os.utime(target)  # in use from now: spared by the clean-up below
    now = time.time()
    for stale in INDEX_COPIES.glob(f"{origin}-*"):
        with contextlib.suppress(OSError):  # another process's clean-up got there first
            if stale != target and now - stale.stat().st_mtime > STALE_COPY_S:
                shutil.rmtree(stale)
    return target


def warm_up(ctx: WorkerContext) -> None:
    """Process initializer: load the engine and pin native libraries to one thread."""
    one_image_thread()
    reuse_freed_memory()
    engine_for(ctx)


def analyse_chunk(
    items: list[Item], ctx: WorkerContext, shipped: dict[str, bytes] | None = None
) -> list[Result]:
    engine = engine_for(ctx, shipped)
    return [_analyse_safely(item, engine, ctx.settings) for item in items]


def _analyse_safely(item: Item, engine: Engine, settings: Settings) -> Result:
    # One listing that trips a bug must not sink its chunk-mates or the scan ("a bad line never
    # stops the scan"); it becomes an error finding and the traceback goes to the worker's stderr.
    try:
        return _analyse(item, engine, settings)
    except Exception as exc:
        traceback.print_exc(file=sys.stderr)
        return Result(item.seq, [], f"internal_error: {type(exc).__name__}: {exc}")


def _analyse(item: Item, engine: Engine, settings: Settings) -> Result:
    """One listing; a URL this process already analysed is not fetched again (``workers.url_results``)."""
    if not _is_url(item.image):
        return _analyse_image(item, engine, settings)
    known = _by_url.get(item.image)
    if known is None:
        known = _analyse_image(item, engine, settings)
        if not (known.error or "").startswith(FetchFailed.code):  # a failed fetch is tried again
            _by_url.put(item.image, known)
    return replace(known, seq=item.seq)


def _analyse_image(item: Item, engine: Engine, settings: Settings) -> Result:
    if item.unreadable is not None:
        return Result(item.seq, [], item.unreadable)
    data = item.data
    if data is None:
        read = _read_or_why(item.image, settings)
        if isinstance(read, str):
            return Result(item.seq, [], read)
        data = read
    # Same bytes, same result: the search is deterministic (RANSAC reseeded below).
    digest = hashlib.sha256(data).hexdigest()
    known = _by_bytes.get(digest)
    if known is None:
        known = _analyse_bytes(data, engine)
        _by_bytes.put(digest, known)
    return replace(known, seq=item.seq)


def _analyse_bytes(data: bytes, engine: Engine) -> Result:
    """Fingerprint and search one image; ``seq`` is the caller's to fill in."""
    try:
        fp = fingerprint(data)
    except (ImageError, LowInformationError) as exc:
        return Result(-1, [], f"{exc.code}: {exc.message}")
    # OpenCV's RANSAC draws from a process-global RNG, so a search's score would otherwise depend on
    # which listings this process searched before; reseeding makes findings independent of scheduling
    # (local pool = Dask = a resumed run). Belongs in the engine; see the note to the lead.
    cv2.setRNGSeed(RANSAC_SEED)
    matches = engine.search(fp, limit=SEARCH_LIMIT)
    if not matches:
        return Result(-1, [])
    # Evidence from the pixels fingerprinting just decoded (a fresh fingerprint always has them).
    thumb = pixels_b64(fp.thumbnail) if fp.thumbnail is not None else None
    return Result(-1, matches, None, thumb, fp.size)


def with_local_bytes(item: Item, settings: Settings) -> Item:
    """``item`` with its local file's bytes, or why they could not be read, read here for a worker
    on a machine that cannot see this disk. URLs are left for the workers to fetch."""
    if _is_url(item.image) or item.data is not None:
        return item
    read = _read_or_why(item.image, settings)
    return replace(item, unreadable=read) if isinstance(read, str) else replace(item, data=read)


def _read_or_why(image: str, settings: Settings) -> bytes | str:
    """The image's bytes, or the error finding's message when they cannot be had."""
    try:
        return _read(image, settings)
    except (ImageError, RightsError) as exc:  # not a regular file, over the size cap, a refused URL
        return f"{exc.code}: {exc.message}"
    except OSError as exc:
        return f"unreadable: {image}: {exc.strerror or exc}"


def _is_url(image: str) -> bool:
    return image.startswith(("http://", "https://"))


def _read(image: str, settings: Settings) -> bytes:
    if _is_url(image):
        return fetch_image(image, settings=settings, client=_http_client(settings))
    # Regular files only (a FIFO would block the worker), within the same cap as URLs.
    return read_image_file(image, settings.fetch_max_bytes)


def _http_client(settings: Settings) -> httpx.Client:
    """One pooled client per worker process (connection reuse across a CDN's images)."""
    global _client
    with _lock:
        if _client is None:
            _client = fetch_client(settings)
        return _client
