"""The engine's FAISS index kept as derived data of the database.

SQLite is the truth; the index under ``<data>/index`` is rebuilt from the fingerprints stored there
whenever the two disagree. :class:`DerivedIndex` owns that upkeep for one process: catching up
with writes other processes made (by the log's size, which every write grows), reconciling the
key set, and saving lazily, since a save rewrites the whole index (3 s at 100k works, 30 s at a
million) while writes wait for it.
"""

from __future__ import annotations

import errno
import json
import logging
import shutil
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from indexes import Engine, Fingerprint, file_lock
from rights.config import Settings
from rights.errors import RightsError
from rights.log import LogStore
from rights.works import parse_work_id

logger = logging.getLogger(__name__)

# Errors reading the index that say nothing about its files' content.
_NOT_DAMAGE = {errno.EACCES, errno.EPERM, errno.EROFS, errno.EMFILE, errno.ENFILE, errno.ENOMEM}


class IndexUnavailable(RightsError):
    """The index folder cannot be read or written for a reason a rebuild would not cure."""

    code = "index_unavailable"


def _rebuilt(directory: Path, exc: Exception, engine: Callable[[], Engine]) -> Engine:
    """An empty engine in place of damaged index files: they are removed under the folder's lock, so
    no other process is loading or saving them meanwhile, and the lock file stays for those waiting."""
    logger.warning("index files in %s are unreadable (%s); rebuilding from the database", directory, exc)
    with file_lock.locked(directory, shared=False):
        for child in directory.iterdir():
            if child.name == file_lock.LOCK_NAME:
                continue
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child, ignore_errors=True)
            else:
                child.unlink(missing_ok=True)
    return engine()


INDEX_DIRNAME = "index"
# Save the derived index at most this often during a run of writes (and always at close)...
INDEX_SAVE_INTERVAL_S = 30.0
# ...and so that saving takes at most this share of the time: writes wait for a save.
INDEX_SAVE_MAX_SHARE = 0.05
# Reconciliation adds a few missing works one by one, but rebuilds in bulk past this many.
BULK_REBUILD_MIN = 256
# Present while fingerprints are being replaced in bulk (``rights refingerprint``): the saved index may
# then hold old fingerprints of works already updated in the database, which reconciling by key set
# cannot see. An open re-indexes the works the log says were refingerprinted after the index's save
# stamp (a run under way, or one killed before its save); only an index saved without a stamp is
# rebuilt from the database when it finds the marker.
STALE_INDEX_MARKER = "index.stale"


