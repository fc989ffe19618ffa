"""Run a listing feed through the engine: findings in feed order, resumable, bounded memory.

The parent process reads the feed, sends chunks of listings to a runner (local process pool or Dask),
and puts the unordered results back in feed order with a reorder buffer. In order, for each line it:
describes the matches (titles, creators, licences) through the registry, writes the finding, stores it
in ``scan_items`` and opens cases for unlicensed ``match`` verdicts.

Memory stays flat whatever the feed size: at most ``max_in_flight`` chunks are out, and the reorder
window holds at most ``window`` lines, after which reading pauses until the oldest line is done.

Resuming: the scan is keyed by the feed's path and SHA-256. Lines already in ``scan_items`` are not
sent again; their stored findings are re-emitted at their place, so a resumed run writes the same
findings file as an uninterrupted one. Only an unfinished scan resumes: running the same feed after
its scan finished scans it again, so that works registered since then are looked for.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Generator, Iterator
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

from tqdm import tqdm

from rights import cases, scans
from rights.accounts import get_account
from rights.errors import RightsError
from rights.evidence import thumbnail_b64
from rights.output_files import OutputFile
from rights.registry import Registry, overall_verdict
from rights.text import readable
from workers.feeds import FeedError, Listing, feed_digest, read_feed
from workers.report import Summary, write_report
from workers.task import Item, Result, WorkerContext, index_version

__all__ = ["Runner", "ScanOutcome", "ScanStopped", "make_context", "run_scan"]

# Chunks out per worker: two keeps each worker fed while the parent handles the previous result.
IN_FLIGHT_PER_WORKER = 2
# Stored lines per transaction: one commit per ~256 lines costs little and loses little on kill -9.
COMMIT_EVERY = 256
COMMIT_SECONDS = 1.0
_CONTRACT_KEYS = ("listing_id", "platform", "image", "verdict", "matches", "error")


class Runner(Protocol):
    """What ``LocalPool`` and ``DaskRunner`` provide. A runner serves one scan after another, but
    one that ``run_scan`` left by raising may still hold that scan's chunks: close it (results are
    keyed by line number, which the next scan's lines share)."""

    @property
    def workers(self) -> int: ...

    @property
    def chunk_size(self) -> int:
        """Listings per task unless the caller says otherwise: what amortises the runner's per-task cost."""
        ...

    def submit(self, chunk: list[Item]) -> None: ...

    @property
    def in_flight(self) -> int: ...

    def wait(self, timeout: float | None = None) -> list[list[Result]]:
        """Every finished chunk's results, once one is; none if ``timeout`` seconds pass first."""
        ...


# How often a scan that may be stopped looks up from waiting on its workers.
STOP_POLL_S = 0.5


class ScanStopped(Exception):
    """``run_scan`` was asked to stop (a server shutting down); the scan is left ``queued`` to resume."""


@dataclass
class ScanOutcome:
    scan_id: str
    summary: Summary
    skipped: int = 0  # lines already done by an earlier run
    processed: int = 0  # lines handled in this run (bad lines included)
    seconds: float = 0.0
    cases_opened: int = 0

    @property
    def total(self) -> int:
        return sum(self.summary.totals().values())


def make_context(registry: Registry) -> WorkerContext:
    """The worker context for the registry's current index (saved to disk first)."""
    registry.sync()
    registry.flush_index()  # workers load the index from disk
    index_dir = Path(registry.engine.directory or registry.data_dir / "index")
    return WorkerContext(str(index_dir.resolve()), index_version(index_dir), registry.settings)


