"""A consistent copy of a data directory, taken while servers, scans and registrations keep running.

Copying the folder is a full backup only while nothing writes to it: SQLite in WAL mode keeps recent
commits in ``rights.sqlite3-wal``, and a copy taken mid-write can pair a database with the wrong log.
Here the database is copied with SQLite's ``VACUUM INTO``, which reads one snapshot, and then the
originals that snapshot refers to (they are written before their work is committed, and never change).
The signing key and uploaded scan feeds are copied too. The FAISS index is not: it is derived data, and
the first open of the copy rebuilds it from the fingerprints in the database.

The copy is built under a temporary name beside ``dest`` and renamed into place when complete, so
``dest`` either does not exist or is a whole backup.
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import shutil
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from rights import db, scans
from rights.errors import BadInput, RightsError
from rights.log.signing import PRIVATE_KEY_FILE, PUBLIC_KEY_FILE
from rights.text import has_lone_surrogates

# Destination names longer than this (in bytes) get part-copies named by a digest: ".NAME.partial-PID"
# must stay within the 255 bytes a file name may have.
_LONGEST_NAME_SHOWN = 200
# SQLite's result code for a write that found no space (also what a damaged page can raise).
_SQLITE_FULL = 13


@dataclass
class BackupReport:
    dest: Path
    works: int
    log_entries: int
    originals: int
    missing_originals: list[str]  # SHA-256 of originals the database names but the folder lacks
    bytes: int
    # SHA-256 of originals whose bytes no longer hash to their name (copied as they are)
    damaged_originals: list[str] = field(default_factory=list)
    # The log holds signed checkpoints but the folder has no private key to sign more with
    missing_signing_key: bool = False

    def to_json(self) -> dict[str, object]:
        return {
            "backup": str(self.dest),
            "works": self.works,
            "log_entries": self.log_entries,
            "originals": self.originals,
            "missing_originals": len(self.missing_originals),
            "damaged_originals": len(self.damaged_originals),
            "missing_signing_key": self.missing_signing_key,
            "bytes": self.bytes,
        }


def backup(data_dir: Path, dest: Path, *, progress: Callable[[int, int], None] | None = None) -> BackupReport:
    """Copy the registry in ``data_dir`` to the new folder ``dest``. ``progress(done, total)`` is called
    as the originals are copied."""
    if not (data_dir / db.DB_FILENAME).exists():
        raise BadInput(f"no registry in {data_dir}")
    if not dest.name:  # "", ".", "/": no folder of its own to create
        raise BadInput(f"give the backup a new folder's name, not {str(dest)!r}")
    if str(dest) == "-":
        raise BadInput("a backup is a folder, not a stream: give a new folder's name, not '-'")
    if dest.exists() or dest.is_symlink():  # a dangling link "does not exist", yet the rename fails on it
        raise BadInput(f"{dest} already exists; back up into a new folder")
    if dest.resolve().is_relative_to(data_dir.resolve()):
        raise BadInput(f"{dest} is inside the data directory {data_dir}")
    if has_lone_surrogates(str(dest.resolve())):  # bytes that are not UTF-8 in the path
        raise BadInput(f"{dest}: SQLite names its files in UTF-8; give a destination whose path is UTF-8")
    _remove_abandoned(dest)
    work = dest.with_name(f"{_partial_prefix(dest)}{os.getpid()}")
    shutil.rmtree(work, ignore_errors=True)
    try:
        work.mkdir(parents=True)
    except OSError as exc:  # under a file, on a read-only disk: named as the folder asked for
        raise BadInput(f"cannot create {dest}: {exc.strerror or exc}") from exc
    try:
        report = _copy(data_dir, work, progress or (lambda done, total: None))
        _fsync(work)
        try:
            work.rename(dest)
        except OSError as exc:
            if exc.errno not in (errno.EEXIST, errno.ENOTEMPTY, errno.ENOTDIR, errno.EISDIR):
                raise
            # Another backup to the same folder finished first.
            raise BadInput(f"{dest} already exists; back up into a new folder") from None
        db.fsync_path(dest.parent)  # the rename itself survives a power cut
    except OSError as exc:
        shutil.rmtree(work, ignore_errors=True)
        if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
            raise
        # Named as the destination's: the failing write's own message named the source file.
        raise RightsError(f"no space left for the backup in {dest.parent}; nothing was kept") from None
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    report.dest = dest
    return report


def _remove_abandoned(dest: Path) -> None:
    """Delete what killed backups to ``dest`` left: hidden part-copies holding the database and the
    private signing key, which nothing else would ever remove. A part-copy whose process is still
    running is another backup's, and stays."""
    if not dest.parent.is_dir():
        return
    pattern = re.compile(rf"{re.escape(_partial_prefix(dest))}(\d+)")
    for path in dest.parent.iterdir():
        found = pattern.fullmatch(path.name)
        if found and path.is_dir() and not path.is_symlink() and not _running(int(found.group(1))):
            shutil.rmtree(path, ignore_errors=True)