class DerivedIndex:
    """The engine of one registry process and the bookkeeping that keeps it equal to the database.

    ``connection`` and ``log`` give the calling thread's database connection and log; ``lock`` is
    the registry's write lock, which the methods here take, except ``changed``: its caller already
    holds it for the database write that the change follows."""

    def __init__(
        self,
        engine: Engine,
        connection: Callable[[], sqlite3.Connection],
        log: Callable[[], LogStore],
        lock: threading.RLock,
    ) -> None:
        self.engine = engine
        self._connection = connection
        self._log = log
        self._lock = lock
        # The log size the engine has caught up with; -1 until the first reconcile.
        self.synced_log_size = -1
        self.dirty = False  # changed since the last save
        self.saved_at = time.monotonic()
        self.save_s = 0.0  # how long the last save took

    @staticmethod
    def load_engine(data_dir: Path, settings: Settings) -> tuple[Engine, bool]:
        """The persisted engine and True, or an empty one and False when its files are unreadable
        (they are then rebuilt from the database)."""
        directory = data_dir / INDEX_DIRNAME

        def engine() -> Engine:
            return Engine(
                directory,
                features_per_work=settings.features_per_work,
                exclusive_placements=settings.exclusive_placements,
            )

        try:
            return engine(), True
        except OSError as exc:
            if exc.errno not in _NOT_DAMAGE:
                return _rebuilt(directory, exc, engine), False
            # Permissions, a read-only disk, no file handles left: deleting the files would not help,
            # and would make every later open rebuild (6-13 minutes at 100k works).
            raise IndexUnavailable(
                f"the index folder {directory} cannot be used ({exc.strerror or exc}); "
                "fix its permissions or free the resource, and run the command again"
            ) from exc
        except MemoryError as exc:  # as ENOMEM above: the files are not at fault
            raise IndexUnavailable(
                f"the index in {directory} does not fit in memory now; free some, and run the command again"
            ) from exc
        # The index is derived data: whatever else went wrong reading it, the database can rebuild it.
        except Exception as exc:
            return _rebuilt(directory, exc, engine), False

    def open(self, data_dir: Path, *, loaded: bool) -> None:
        """Bring a freshly loaded engine level with the database, rebuilding it when it cannot be
        trusted key by key: unreadable files, a changed feature budget, an older format, or an
        unfinished ``rights refingerprint`` with no save stamp to catch up from (with one, the works
        it refingerprinted since are re-indexed from the log)."""
        engine = self.engine
        # A changed feature budget applies to every work, so the index is rebuilt with it.
        rebudgeted = engine.stored_features_per_work not in (None, engine.features_per_work)
        stamp = engine.loaded_stamp if loaded else -1
        # Refingerprinted works are found from the log after the save stamp; without one, only a
        # rebuild can be sure of them (an audit: every open during a run rebuilt, 6-13 min at 100k).
        stale = (data_dir / STALE_INDEX_MARKER).exists() and stamp < 0
        if engine.loaded_older_format:
            logger.warning("the index was written by an older release: rebuilding it from the database")
        if stale:
            logger.warning(
                "a 'rights refingerprint' run is under way or did not finish, and the saved index has no "
                "stamp to catch up from: rebuilding it from the database"
            )
        # Read before reconciling, so the index never claims more than it holds (its save stamp).
        self.synced_log_size = self._log().size()
        # The stamp of what was loaded: the one on disk may be newer by now, saved by another process.
        foreign = loaded and self._foreign(engine.loaded_stamp)
        full = not loaded or rebudgeted or stale or engine.loaded_older_format or foreign
        self.reconcile(full=full, replace_newer=foreign)
        if not full and self._reload_refingerprinted(stamp, self.synced_log_size):
            logger.info("re-indexed the works refingerprinted since the index was saved")
            self._save_if_possible()

    def _foreign(self, stamp: int) -> bool:
        """Whether the loaded index was not derived from this database: saved after more log
        entries than it holds, or holding other bytes under a work's id. A copy of the data folder
        taken while it was written (the database first) can pair an older database with a newer
        index; the copy's next works reuse the ids, and matched other pictures under them, for good:
        reconciling by ids kept them, and the larger stamp refused every corrected save."""
        size = self.synced_log_size
        rows = self._connection().execute("SELECT id, sha256 FROM works WHERE status != 'withdrawn'")
        differing = sum(self.engine.sha256_of(key) not in (None, sha256) for key, sha256 in rows)
        if stamp <= size and not differing:
            return False
        logger.warning(
            "the index does not derive from this database (saved after %d log entries, the database "
            "holds %d; %d works' bytes differ): a copy taken while the data folder was written, or a "
            "restored database? Rebuilding it from the database",
            stamp,
            size,
            differing,
        )
        return True

    def sync(self) -> bool:
        """Catch the engine up with writes made by other processes (cheap when there were none)."""
        size = self._log().size()
        if size == self.synced_log_size:
            return False
        with self._lock:
            changed = self.reconcile(catching_up=True)
            changed |= self._reload_refingerprinted(self.synced_log_size, size)
            self.synced_log_size = size
            return changed

    def reconcile(
        self, *, full: bool = False, catching_up: bool = False, replace_newer: bool = False
    ) -> bool:
        """Make the engine hold exactly the live works of the database; save it if anything changed.

        ``full`` rebuilds from every stored fingerprint (used when the index files were unreadable).
        ``catching_up`` is the routine case of works another process on this data directory wrote:
        the change is saved on the usual schedule, not at once (here the save could run under the
        database's write lock). An index a few works behind is routine at open too, since saves are
        lazy (a server running beside a CLI command), so only a rebuild is a warning.
        ``replace_newer`` saves over an index on disk stamped newer (one found foreign at open).
        """
        with self._lock:
            conn = self._connection()
            live = {r[0] for r in conn.execute("SELECT id FROM works WHERE status != 'withdrawn'")}
            indexed = self.engine.keys()
            if not full and live == indexed:
                return False
            missing, ghosts = live - indexed, indexed - live
            if full or len(missing) > max(BULK_REBUILD_MIN, len(indexed)):
                # One bulk build beats thousands of incremental adds (and their IVF regrowths).
                logger.warning("rebuilding the index from %d stored fingerprints", len(live))
                self.engine.rebuild(self.stored_fingerprints(live))
            else:
                logger.info("index catching up with the database: +%d -%d works", len(missing), len(ghosts))
                for key in ghosts:
                    self.engine.remove(key)
                for key, fp in self.stored_fingerprints(missing):
                    self.engine.add(key, fp)
            if catching_up:
                self.dirty = True
            else:
                self._save_if_possible(replace_newer=replace_newer)
            return True

    def changed(self, update: Callable[[], object]) -> None:
        """Apply this process's own write to the engine (``update``), just committed to the database."""
        update()
        # Not saved on every write, which cost O(index) per registration: when scans need it on
        # disk (``flush``), at close, and now and then (``_save_due``).
        self.dirty = True
        # Only our own entry was appended since the last sync: no need to re-read the key set (here,
        # or in the sync that a due save starts with).
        size = self._log().size()
        if size == self.synced_log_size + 1:
            self.synced_log_size = size
        if self._save_due():
            self.flush()

    def flush(self) -> None:
        """Write the in-memory index to disk if it changed since the last save."""
        with self._lock:
            # Catch up first (one query when nothing changed): another process may have saved a newer
            # index (works it registered, fingerprints it replaced) that this save would overwrite
            # with an older one, or written works not yet saved, which scan workers read from disk.
            self.sync()
            if self.dirty:
                self.save()
            self.saved_at = time.monotonic()

    def save(self, *, replace_newer: bool = False) -> None:
        """Save now; stays dirty when another process saved a newer index (``flush`` catches up first)."""
        started = time.monotonic()
        # Stamped with the log size the index has caught up with, so that a process which caught
        # up earlier never writes its older index over a newer one another process saved meanwhile
        # (that one's scan workers would then load an index without the works it just registered).
        if not self.engine.save(stamp=self.synced_log_size, replace_newer=replace_newer):
            logger.info("a newer index is saved on disk; this one is saved after catching up")
            return
        self.dirty = False
        self.saved_at = time.monotonic()
        self.save_s = self.saved_at - started

    def _save_if_possible(self, *, replace_newer: bool = False) -> None:
        """``save``, but a write that fails (a full disk) leaves the index in memory, dirty, for the
        next save: a command that only reads (match, a scan) died of it at open (an audit)."""
        try:
            self.save(replace_newer=replace_newer)
        except OSError as exc:
            self.dirty = True
            logger.warning("%s in %s; it is kept in memory and saved later", exc.strerror, exc.filename)

    def stored_fingerprints(self, keys: set[int]) -> Iterator[tuple[int, Fingerprint]]:
        conn = self._connection()
        for key in sorted(keys):
            row = conn.execute("SELECT fingerprint FROM works WHERE id = ?", (key,)).fetchone()
            if row is not None:
                yield key, Fingerprint.from_bytes(bytes(row[0]))

    def _save_due(self) -> bool:
        interval = max(INDEX_SAVE_INTERVAL_S, self.save_s / INDEX_SAVE_MAX_SHARE)
        return time.monotonic() - self.saved_at > interval

    def _reload_refingerprinted(self, start: int, end: int) -> bool:
        """Re-index the works another process re-fingerprinted in log entries [start, end): their key
        is unchanged, so reconciling by key set would keep the old fingerprint."""
        if start < 0:
            return False
        keys = set()
        for _, entry, _ in self._log().entries(start, end):
            fields = json.loads(entry)
            if fields.get("kind") == "refingerprint":
                keys.add(parse_work_id(fields["work_id"]))
        keys &= self.engine.keys()
        for key, fp in self.stored_fingerprints(keys):
            self.engine.add(key, fp)
        if keys:
            self.dirty = True
        return bool(keys)