def run_scan(
    feed: Path,
    *,
    registry: Registry,
    runner: Runner,
    out: Path | None = None,
    report: Path | None = None,
    scan_id: str | None = None,
    submitted_by: str | None = None,
    allowed_roots: list[Path] | None = None,
    progress: bool | None = None,
    chunk_size: int | None = None,
    max_in_flight: int | None = None,
    on_progress: Callable[[int], None] | None = None,
    stop: threading.Event | None = None,
) -> ScanOutcome:
    """Scan ``feed``; resume the scan ``scan_id`` (API) or the last unfinished scan of the same feed (CLI)."""
    started = time.perf_counter()
    feed = Path(feed)
    conn = registry.db
    scan = _open_scan(registry, feed, scan_id, submitted_by)
    total = _count_lines(feed)
    with registry.transaction():
        scans.set_status(conn, scan.id, "running", total=total)
    bar = tqdm(
        total=total,
        unit="listing",
        file=sys.stderr,
        disable=not (sys.stderr.isatty() if progress is None else progress),
        dynamic_ncols=True,
    )
    outcome = ScanOutcome(scan.id, Summary())
    # Made inside the try: an output that cannot be opened or a feed that cannot be read marks the
    # scan failed, not "running" for ever.
    sink: _Sink | None = None
    listings: Generator[tuple[int, Listing | FeedError], None, None] | None = None
    try:
        sink = _Sink(registry, scan.id, out, outcome, bar, on_progress)
        # Closed here, on this thread, however the scan ends: left to the garbage collector, the
        # reader's private SQLite database was closed from another thread, with a traceback in the
        # server log.
        listings = read_feed(feed, allowed_roots=allowed_roots, platform=_own_platform(registry, scan))
        _drive(
            listings,
            _DoneLookup(conn, scan.id),
            runner,
            sink,
            chunk_size=runner.chunk_size if chunk_size is None else chunk_size,
            max_in_flight=max_in_flight or IN_FLIGHT_PER_WORKER * max(1, runner.workers),
            stop=stop,
        )
        sink.finish()
        with registry.transaction():
            # The exact count now: the estimate counts physical lines, and a CSV row may span several.
            scans.set_status(conn, scan.id, "done", total=outcome.processed + outcome.skipped)
    except (ScanStopped, BrokenProcessPool, KeyboardInterrupt):
        # Stopped, interrupted (Ctrl-C), or a worker process died (killed for memory): the scan is
        # resumable, not failed (Ctrl-C listed it as failed with "KeyboardInterrupt: ").
        if sink is not None:
            sink.abandon()
        with registry.transaction():
            scans.set_status(conn, scan.id, "queued")
        raise
    except BaseException as exc:
        if sink is not None:
            sink.abandon()
        with registry.transaction():
            scans.set_status(conn, scan.id, "failed", error=f"{type(exc).__name__}: {exc}"[:500])
        raise
    finally:
        if listings is not None:
            listings.close()
        bar.close()
    if report is not None:
        write_report(
            report,
            summary=outcome.summary,
            hits=_with_work_thumbs(registry, scans.iter_hits(conn, scan.id)),
            title=f"Marketplace scan of {readable(feed.name)}",
        )
    outcome.seconds = time.perf_counter() - started
    return outcome


@dataclass
class _Slot:
    """One feed line waiting for its turn to be written."""

    seq: int
    listing: Listing | None = None
    ready: dict[str, Any] | None = None  # a finding that needs no worker (bad line)
    stored: str | None = None  # a finding from an earlier run
    result: Result | None = None

    @property
    def is_ready(self) -> bool:
        return self.ready is not None or self.stored is not None or self.result is not None


def _drive(
    feed: Iterator[tuple[int, Listing | FeedError]],
    done: _DoneLookup,
    runner: Runner,
    sink: _Sink,
    *,
    chunk_size: int,
    max_in_flight: int,
    stop: threading.Event | None = None,
) -> None:
    window = max(chunk_size * max_in_flight * 4, 64)
    pending: deque[_Slot] = deque()
    waiting: dict[int, _Slot] = {}
    chunk: list[Item] = []
    exhausted = False
    while True:
        if stop is not None and stop.is_set():
            raise ScanStopped("stopped before the end of the feed")
        # 1. read ahead while there is room in flight and in the reorder window
        while not exhausted and len(pending) < window and runner.in_flight < max_in_flight:
            line = next(feed, None)
            if line is None:
                exhausted = True
                break
            seq, item = line
            slot = _Slot(seq)
            stored = done.get(seq)
            if stored is not None:
                slot.stored = stored
            elif isinstance(item, FeedError):
                slot.ready = _error_finding(item)
            else:
                slot.listing = item
                waiting[seq] = slot
                chunk.append(Item(seq, item.image))
                if len(chunk) >= chunk_size:
                    runner.submit(chunk)
                    chunk = []
            pending.append(slot)
        if chunk and (exhausted or len(pending) >= window or runner.in_flight == 0):
            runner.submit(chunk)
            chunk = []
        # 2. write every line at the head that is ready, in feed order
        while pending and pending[0].is_ready:
            sink.emit(pending.popleft())
        if exhausted and not pending:
            return
        # 3. wait for workers, without holding the database's write lock meanwhile
        if runner.in_flight:
            sink.commit()
            # A stop is seen within STOP_POLL_S even while every task waits on a slow host.
            for results in runner.wait(timeout=None if stop is None else STOP_POLL_S):
                for result in results:
                    waiting.pop(result.seq).result = result