def _partial_prefix(dest: Path) -> str:
    """The hidden part-copy's name, less the pid: ``.NAME.partial-``, or a digest of a name too long
    to take the extra characters (file names stop at 255 bytes)."""
    if len(os.fsencode(dest.name)) <= _LONGEST_NAME_SHOWN:
        return f".{dest.name}.partial-"
    return f".rights-backup-{hashlib.sha256(os.fsencode(dest.name)).hexdigest()[:24]}.partial-"


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True  # another user's process, or not a pid at all: leave its folder alone
    return True


def _copy(data_dir: Path, out: Path, progress: Callable[[int, int], None]) -> BackupReport:
    # Read only: a backup never writes to what it copies, and reads a read-only snapshot too.
    source = db.connect_read_only(data_dir / db.DB_FILENAME)
    try:
        source.execute(f"PRAGMA busy_timeout = {db.BUSY_TIMEOUT_MS}")
        # One read snapshot, however much is written meanwhile, and compacted: the pages pruned scans
        # freed are left behind (a page-by-page copy of a 900 MB file after a prune kept all of them).
        try:
            db.create_private(out / db.DB_FILENAME)  # VACUUM INTO fills an empty file, keeping its mode
            source.execute("VACUUM INTO ?", (str(out / db.DB_FILENAME),))
        except sqlite3.DatabaseError as exc:
            _refuse_if_damaged(source, data_dir)
            if getattr(exc, "sqlite_errorcode", None) == _SQLITE_FULL:  # the copy's disk, then
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)) from exc
            raise
    finally:
        source.close()
    target = sqlite3.connect(out / db.DB_FILENAME)
    try:
        target.execute("PRAGMA journal_mode = WAL")  # as the registry keeps it
        works = int(target.execute("SELECT count(*) FROM works").fetchone()[0])
        entries = int(target.execute("SELECT count(*) FROM log_entries").fetchone()[0])
        checkpoints = int(target.execute("SELECT count(*) FROM log_checkpoints").fetchone()[0])
        hashes = [str(r[0]) for r in target.execute("SELECT DISTINCT sha256 FROM works ORDER BY sha256")]
    finally:
        target.close()
    copied = (out / db.DB_FILENAME).stat().st_size
    for name in (PRIVATE_KEY_FILE, PUBLIC_KEY_FILE):
        if (data_dir / name).exists():
            shutil.copy2(data_dir / name, out / name)  # copy2 keeps the private key's 0600
            copied += (out / name).stat().st_size
    keyless = checkpoints > 0 and not (out / PRIVATE_KEY_FILE).exists()
    feeds = data_dir / scans.FEEDS_DIRNAME
    if feeds.is_dir():
        shutil.copytree(feeds, out / scans.FEEDS_DIRNAME, ignore=shutil.ignore_patterns("*.tmp"))
        copied += sum(f.stat().st_size for f in (out / scans.FEEDS_DIRNAME).rglob("*") if f.is_file())
    missing: list[str] = []
    damaged: list[str] = []
    progress(0, len(hashes))
    for done, sha in enumerate(hashes, 1):
        src = db.original_path(data_dir, sha)
        if src.is_file():
            dst = db.original_path(out, sha)
            dst.parent.mkdir(parents=True, exist_ok=True)
            if _copy_hashed(src, dst) != sha:
                damaged.append(sha)
            copied += dst.stat().st_size
        else:
            missing.append(sha)
        progress(done, len(hashes))
    return BackupReport(
        out, works, entries, len(hashes) - len(missing), missing, copied, damaged, missing_signing_key=keyless
    )


def _copy_hashed(src: Path, dst: Path) -> str:
    """Copy ``src`` to ``dst`` (mode and times too), returning the SHA-256 of the bytes copied: an
    original is named by its hash, so one that no longer matches it was damaged where it lies."""
    digest = hashlib.sha256()
    with open(src, "rb") as fin, open(dst, "wb") as fout:
        while chunk := fin.read(1 << 20):
            digest.update(chunk)
            fout.write(chunk)
    shutil.copystat(src, dst)
    return digest.hexdigest()


def _refuse_if_damaged(source: sqlite3.Connection, data_dir: Path) -> None:
    """Raise a clear error when the database being copied is damaged: SQLite reports a damaged page
    met by ``VACUUM INTO`` in ways that mislead ("database or disk is full" on a disk half empty)."""
    try:
        found = [str(row[0]) for row in source.execute("PRAGMA quick_check(3)")]
    except sqlite3.DatabaseError as exc:
        found = [str(exc)]
    if found != ["ok"]:
        lines = [line for row in found for line in row.splitlines() if not line.startswith("***")]
        raise RightsError(
            f"the registry database in {data_dir} is damaged ({(lines or found)[0]}); nothing was backed "
            "up: restore it from an earlier backup"
        )


def _fsync(folder: Path) -> None:
    """Flush every file of the copy, then every folder's entries (so none of its files is lost
    to a power cut), before it is named a backup."""
    paths = sorted(folder.rglob("*"))
    for path in paths:
        if path.is_file():
            db.fsync_path(path)
    for path in [*paths, folder]:
        if path.is_dir():
            db.fsync_path(path)
