"""The SQLite store: one file per data directory, versioned migrations, content-addressed originals.

Why SQLite in WAL mode: the API, the CLI and scan workers on one machine share a single file; WAL lets readers
run while one writer appends, and ``busy_timeout`` turns short writer overlaps into waits instead of errors.

Migrations are the files ``rights/migrations/NNNN_name.sql``. Each runs inside one transaction together
with the row that records it in ``schema_version``, so a crash mid-migration leaves the previous version
intact and a later release never needs a wipe.
Numbers 0001-0009 belong to ``rights``, 0010-0019 to ``workers``.
"""

from __future__ import annotations

import hashlib
import os
import re
import sqlite3
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from rights.errors import RightsError

DB_FILENAME = "rights.sqlite3"
MIGRATIONS_DIR = Path(__file__).with_name("migrations")
_MIGRATION_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")

# Writers hold the lock for milliseconds; 30 s only expires when another process is truly stuck.
BUSY_TIMEOUT_MS = 30_000


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    path: Path


def utcnow() -> str:
    """ISO 8601 UTC with milliseconds and ``Z``; fixed width, so stored times compare as strings."""
    return stored_time(datetime.now(UTC))


def stored_time(moment: datetime) -> str:
    """``moment`` (timezone-aware) in the store's form, as ``utcnow``. ``OverflowError`` when it
    falls outside the years 1-9999 in UTC."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class NewerSchema(RightsError):
    """The database holds migrations this release does not know."""


def discover_migrations(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    found: dict[int, Migration] = {}
    for path in sorted(directory.glob("*.sql")):
        m = _MIGRATION_NAME.match(path.name)
        if not m:
            raise RuntimeError(f"migration file {path.name!r} is not named NNNN_name.sql")
        version = int(m.group(1))
        if version in found:
            raise RuntimeError(
                f"two migrations share number {version:04d}: {found[version].path.name}, {path.name}"
            )
        found[version] = Migration(version, m.group(2), path)
    return [found[v] for v in sorted(found)]


def connect(data_dir: Path, *, migrate: bool = True) -> sqlite3.Connection:
    """Open (creating if needed) ``<data>/rights.sqlite3`` and, by default, bring its schema up to date."""
    data_dir.mkdir(parents=True, exist_ok=True)
    create_private(data_dir / DB_FILENAME)
    # isolation_level=None: we issue BEGIN/COMMIT ourselves, so transactions are exactly where we say.
    conn = sqlite3.connect(
        data_dir / DB_FILENAME, isolation_level=None, check_same_thread=False, timeout=BUSY_TIMEOUT_MS / 1000
    )
    conn.row_factory = sqlite3.Row
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA journal_mode = WAL")
    # NORMAL is durable across process crashes in WAL mode; only an OS crash may lose the last commits.
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("PRAGMA foreign_keys = ON")
    if migrate:
        apply_migrations(conn)
    return conn


def create_private(path: Path) -> None:
    """Create the database file readable by its owner only, if it is new: it holds the holders'
    profiles (postal addresses, phone numbers). SQLite gives its ``-wal`` and ``-shm`` files the
    database file's mode. An existing file keeps the mode its owner gave it."""
    with suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


def connect_read_only(path: Path) -> sqlite3.Connection:
    """Open the database file ``path`` for reading only: nothing is created, migrated or written.

    SQLite reads a WAL database through its ``-shm`` index, which it must be able to create; on a
    read-only medium (an auditor's mount of a registry snapshot, a write-protected backup) that
    fails with "unable to open database file". There, with no ``-wal`` file holding commits the
    database file lacks, the file alone is the whole database and is opened as immutable; with one,
    a clear error says what to do instead of reading a stale state."""
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        return conn
    except sqlite3.OperationalError:
        conn.close()
        if os.access(path.parent, os.W_OK):
            raise
    wal = path.with_name(path.name + "-wal")
    if wal.exists() and wal.stat().st_size > 0:
        raise RightsError(
            f"{path.parent} is read-only and {wal.name} holds commits not yet in {path.name}; "
            "copy the data directory somewhere writable and read the copy"
        )
    return sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro&immutable=1", uri=True)


def schema_version(conn: sqlite3.Connection) -> int:
    row = conn.execute("SELECT max(version) FROM schema_version").fetchone()
    return int(row[0] or 0)


def apply_migrations(conn: sqlite3.Connection, directory: Path = MIGRATIONS_DIR) -> list[int]:
    """Apply every migration newer than the recorded version, each in its own transaction."""
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_version ("
        " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
    )
    migrations = discover_migrations(directory)
    # A version this release does not know was applied by a newer one, whose code keeps up
    # whatever that migration added: writing beside it unknowingly could break it.
    unknown = {r[0] for r in conn.execute("SELECT version FROM schema_version")} - {
        m.version for m in migrations
    }
    if unknown:
        names = ", ".join(f"{v:04d}" for v in sorted(unknown))
        raise NewerSchema(
            f"this data directory was written by a newer release of rights (schema migrations {names},"
            " which this one does not have): upgrade to use it"
        )
    applied: list[int] = []
    for mig in migrations:
        with transaction(conn):
            # Re-read inside the write lock: another process may have applied it meanwhile.
            if conn.execute("SELECT 1 FROM schema_version WHERE version = ?", (mig.version,)).fetchone():
                continue
            for statement in _split_sql(mig.path.read_text(encoding="utf-8")):
                conn.execute(statement)
            conn.execute(
                "INSERT INTO schema_version (version, name, applied_at) VALUES (?, ?, ?)",
                (mig.version, mig.name, utcnow()),
            )
        applied.append(mig.version)
    return applied


def _split_sql(script: str) -> list[str]:
    """Split a migration into statements (``executescript`` would commit our transaction)."""
    statements, current = [], ""
    for line in script.splitlines(keepends=True):
        current += line
        if sqlite3.complete_statement(current):
            if current.strip():
                statements.append(current)
            current = ""
    if current.strip() and not current.strip().startswith("--"):
        raise RuntimeError(f"incomplete SQL statement at end of migration: {current[:60]!r}")
    return statements


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """``BEGIN IMMEDIATE`` … ``COMMIT``; rolls back on any exception.

    IMMEDIATE takes the write lock up front, so read-then-write sequences cannot deadlock on lock upgrade.
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        # Some SQLite errors already rolled back; a second ROLLBACK would mask the real error.
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


# ---------------------------------------------------------------------------------------------- originals


def original_path(data_dir: Path, sha256: str) -> Path:
    return data_dir / "originals" / sha256[:2] / sha256[2:4] / sha256


def store_original(data_dir: Path, data: bytes) -> tuple[str, Path]:
    """Write ``data`` under its SHA-256 (temp file, fsync, rename), once. Returns (sha256, path)."""
    sha = hashlib.sha256(data).hexdigest()
    path = original_path(data_dir, sha)
    if path.exists():
        return sha, path
    atomic_write(path, data)
    return sha, path


def atomic_write(path: Path, data: bytes, mode: int = 0o644) -> None:
    """A reader sees the old file or the whole new one, never a prefix, even after a crash."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_path(path.parent)


def fsync_path(path: Path) -> None:
    """Flush a file, or a folder's entries (so a rename in it survives power loss)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