class _DoneLookup:
    """Stored findings of earlier runs, paged in feed order (a scan can have millions of rows)."""

    def __init__(self, conn: Any, scan_id: str) -> None:
        self.conn = conn
        self.scan_id = scan_id
        self.page: dict[int, str] = {}
        self.page_end = 0  # every seq < page_end has been looked up
        self.exhausted = False

    def get(self, seq: int) -> str | None:
        if self.exhausted and not self.page:
            return None
        if seq >= self.page_end:
            rows = scans.done_findings(self.conn, self.scan_id, from_seq=seq)
            self.page = dict(rows)
            if len(rows) < scans.PAGE:
                self.exhausted = True
                self.page_end = sys.maxsize
            else:
                self.page_end = rows[-1][0] + 1
        return self.page.pop(seq, None)


@dataclass
class _Sink:
    """Writes findings in order: file, ``scan_items``, cases, summary, progress."""

    registry: Registry
    scan_id: str
    out: Path | None
    outcome: ScanOutcome
    bar: Any
    on_progress: Callable[[int], None] | None
    _fh: Any = None
    _file: OutputFile | None = None
    _uncommitted: int = 0
    _last_commit: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        if self.out is not None:
            # Written beside the target and renamed at the end: the findings file is always complete.
            self._file = OutputFile(self.out, "the findings")
            self._fh = self._file.fh

    def emit(self, slot: _Slot) -> None:
        if slot.stored is not None:
            text = slot.stored
            finding = json.loads(text)
            self.outcome.skipped += 1
        else:
            if slot.ready is not None:
                finding, evidence = slot.ready, None
            else:
                assert slot.listing is not None and slot.result is not None  # set together in _drive
                finding, evidence = self._describe(slot.listing, slot.result, slot.seq)
            self.outcome.processed += 1
            text = scans.finding_json(finding)
            self._store(slot, finding, evidence)
        if self._fh is not None:
            self._fh.write(text + "\n")
        self.outcome.summary.add(finding)
        self.bar.update(1)

    def _describe(
        self, listing: Listing, result: Result, line: int
    ) -> tuple[dict[str, Any], dict[str, Any] | None]:
        matches = self.registry.describe(result.matches, platform=listing.platform, seller=listing.seller)
        verdict = "error" if result.error else overall_verdict(matches)
        # Numbered like the errors found while reading the feed, so each points at its line.
        error = f"line {line}: {result.error}" if result.error else None
        finding = _finding(listing, verdict, matches, error)
        if not matches:
            return finding, None
        # The listing's picture only: the work's comes from its original when a case or the report
        # needs it (``_with_work_thumbs``), instead of 19 kB more stored for every hit.
        evidence = {
            "query_thumb": result.query_thumb,
            "query_size": list(result.query_size) if result.query_size else None,
        }
        return finding, evidence

    def _store(self, slot: _Slot, finding: dict[str, Any], evidence: dict[str, Any] | None) -> None:
        conn = self.registry.db
        if not conn.in_transaction:
            conn.execute("BEGIN IMMEDIATE")
        scans.record_item(conn, self.scan_id, slot.seq, finding, evidence)
        if finding["verdict"] == "match" and slot.listing is not None and evidence is not None:
            listing = {**slot.listing.raw, "image": slot.listing.raw.get("image")}
            for m in finding["matches"]:
                if m["verdict"] != "match":
                    continue
                case_evidence = {
                    "query_thumb": evidence.get("query_thumb"),
                    "query_size": evidence.get("query_size"),
                    "work_thumb": _work_thumb(self.registry, m["work_id"]),
                }
                case = cases.record_hit(
                    conn, match=m, listing=listing, evidence=case_evidence, scan_id=self.scan_id
                )
                if case is not None:  # None: a contested work opens no case
                    self.outcome.cases_opened += case.first_scan_id == self.scan_id and case.status == "open"
        self._uncommitted += 1
        now = time.monotonic()
        if self._uncommitted >= COMMIT_EVERY or now - self._last_commit >= COMMIT_SECONDS:
            self._commit(now)

    def commit(self) -> None:
        if self._uncommitted:
            self._commit(time.monotonic())

    def _commit(self, now: float) -> None:
        conn = self.registry.db
        if conn.in_transaction:
            conn.execute("COMMIT")
        self._uncommitted = 0
        self._last_commit = now
        if self.on_progress is not None:
            self.on_progress(self.outcome.skipped + self.outcome.processed)

    def finish(self) -> None:
        self._commit(time.monotonic())
        if self._file is not None:
            self._file.commit()

    def abandon(self) -> None:
        """On failure keep what is done (commit), so the next run resumes from there. The
        unfinished findings file goes: that run writes it whole again, from the database."""
        conn = self.registry.db
        if conn.in_transaction:
            conn.execute("COMMIT")
        if self._file is not None:
            self._file.discard()


