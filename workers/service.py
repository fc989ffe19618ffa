"""The scan service behind ``POST /v1/scans``: one background thread running queued scans in turn.

Scans run one at a time on a process pool (or Dask) that is created on first use and kept, so later
scans skip the worker start-up; workers reload the index when its version changes. A scan that fails
is marked ``failed`` with its error and the thread goes on with the next one. :meth:`close` stops the
running scan between chunks and leaves it (and any still waiting) ``queued``, so that the next server
resumes them.
"""

from __future__ import annotations

import logging
import os
import queue
import socket
import threading
import uuid
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

from rights import scans
from rights.registry import Registry
from workers.dask_runner import DaskRunner
from workers.local_pool import LocalPool
from workers.scan import Runner, ScanStopped, make_context, run_scan

__all__ = ["BackgroundScans"]

logger = logging.getLogger(__name__)

# Times one scan is resumed with new workers after a worker process died under it.
_WORKER_DEATH_RETRIES = 2
# A server's claim on a scan lasts this long unless renewed, which it does this often.
LEASE_S = 60.0
HEARTBEAT_S = 15.0


class BackgroundScans:
    """Implements ``rights.scans.ScanService``."""

    def __init__(
        self,
        *,
        workers: int | None = None,
        scheduler: str | None = None,
        lease_s: float = LEASE_S,
        heartbeat_s: float = HEARTBEAT_S,
    ) -> None:
        self.workers = workers or os.cpu_count() or 1
        self.scheduler = scheduler
        # This server's name on the scans it claims (rights.scans.claim_scan), and how long a claim
        # holds without renewal: every ``heartbeat_s`` it renews its claims and adopts the scans of
        # servers that stopped renewing theirs (killed, or their machine gone).
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.lease_s, self.heartbeat_s = lease_s, heartbeat_s
        self._home: tuple[Registry, Path] | None = None  # where to adopt scans from, once known
        self._heartbeat: threading.Thread | None = None
        self._queue: queue.Queue[tuple[Registry, str, Path] | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._runner: Any = None
        self._runner_version: str | None = None
        self.idle = threading.Event()
        self.idle.set()
        self._stop = threading.Event()
        self._retries: dict[str, int] = {}  # scan id -> resumptions after a worker died

    def submit(self, registry: Any, scan_id: str, feed: Path) -> None:
        with registry.transaction() as conn:
            claimed = scans.claim_scan(conn, scan_id, self.owner, self.lease_s)
        if not claimed:
            logger.info("scan %s is being run by another server", scan_id)
            return
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="rights-scans", daemon=True)
                self._thread.start()
            self.idle.clear()
            self._queue.put((registry, scan_id, Path(feed)))

    def resume_unfinished(self, registry: Registry, feeds: Path) -> list[str]:
        """Requeue uploaded scans that no live server holds (their feeds are kept): those a stopped
        server left queued or running. Then keep this server's claims alive, and adopt the scans of
        servers that stop renewing theirs."""
        self._home = (registry, feeds)
        resumed = self._adopt(registry, feeds)
        with self._lock:
            if self._heartbeat is None and not self._stop.is_set():
                self._heartbeat = threading.Thread(target=self._beat, name="rights-scan-leases", daemon=True)
                self._heartbeat.start()
        return resumed

    def close(self) -> None:
        """Stop the scan in progress (it resumes on the next start, here or on another server sharing
        the data directory, which may take it at once) and the workers. Idempotent."""
        self._stop.set()
        with self._lock:
            thread, self._thread = self._thread, None
            heartbeat, self._heartbeat = self._heartbeat, None
            home, self._home = self._home, None
        if thread is not None:
            self._queue.put(None)
            thread.join()
        if heartbeat is not None:
            heartbeat.join()
        if self._runner is not None:
            self._runner.close(cancel=True)
            self._runner = None
        if home is not None:
            with home[0].transaction() as conn:
                scans.release_claims(conn, self.owner)

    def _adopt(self, registry: Registry, feeds: Path) -> list[str]:
        adopted = []
        for scan in scans.unfinished_scans(registry.db, unclaimed_only=True):
            feed = feeds / scan.feed_key.removeprefix("upload:")
            if scan.feed_key.startswith("upload:") and feed.is_file():
                self.submit(registry, scan.id, feed)
                adopted.append(scan.id)
        return adopted

    def _beat(self) -> None:
        while not self._stop.wait(self.heartbeat_s):
            home = self._home
            if home is None:
                return
            registry, feeds = home
            try:
                with registry.transaction() as conn:
                    scans.renew_claims(conn, self.owner, self.lease_s)
                for scan_id in self._adopt(registry, feeds):
                    logger.warning(
                        "adopted scan %s: the server running it stopped renewing its claim", scan_id
                    )
            except Exception:  # a busy or closing database: try again at the next beat
                logger.exception("renewing scan claims failed")

    def _loop(self) -> None:
        while (job := self._queue.get()) is not None and not self._stop.is_set():
            registry, scan_id, feed = job
            with registry.transaction() as conn:
                mine = scans.claim_scan(conn, scan_id, self.owner, self.lease_s)
            if not mine:  # another server adopted it while it waited here (our claim had lapsed)
                if self._queue.empty():
                    self.idle.set()
                continue
            try:
                runner = self._runner_for(registry)
            except Exception as exc:
                # Before run_scan, which marks its own failures: the scan stayed "queued" for ever
                # with no error (an unreachable --scheduler; an audit).
                logger.exception("scan %s cannot start", scan_id)
                with registry.transaction() as conn:
                    why = f"the scan's workers could not be started: {type(exc).__name__}: {exc}"
                    scans.set_status(conn, scan_id, "failed", error=why[:500])
                if self._queue.empty():
                    self.idle.set()
                continue
            try:
                # Feeds sent over HTTP name images by URL only (allowed_roots=[]): no server file reads.
                run_scan(
                    feed,
                    registry=registry,
                    runner=runner,
                    scan_id=scan_id,
                    allowed_roots=[],
                    progress=False,
                    stop=self._stop,
                )
            except ScanStopped:
                logger.info("scan %s stopped; it resumes when the server starts again", scan_id)
            except KeyboardInterrupt:
                # Ctrl-C reached the worker processes too; run_scan left the scan queued to resume.
                logger.info("scan %s interrupted; it resumes when the server starts again", scan_id)
                self._drop_runner()
            except BrokenProcessPool:
                # A worker died (an out-of-memory kill): new workers take the scan up where it stopped.
                self._drop_runner()
                retries = self._retries.get(scan_id, 0)
                if retries < _WORKER_DEATH_RETRIES:
                    self._retries[scan_id] = retries + 1
                    logger.warning("scan %s lost a worker process; resuming it with new workers", scan_id)
                    self.submit(registry, scan_id, feed)
                else:
                    logger.error("scan %s lost worker processes %d times; left queued", scan_id, retries + 1)
            except Exception:
                # run_scan has already marked the scan failed with its error; keep serving the queue.
                logger.exception("scan %s failed", scan_id)
                self._drop_runner()
            finally:
                if self._queue.empty():
                    self.idle.set()

    def _runner_for(self, registry: Registry) -> Runner:
        ctx = make_context(registry)
        if self._runner is not None:
            self._runner.ctx = ctx  # same workers; each reloads the index once if its version changed
            return self._runner
        if self.scheduler:
            runner = DaskRunner(ctx, self.scheduler)
            if runner.sends_index:
                logger.warning(
                    "the Dask workers cannot read %s; sending them the index and each local image",
                    ctx.index_dir,
                )
            self._runner = runner
        else:
            self._runner = LocalPool(ctx, self.workers)
        return self._runner

    def _drop_runner(self) -> None:
        if self._runner is not None:
            try:
                self._runner.close(cancel=True)
            finally:
                self._runner = None
