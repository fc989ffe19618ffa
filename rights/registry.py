"""The registry: the one domain façade the API, the CLI and the workers use.

Where the truth lives: SQLite holds works, their fingerprints, licences and the transparency log; the FAISS
index under ``<data>/index`` is derived data. A registration commits the work *and* its log entry in one
transaction, then updates and saves the engine. A crash between the two is repaired when the registry next
opens (or notices another process's writes): the engine's key set is compared with the live works in the
database and the difference is re-added or removed from the stored fingerprints, so a work is never lost and
a withdrawn one never ghosts (``rights.derived_index``).

Threads: each thread gets its own SQLite connection (WAL lets them read concurrently); writes are also
serialised by a process lock so that the duplicate check, the insert and the engine update are one step.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any

from indexes import Engine, Fingerprint, ImageError, LowInformationError, Match, fingerprint
from rights import cases, db, licenses, works
from rights.accounts import (
    Account,
    authenticate,
    check_name,
    check_no_twin,
    create_key,
    ensure_account,
    get_account,
    revoke_keys,
)
from rights.config import Settings
from rights.derived_index import STALE_INDEX_MARKER, DerivedIndex
from rights.errors import BadInput, Conflict, Forbidden, InvalidImage, LowInformation, NotFound, RightsError
from rights.limits import MAX_MATCH_LIMIT, MAX_METADATA_BYTES, MAX_PAGE_LIMIT, MAX_TITLE_LENGTH
from rights.log import Checkpoint, LogStore, Signer, build_receipt
from rights.prior_works import with_prior_works
from rights.text import has_control_characters, has_lone_surrogates
from rights.works import format_work_id, parse_work_id

logger = logging.getLogger(__name__)

# How many engine candidates a registration checks for prior works by other creators.
CONFLICT_SEARCH_LIMIT = 20


class Registry:
    """Open with :meth:`open`; use as a context manager or call :meth:`close`."""

    def __init__(self, settings: Settings, engine: Engine, signer: Signer) -> None:
        self.settings = settings
        self.data_dir = Path(settings.data)
        self.engine = engine
        self.signer = signer
        self._local = threading.local()
        # Each thread's connection, with its thread: one whose thread has ended is closed when the
        # next thread connects (server and scan threads come and go; a server kept every one open:
        # +22 file handles and ~11 MB every few minutes under load, an audit).
        self._conns: list[tuple[threading.Thread, sqlite3.Connection]] = []
        self._conns_lock = threading.Lock()
        self._write_lock = threading.RLock()
        self._closed = False
        # The engine as derived data of the database: catching up, reconciling, saving.
        self.index = DerivedIndex(engine, lambda: self.db, lambda: self.log, self._write_lock)
        # How bytes become a fingerprint: in the calling thread, or a worker pool's (the API server's).
        self.fingerprinter: Callable[..., Fingerprint] = fingerprint

    # ------------------------------------------------------------------------------------------ lifecycle

    @classmethod
    def open(cls, source: Settings | Path | str) -> Registry:
        """Open the data directory (creating it), migrate the schema and reconcile the index with the DB."""
        settings = source if isinstance(source, Settings) else Settings(data=Path(source))
        data_dir = Path(settings.data)
        signer = cls.preflight(settings)
        engine, loaded = DerivedIndex.load_engine(data_dir, settings)
        registry = cls(settings, engine, signer)
        registry.index.open(data_dir, loaded=loaded)
        return registry

    @staticmethod
    def preflight(settings: Settings) -> Signer:
        """The checks that refuse a data directory, without loading its index: the schema (created or
        migrated; a newer release's refused), the log's origin and its signing key. ``serve`` runs them
        before the server starts, so a refusal is one line, not a traceback from the server's start-up."""
        data_dir = Path(settings.data)
        with closing(db.connect(data_dir)) as conn:  # creates and migrates once, before any thread
            signed = conn.execute("SELECT count(*) FROM log_checkpoints").fetchone()[0]
            _check_origin(conn, settings.log_origin)
            newest = conn.execute("SELECT * FROM log_checkpoints ORDER BY tree_size DESC LIMIT 1").fetchone()
        head = None if newest is None else Checkpoint.from_row(newest)
        return Signer.load_or_create(
            data_dir,
            signed_checkpoints=signed,
            newest=None if head is None else (head.tree_size, head.body(), head.signature),
        )

    def close(self) -> None:
        """Save the index if it changed, and close. A save that fails (a full disk) is logged, not
        raised: nothing is lost, since the index is derived data and the next open brings it level
        with the database, and raising would hide an error already on its way out, or fail a
        command that did its work (a match whose open had to rebuild the index; an audit)."""
        try:
            if not self._closed:
                self.flush_index()
        except OSError as exc:
            logger.warning("%s in %s; the next open catches it up", exc.strerror, exc.filename)
        finally:
            self._closed = True
            with self._conns_lock:
                for _, conn in self._conns:
                    conn.close()
                self._conns.clear()

    def __enter__(self) -> Registry:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    @property
    def db(self) -> sqlite3.Connection:
        """This thread's connection to ``<data>/rights.sqlite3``."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            if self._closed:
                raise RuntimeError("the registry is closed")
            conn = db.connect(self.data_dir, migrate=False)
            self._local.conn = conn
            with self._conns_lock:
                ended = [c for thread, c in self._conns if not thread.is_alive()]
                self._conns = [(t, c) for t, c in self._conns if t.is_alive()]
                self._conns.append((threading.current_thread(), conn))
            for old in ended:
                old.close()  # nobody else has it: its thread is gone
        return conn

    def connections(self) -> list[sqlite3.Connection]:
        """The open connections, one per thread that has used the registry and may still."""
        with self._conns_lock:
            return [c for _, c in self._conns]

    @property
    def log(self) -> LogStore:
        return LogStore(self.db, self.signer, self.settings.log_origin)

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction on this thread's connection (for callers adding rows of their own)."""
        with db.transaction(self.db) as conn:
            yield conn

    # ------------------------------------------------------------------------------------------- accounts

    def create_key(self, role: str, name: str) -> str:
        """Create the account if new and return a fresh API key for it (shown once, stored hashed)."""
        with self.transaction() as conn:
            return create_key(conn, ensure_account(conn, name, role))

    def check_owner(self, name: str) -> None:
        """Refuse, as ``register`` would, a name that cannot own works (a platform's; a new one
        differing from an existing account only in case): a bulk registration says so once, not
        once per file."""
        _existing_owner(self.db, name)

    def revoke_keys(self, name: str) -> int:
        """Revoke every active API key of account ``name`` (refused from the next request on);
        how many were active. A new one comes from ``create_key``."""
        with self.transaction() as conn:
            return revoke_keys(conn, name)

    def authenticate(self, key: str) -> Account:
        return authenticate(self.db, key)

    # -------------------------------------------------------------------------------------- registration

    def register(
        self, creator: str, data: bytes, title: str | None = None, metadata: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """Register ``data`` as a work of ``creator``; the contract's ``POST /v1/works`` body.

        Idempotent for the same creator and bytes. A copy (same bytes, or a near-duplicate the engine calls
        ``match``) of another creator's live work is stored as ``contested`` with those works in
        ``conflicts``. Raises ``InvalidImage``, ``LowInformation``, ``BadInput``, ``Forbidden``.
        """
        check_name(creator)
        title = check_title(title)
        meta_text = _check_metadata(metadata)
        # A work is indexed from its reference fingerprint (640 px, fewer features, crop hashes).
        fp = self.fingerprint(data, role="reference")
        if fp.low_information:
            raise LowInformation(
                f"the image is too plain to identify reliably ({fp.low_information_reason}); "
                "register the full-resolution artwork instead",
                sha256=fp.sha256,
            )
        with self._write_lock:
            self.sync()
            conn = self.db
            existing = works.live_row(conn, creator, fp.sha256)
            if existing is not None:
                return self._registration_body(existing)
            # Content-addressed and written before the commit: a crash leaves at most an unreferenced file.
            db.store_original(self.data_dir, data)
            candidates = self.engine.search(fp, limit=CONFLICT_SEARCH_LIMIT)
            with db.transaction(conn):
                # Another process on this data directory may have registered since the checks above:
                # under the write lock now, look again, so that the same bytes stay one work and a
                # near-duplicate it just registered makes this one contested.
                existing = works.live_row(conn, creator, fp.sha256)
                if existing is not None:
                    return self._registration_body(existing)
                log = self.log
                if log.size() != self.index.synced_log_size:  # the engine searched is behind the database
                    self.sync()
                    candidates = self.engine.search(fp, limit=CONFLICT_SEARCH_LIMIT)
                _owner(conn, creator)
                conflicts = self._conflicts(conn, creator, fp.sha256, candidates, fp.size)
                log_index = log.next_index()
                now = db.utcnow()
                cur = conn.execute(
                    "INSERT INTO works (creator, title, sha256, fingerprint, fp_digest, metadata, status,"
                    " registered_at, log_index) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        creator,
                        title,
                        fp.sha256,
                        fp.to_bytes(),
                        fp.digest(),
                        meta_text,
                        "contested" if conflicts else "registered",
                        now,
                        log_index,
                    ),
                )
                key = int(cur.lastrowid or 0)
                works.insert_conflicts(conn, key, conflicts)
                index, _, _ = log.append(
                    _event("register", key, fp.sha256, fp.digest(), creator, now, title=title)
                )
                if index != log_index:  # impossible under BEGIN IMMEDIATE; would corrupt receipts
                    raise RuntimeError(f"log index moved from {log_index} to {index} inside a transaction")
            self.index.changed(lambda: self.engine.add(key, fp))
            return self._registration_body(works.fetch_row(conn, key))

    def _conflicts(
        self,
        conn: sqlite3.Connection,
        creator: str,
        sha256: str,
        candidates: list[Match],
        size: tuple[int, int],
    ) -> list[dict[str, Any]]:
        found: dict[int, dict[str, Any]] = {}
        whole = [0, 0, size[0], size[1]]  # the same bytes: the whole image, as a match shows it
        # Exact bytes first: decisive even if the engine is momentarily behind the database.
        for row in conn.execute(
            "SELECT * FROM works WHERE sha256 = ? AND creator != ? AND status != 'withdrawn' ORDER BY id",
            (sha256, creator),
        ):
            found[row["id"]] = works.conflict_json(row, 1.0, "match", "exact", whole)
        for m in candidates:
            if m.verdict != "match" or m.key in found:
                continue
            row = conn.execute("SELECT * FROM works WHERE id = ?", (m.key,)).fetchone()
            if row is None or row["status"] == "withdrawn" or row["creator"] == creator:
                continue
            found[m.key] = works.conflict_json(row, m.score, m.verdict, m.kind, m.region)
        return sorted(found.values(), key=lambda c: (-c["score"], c["log_index"]))

    def _registration_body(self, row: sqlite3.Row) -> dict[str, Any]:
        body = works.to_json(self.db, row)
        body["receipt"] = build_receipt(self.log, row["log_index"])
        return body

    def withdraw(self, work_id: str | int, actor: Account | None = None) -> dict[str, Any]:
        """Stop a work from matching and log the withdrawal; repeating it changes nothing."""
        key = parse_work_id(work_id)
        with self._write_lock:
            self.sync()
            conn = self.db
            with db.transaction(conn):
                row = works.fetch_row(conn, key)
                _authorise_owner(actor, row["creator"], "withdraw")
                if row["status"] == "withdrawn":
                    return works.to_json(conn, row)
                now = db.utcnow()
                conn.execute(
                    "UPDATE works SET status = 'withdrawn', withdrawn_at = ? WHERE id = ?", (now, key)
                )
                cases.dismiss_withdrawn(conn, key, note=f"{format_work_id(key)} withdrawn")
                self.log.append(
                    _event(
                        "withdraw",
                        key,
                        row["sha256"],
                        row["fp_digest"],
                        row["creator"],
                        now,
                        actor=actor.name if actor else None,
                    )
                )
            self.index.changed(lambda: self.engine.remove(key))
            return works.to_json(conn, works.fetch_row(conn, key))

    def replace_fingerprint(self, key: int, fp: Fingerprint, previous_digest: str) -> bool:
        """Store a fresh fingerprint of a live work's own bytes and log it (kind ``refingerprint``).

        Changes nothing and returns False if the work was withdrawn meanwhile or its stored fingerprint is
        no longer ``previous_digest`` (another run got there first). A fingerprint whose digest is
        ``previous_digest`` is the one the log already records: it is written back (over a copy damaged
        in the database) and not logged again."""
        with self._write_lock:
            self.sync()
            conn = self.db
            with db.transaction(conn):
                row = works.fetch_row(conn, key)
                if row["status"] == "withdrawn" or row["fp_digest"] != previous_digest:
                    return False
                if row["sha256"] != fp.sha256:
                    raise ValueError(f"{format_work_id(key)}: the fingerprint is of other bytes")
                now = db.utcnow()
                conn.execute(
                    "UPDATE works SET fingerprint = ?, fp_digest = ? WHERE id = ?",
                    (fp.to_bytes(), fp.digest(), key),
                )
                if fp.digest() != previous_digest:
                    self.log.append(
                        _event(
                            "refingerprint",
                            key,
                            fp.sha256,
                            fp.digest(),
                            row["creator"],
                            now,
                            previous_fingerprint_digest=previous_digest,
                        )
                    )
            self.index.changed(lambda: self.engine.add(key, fp))
            return True

    def fingerprint_digest(self, key: int) -> str | None:
        """The digest of a live work's stored fingerprint; None if withdrawn or unknown."""
        row = self.db.execute("SELECT fp_digest, status FROM works WHERE id = ?", (key,)).fetchone()
        return None if row is None or row["status"] == "withdrawn" else str(row["fp_digest"])

    @contextmanager
    def bulk_fingerprint_changes(self) -> Iterator[None]:
        """Wrap a run of :meth:`replace_fingerprint`: until it ends cleanly, the marker makes any later
        open rebuild the index, since a crash may have left it with fingerprints the database replaced."""
        marker = self.data_dir / STALE_INDEX_MARKER
        db.atomic_write(marker, b"fingerprints are being replaced; the index is rebuilt at the next open\n")
        yield
        self.flush_index()
        marker.unlink(missing_ok=True)

    def get_work(self, work_id: str | int, actor: Account | None = None) -> dict[str, Any]:
        row = works.fetch_row(self.db, parse_work_id(work_id))
        if actor is not None and actor.role == "creator" and actor.name != row["creator"]:
            raise Forbidden(f"{format_work_id(row['id'])} belongs to another creator", work_id=work_id)
        return works.to_json(self.db, row)

    def receipt(self, work_id: str | int) -> dict[str, Any]:
        row = works.fetch_row(self.db, parse_work_id(work_id))
        return build_receipt(self.log, row["log_index"])

    def list_works(
        self, creator: str | None = None, limit: int = 50, cursor: str | None = None
    ) -> dict[str, Any]:
        """A page of works in registration order; pass ``next_cursor`` back to get the next page."""
        if not 1 <= limit <= MAX_PAGE_LIMIT:
            raise BadInput(f"limit must be between 1 and {MAX_PAGE_LIMIT}")
        after = parse_cursor(cursor)
        sql = "SELECT * FROM works WHERE id > ?"
        args: list[object] = [after]
        if creator is not None:
            sql += " AND creator = ?"
            args.append(creator)
        rows = self.db.execute(sql + " ORDER BY id LIMIT ?", (*args, limit + 1)).fetchall()
        page = rows[:limit]
        more = len(rows) > limit
        return {
            "works": [works.to_json(self.db, r) for r in page],
            "next_cursor": format_work_id(page[-1]["id"]) if more else None,
        }

    def original_path(self, work_id: str | int) -> Path:
        """Where the registered bytes of a work are stored."""
        row = works.fetch_row(self.db, parse_work_id(work_id))
        return db.original_path(self.data_dir, row["sha256"])

    # -------------------------------------------------------------------------------------------- licences

    def add_license(
        self,
        work_id: str | int,
        licensee: str,
        platform: str | None = None,
        expires_at: str | None = None,
        *,
        actor: Account | None = None,
    ) -> dict[str, Any]:
        """Record and log that ``licensee`` may use the work (on ``platform``, until ``expires_at``)."""
        key = parse_work_id(work_id)
        licensee_ = licenses.check_party(licensee, "licensee", required=True)
        platform_ = licenses.check_party(platform, "platform", required=False)
        expiry = licenses.normalise_expiry(expires_at)
        with self._write_lock, db.transaction(self.db) as conn:
            row = works.fetch_row(conn, key)
            _authorise_owner(actor, row["creator"], "license")
            if row["status"] == "withdrawn":
                raise Conflict(f"{format_work_id(key)} is withdrawn and cannot be licensed", work_id=work_id)
            now = db.utcnow()
            log = self.log
            log_index = log.next_index()
            cur = conn.execute(
                "INSERT INTO licenses (work_id, licensee, platform, expires_at, created_at, created_by,"
                " log_index) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (key, licensee_, platform_, expiry, now, actor.name if actor else None, log_index),
            )
            log.append(
                _event(
                    "license",
                    key,
                    row["sha256"],
                    row["fp_digest"],
                    row["creator"],
                    now,
                    license_id=f"l_{cur.lastrowid}",
                    licensee=licensee_,
                    platform=platform_,
                    expires_at=expiry,
                )
            )
            cases.settle_licensed(conn, key, note=f"licence l_{cur.lastrowid} granted")
            return licenses.to_json(
                conn.execute("SELECT * FROM licenses WHERE id = ?", (cur.lastrowid,)).fetchone()
            )

    def list_licenses(self, work_id: str | int, actor: Account | None = None) -> list[dict[str, Any]]:
        row = works.fetch_row(self.db, parse_work_id(work_id))
        _authorise_owner(actor, row["creator"], "see the licences of")
        rows = self.db.execute("SELECT * FROM licenses WHERE work_id = ? ORDER BY id", (row["id"],))
        return [licenses.to_json(r) for r in rows]

    # -------------------------------------------------------------------------------------------- matching

    def fingerprint(self, data: bytes, *, role: str = "query") -> Fingerprint:
        """``indexes.fingerprint`` with its errors translated into the domain's."""
        try:
            return self.fingerprinter(data, role=role)
        except LowInformationError as exc:
            raise LowInformation(exc.message) from exc
        except ImageError as exc:
            err = InvalidImage(exc.message)
            err.code = exc.code  # keep the precise reason (not_an_image, decompression_bomb, ...)
            raise err from exc

    def match_image(
        self, data: bytes, limit: int = 10, *, platform: str | None = None, seller: str | None = None
    ) -> dict[str, Any]:
        """The contract's ``POST /v1/match`` body for one query image."""
        started = time.perf_counter()
        if not 1 <= limit <= MAX_MATCH_LIMIT:
            raise BadInput(f"limit must be between 1 and {MAX_MATCH_LIMIT}")
        fp = self.fingerprint(data)
        return self.match_fingerprint(fp, limit, platform=platform, seller=seller, started=started)

    def match_fingerprint(
        self,
        fp: Fingerprint,
        limit: int = 10,
        *,
        platform: str | None = None,
        seller: str | None = None,
        started: float | None = None,
    ) -> dict[str, Any]:
        started = time.perf_counter() if started is None else started
        self.sync()
        described = self.describe(
            self.engine.search(fp, limit), platform=platform, seller=seller, limit=limit
        )
        return {
            "verdict": overall_verdict(described),
            "matches": described,
            "took_ms": round((time.perf_counter() - started) * 1000, 2),
        }

    def describe(
        self,
        matches: list[Match],
        *,
        platform: str | None = None,
        seller: str | None = None,
        limit: int | None = None,
    ) -> list[dict[str, Any]]:
        """Engine matches → contract match objects, best first, at most ``limit``; works no longer
        live are dropped, and the works a contested `match` copies are added (``prior_works``)."""
        if not matches:
            return []
        keys = [m.key for m in matches]
        marks = ",".join("?" * len(keys))
        rows = {
            r["id"]: r
            for r in self.db.execute(
                f"SELECT id, creator, title, status FROM works WHERE id IN ({marks})", keys
            )
        }
        licensed = licenses.licensed_keys(self.db, keys, platform=platform, seller=seller)
        out = []
        for m in sorted(matches, key=lambda m: (-m.score, m.key)):
            row = rows.get(m.key)
            if row is None or row["status"] == "withdrawn":
                continue
            out.append(
                {
                    "work_id": format_work_id(m.key),
                    "creator": row["creator"],
                    "title": row["title"],
                    "score": float(m.score),
                    "verdict": m.verdict,
                    "kind": m.kind,
                    "region": list(m.region) if m.region is not None else None,
                    "licensed": m.key in licensed,
                }
            )
        out = with_prior_works(
            self.db, out, lambda ks: licenses.licensed_keys(self.db, ks, platform=platform, seller=seller)
        )
        return out if limit is None else out[:limit]

    # ------------------------------------------------------------------------------------ index upkeep

    def sync(self) -> bool:
        """Catch the engine up with writes made by other processes (cheap when there were none)."""
        return self.index.sync()

    def reconcile(self, *, full: bool = False, catching_up: bool = False) -> bool:
        """Make the engine hold exactly the live works of the database (``DerivedIndex.reconcile``)."""
        return self.index.reconcile(full=full, catching_up=catching_up)

    def flush_index(self) -> None:
        """Write the in-memory index to disk if it changed since the last save."""
        self.index.flush()


# ------------------------------------------------------------------------------------------------ helpers


def overall_verdict(matches: list[dict[str, Any]]) -> str:
    """``match`` if any match is ``match``, ``review`` if the best is only ``review``, else ``clear``."""
    if any(m["verdict"] == "match" for m in matches):
        return "match"
    return "review" if matches else "clear"


def parse_cursor(cursor: str | None) -> int:
    if cursor is None or cursor == "":
        return 0
    try:
        return parse_work_id(cursor)
    except NotFound as exc:
        raise BadInput(f"cursor {cursor!r} is not one this API returned") from exc


def _event(
    kind: str, key: int, sha256: str, fp_digest: str, creator: str, time_: str, **extra: Any
) -> dict[str, Any]:
    return {
        "kind": kind,
        "work_id": format_work_id(key),
        "work_sha256": sha256,
        "fingerprint_digest": fp_digest,
        "creator": creator,
        "time": time_,
        **extra,
    }


def _owner(conn: sqlite3.Connection, name: str) -> Account:
    """The owning account, created as a creator if new; platforms cannot own works."""
    return _existing_owner(conn, name) or ensure_account(conn, name, "creator")


def _existing_owner(conn: sqlite3.Connection, name: str) -> Account | None:
    """The account ``name`` if it may own works, None if a new one may be made under that name;
    refused when it is a platform's, or when a new one would differ from another only in case."""
    account = get_account(conn, name)
    if account is None:
        check_no_twin(conn, name)
    elif account.role == "platform":
        raise Forbidden(f"{name!r} is a platform account and cannot own works", creator=name)
    return account


def _authorise_owner(actor: Account | None, owner: str, action: str) -> None:
    """``None`` is the trusted local caller (CLI, workers); admins may act on any work."""
    if actor is None or actor.role == "admin":
        return
    if actor.role != "creator" or actor.name != owner:
        raise Forbidden(f"only the work's creator or an admin may {action} this work")


def check_title(title: str | None) -> str | None:
    """``title`` if the registry can keep it, else ``BadInput`` saying why."""
    if title is None:
        return None
    if not isinstance(title, str) or len(title) > MAX_TITLE_LENGTH:
        raise BadInput(f"title must be a string of at most {MAX_TITLE_LENGTH} characters")
    if has_lone_surrogates(title):
        raise BadInput("title is not valid Unicode text (undecodable bytes or a lone surrogate)")
    if has_control_characters(title):
        raise BadInput("title must not contain control characters (NUL, tabs, line breaks, escapes)")
    return title


def _check_metadata(metadata: dict[str, Any] | None) -> str:
    if metadata is None:
        return "{}"
    if not isinstance(metadata, dict):
        raise BadInput("metadata must be a JSON object")
    try:
        text = json.dumps(metadata, sort_keys=True, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise BadInput(f"metadata is not serialisable as JSON: {exc}") from exc
    if has_lone_surrogates(text):
        raise BadInput("metadata is not valid Unicode text (undecodable bytes or a lone surrogate)")
    if len(text.encode("utf-8")) > MAX_METADATA_BYTES:
        raise BadInput(f"metadata is larger than {MAX_METADATA_BYTES} bytes of JSON")
    return text


def _check_origin(conn: sqlite3.Connection, origin: str) -> None:
    """Refuse to sign with another origin than the log's: checkpoints of one log would then name
    two, and a verifier that pins the origin would reject the later ones."""
    row = conn.execute("SELECT origin FROM log_checkpoints ORDER BY tree_size DESC LIMIT 1").fetchone()
    if row is not None and row[0] != origin:
        raise RightsError(
            f"RIGHTS_LOG_ORIGIN is {origin!r}, but this log's checkpoints name {row[0]!r}:"
            " an origin names one log for its whole life; set it back (or unset it)"
        )