def _finding(
    listing: Listing, verdict: str, matches: list[dict[str, Any]], error: str | None
) -> dict[str, Any]:
    """The contract's finding, then the listing's other keys passed through."""
    finding: dict[str, Any] = {
        "listing_id": listing.listing_id,
        "platform": listing.platform,
        "image": listing.raw.get("image"),
        "verdict": verdict,
        "matches": matches,
        "error": error,
    }
    return _passed_through(finding, listing.raw)


def _error_finding(error: FeedError) -> dict[str, Any]:
    finding: dict[str, Any] = {
        "listing_id": error.listing_id,
        "platform": error.platform,
        "image": error.image,
        "verdict": "error",
        "matches": [],
        "error": error.message,
    }
    return _passed_through(finding, error.raw)


def _passed_through(finding: dict[str, Any], raw: dict[str, Any]) -> dict[str, Any]:
    """The feed line's unknown keys, after the contract's (which win over a line's own)."""
    for key, value in raw.items():
        if key not in _CONTRACT_KEYS:
            finding[key] = value
    return finding


@lru_cache(maxsize=256)
def _work_thumb_cached(original: Path, mtime_ns: int) -> str | None:
    try:
        return thumbnail_b64(original.read_bytes())[0]
    except (OSError, ValueError):
        return None  # evidence without the work's picture is still evidence


def _work_thumb(registry: Registry, work_id: str) -> str | None:
    try:
        path = registry.original_path(work_id)
        return _work_thumb_cached(path, path.stat().st_mtime_ns)
    except (OSError, RightsError):
        return None


def _with_work_thumbs(
    registry: Registry, hits: Iterator[tuple[dict[str, Any], dict[str, Any]]]
) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    """Hits with the thumbnail of the work each one shows first, made from its original (which never
    changes; cached per work). Evidence stored by earlier releases already holds it."""
    for finding, evidence in hits:
        thumbs = dict(evidence.get("work_thumbs") or {})
        matches = finding.get("matches") or []
        best = str(matches[0].get("work_id")) if matches else None
        if best is not None and best not in thumbs and (thumb := _work_thumb(registry, best)):
            thumbs[best] = thumb
        yield finding, {**evidence, "work_thumbs": thumbs}


def _own_platform(registry: Registry, scan: scans.Scan) -> str | None:
    """The platform a scan's listings must be on: its submitter's own, when a platform account
    submitted it (as ``POST /v1/match`` treats a platform caller); None for admins and the CLI."""
    if scan.submitted_by is None:
        return None
    account = get_account(registry.db, scan.submitted_by)
    return account.name if account is not None and account.role == "platform" else None


def _open_scan(registry: Registry, feed: Path, scan_id: str | None, submitted_by: str | None) -> scans.Scan:
    if scan_id is not None:
        return scans.get_scan(registry.db, scan_id)
    # A path's bytes that are not UTF-8 (lone surrogates in Python) cannot be stored as text: they
    # are kept as \x escapes, distinct for distinct names; every other path as it is.
    key = os.fsencode(feed.resolve()).decode("utf-8", "backslashreplace")
    digest = feed_digest(feed)
    with registry.transaction() as conn:
        existing = scans.latest_scan_for_feed(conn, feed_key=key, feed_digest=digest)
        if existing is not None and existing.status != "done":
            return existing  # interrupted: resume it; a finished scan is run afresh (new works count)
        scans.supersede(conn, feed_key=key, feed_digest=digest)
        return scans.create_scan(conn, feed_key=key, feed_digest=digest, submitted_by=submitted_by)


def _count_lines(feed: Path) -> int:
    """Non-blank lines (minus a CSV header): the progress bar's total, read at disk speed. An
    estimate for CSV, where a quoted field may hold line breaks; a finished scan stores the count."""
    count = 0
    with open(feed, "rb") as fh:
        for line in fh:
            count += bool(line.strip())
    if feed.suffix.lower() == ".csv":
        count = max(0, count - 1)
    return count
