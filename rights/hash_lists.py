"""Hash lists: the registry's works as PDQ hashes for other systems, and their lists looked up here.

Trust-and-safety tools trade PDQ hashes, not images (Meta's HMA, ThreatExchange, StopNCII). A platform
running such a tool loads the registry's list as one more bank and checks uploads against it without
calling this API; a partner that shares only hashes of its listings can have them looked up here. Both
directions use ThreatExchange's plain signal file, one ``pdq <64 hex digits>`` per line, or JSON Lines
with each work's details. The hashes are computed as those tools compute them
(``indexes.hash_exchange``), from the stored originals, once per work (table ``exchange_hashes``).

A hash names whole pictures only: re-encodes, resizes and mild edits within PDQ's 31 bits. Crops,
captions, screenshots and turns need the image itself (``POST /v1/match``).
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from indexes import ImageError
from indexes.hash_exchange import PDQ_EXCHANGE_DISTANCE, exchange_pdq, is_degenerate, nearest, parse_pdq_hex
from rights import db
from rights.errors import BadInput
from rights.works import format_work_id

logger = logging.getLogger(__name__)

# A signal file line names its type first; bare hex lines are PDQ too.
SIGNAL_TYPE = "pdq"
MAX_LOOKUP_DISTANCE = 63
MAX_LOOKUP_LIMIT = 100
# Works hashed per transaction while filling: a kill loses at most this much work, never a row.
_FILL_BATCH = 100
_DEGENERATE = "the hash is of a flat or regular image, which is near too many pictures to name one"


@dataclass(frozen=True)
class HashLine:
    """One line of a hash list: its number, and the hash or why it is not one."""

    line: int
    pdq: str | None
    error: str | None = None


def parse_hash_list(lines: Iterable[str]) -> Iterator[HashLine]:
    """The hashes of a signal file, numbered from 1. Blank lines and ``#`` comments are skipped;
    a line of another signal type (``md5 …``) or a malformed hash is an error line, not a stop."""
    for number, raw in enumerate(lines, start=1):
        text = raw.strip().lstrip("\ufeff")
        if not text or text.startswith("#"):
            continue
        try:
            yield HashLine(number, bytes(parse_pdq_hex(signal_of(text))).hex())
        except ValueError as exc:
            yield HashLine(number, None, f"line {number}: {exc}")


def signal_of(text: str) -> str:
    """The hash of ``pdq <hex>`` (a signal file's line, spaces or a tab between) or of bare hex;
    ValueError for a line of another signal type."""
    kind, *rest = text.split(None, 1)
    if not rest:
        return kind
    if kind.lower() != SIGNAL_TYPE:
        raise ValueError(f"signal type {kind[:40]!r} is not {SIGNAL_TYPE!r}")
    return rest[0]


@dataclass
class FillReport:
    computed: int = 0
    failed: list[str] = field(default_factory=list)


_NEVER_TRIED = (
    "SELECT w.id, w.sha256 FROM works w LEFT JOIN exchange_hashes e ON e.work_id = w.id"
    " WHERE e.work_id IS NULL AND w.status != 'withdrawn'"
)


def missing_count(conn: sqlite3.Connection) -> tuple[int, int]:
    """Live works never hashed yet, and those whose original could not be read."""
    never = conn.execute(f"SELECT COUNT(*) FROM ({_NEVER_TRIED})").fetchone()[0]
    failed = conn.execute(
        "SELECT COUNT(*) FROM exchange_hashes e JOIN works w ON w.id = e.work_id"
        " WHERE e.error IS NOT NULL AND w.status != 'withdrawn'"
    ).fetchone()[0]
    return int(never), int(failed)


def fill_missing(
    conn: sqlite3.Connection,
    data_dir: Path,
    progress: Callable[[int, int], None] | None = None,
    *,
    keys: list[int] | None = None,
    creator: str | None = None,
    limit: int | None = None,
    retry: bool = False,
) -> FillReport:
    """Compute the exchange hash of every live work never hashed (or of those among ``keys``, of
    ``creator``, or the first ``limit``), from its stored original. A work whose original is missing
    or unreadable is reported and its error kept, so it is not tried again unless ``retry``."""
    if retry:
        with db.transaction(conn):
            conn.execute(
                "DELETE FROM exchange_hashes WHERE error IS NOT NULL"
                + ("" if creator is None else " AND work_id IN (SELECT id FROM works WHERE creator = ?)"),
                () if creator is None else (creator,),
            )
    sql, args = _NEVER_TRIED, list[object]()
    if keys is not None:
        sql += f" AND w.id IN ({','.join('?' * len(keys))})"
        args = list(keys)
    if creator is not None:
        sql += " AND w.creator = ?"
        args.append(creator)
    sql += " ORDER BY w.id" if limit is None else f" ORDER BY w.id LIMIT {int(limit)}"
    todo = [(r["id"], r["sha256"]) for r in conn.execute(sql, args)] if keys != [] else []
    report = FillReport()
    for start in range(0, len(todo), _FILL_BATCH):
        rows: list[tuple[int, str | None, int | None, str | None]] = []
        for key, sha256 in todo[start : start + _FILL_BATCH]:
            try:
                pdq, quality = exchange_pdq(db.original_path(data_dir, sha256).read_bytes())
            except (OSError, ImageError) as exc:
                why = f"original unreadable ({exc})"
                report.failed.append(f"{format_work_id(key)}: {why}")
                rows.append((key, None, None, why))
                continue
            rows.append((key, pdq, quality, None))
            report.computed += 1
        with db.transaction(conn):
            # OR IGNORE: another process may have filled some meanwhile; both computed the same.
            conn.executemany(
                "INSERT OR IGNORE INTO exchange_hashes (work_id, pdq, quality, error) VALUES (?, ?, ?, ?)",
                rows,
            )
        if progress is not None:
            progress(min(start + _FILL_BATCH, len(todo)), len(todo))
    return report


def exported(
    conn: sqlite3.Connection,
    *,
    creator: str | None = None,
    after: int = 0,
    through: int | None = None,
    with_errors: bool = False,
) -> Iterator[dict[str, Any]]:
    """Every live work (registered or contested) that has an exchange hash (or, ``with_errors``, whose
    original could not be hashed: ``pdq`` null and an ``error``), in registration order, with an id
    above ``after`` (and at most ``through``). Streamed: a million works never sit in memory at once."""
    sql = (
        "SELECT w.id, w.creator, w.title, w.sha256, w.status, w.log_index, e.pdq, e.quality, e.error"
        " FROM works w JOIN exchange_hashes e ON e.work_id = w.id WHERE w.status != 'withdrawn' AND w.id > ?"
    )
    args: list[object] = [after]
    if not with_errors:
        sql += " AND e.pdq IS NOT NULL"
    if through is not None:
        sql += " AND w.id <= ?"
        args.append(through)
    if creator is not None:
        sql += " AND w.creator = ?"
        args.append(creator)
    for row in conn.execute(sql + " ORDER BY w.id", args):
        entry = {
            "work_id": format_work_id(row["id"]),
            "creator": row["creator"],
            "title": row["title"],
            "sha256": row["sha256"],
            "status": row["status"],
            "log_index": row["log_index"],
            "pdq": row["pdq"],
            "quality": row["quality"],
        }
        if with_errors:
            entry["error"] = row["error"]
        yield entry


def page(
    conn: sqlite3.Connection, data_dir: Path, *, creator: str | None, limit: int, after: int
) -> dict[str, Any]:
    """One page of the list in registration order, from work id ``after`` on (``GET /v1/hashes``):
    the page's works never hashed are hashed first (at most ``limit`` originals), and a work whose
    original could not be read is listed with its ``error`` (a page is never silently short)."""
    sql = "SELECT id FROM works WHERE id > ? AND status != 'withdrawn'"
    args: list[object] = [after]
    if creator is not None:
        sql += " AND creator = ?"
        args.append(creator)
    ids = [r[0] for r in conn.execute(sql + " ORDER BY id LIMIT ?", (*args, limit + 1))]
    shown = ids[:limit]
    report = fill_missing(conn, data_dir, keys=shown)
    if report.failed:
        logger.warning("exchange hashes not computed: %s", "; ".join(report.failed))
    entries = (
        list(exported(conn, creator=creator, after=after, through=shown[-1], with_errors=True))
        if shown
        else []
    )
    return {"hashes": entries, "next_cursor": format_work_id(shown[-1]) if len(ids) > limit else None}


def signal_line(entry: dict[str, Any]) -> str:
    """An exported work as a ThreatExchange signal file line."""
    return f"{SIGNAL_TYPE} {entry['pdq']}"


class HashTable:
    """The live works' exchange hashes, loaded once to look up many lists' hashes against: 40 bytes a
    work (its id and hash); the works a lookup names are read from the database."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        rows = conn.execute(
            "SELECT e.work_id, e.pdq FROM exchange_hashes e JOIN works w ON w.id = e.work_id"
            " WHERE w.status != 'withdrawn' AND e.pdq IS NOT NULL ORDER BY e.work_id"
        ).fetchall()
        self._ids = np.array([r[0] for r in rows], dtype=np.int64)
        packed = b"".join(bytes.fromhex(r[1]) for r in rows)
        self._hashes = np.frombuffer(packed, dtype=np.uint8).reshape(len(rows), 32)

    def __len__(self) -> int:
        return len(self._ids)

    def look_up(
        self,
        conn: sqlite3.Connection,
        hashes: list[str],
        max_distance: int = PDQ_EXCHANGE_DISTANCE,
        limit: int = 10,
    ) -> list[dict[str, Any]]:
        """For each hash (64 hex digits), the works whose exchange hash is within ``max_distance``
        bits, nearest first: ``{"pdq", "matches": [{"work_id", "creator", "title", "log_index",
        "distance"}], "error"}``. A malformed or degenerate hash gets an error, not a raise."""
        if not 0 <= max_distance <= MAX_LOOKUP_DISTANCE:
            raise BadInput(f"max_distance must be between 0 and {MAX_LOOKUP_DISTANCE}, not {max_distance}")
        if not 1 <= limit <= MAX_LOOKUP_LIMIT:
            raise BadInput(f"limit must be between 1 and {MAX_LOOKUP_LIMIT}, not {limit}")
        queries: list[np.ndarray] = []
        shown: list[str] = []  # the hash as parsed, or the text given (cut short) when it is none
        errors: list[str | None] = []
        for text in hashes:
            try:
                value = parse_pdq_hex(signal_of(text) if text.strip() else text)
            except ValueError as exc:
                shown.append(text.strip()[:80])
                errors.append(str(exc))
                continue
            shown.append(bytes(value).hex())
            errors.append(_DEGENERATE if is_degenerate(value) else None)
            if errors[-1] is None:
                queries.append(value)
        found = nearest(self._hashes, np.array(queries).reshape(-1, 32), max_distance, limit)
        works = _named(conn, {int(self._ids[row]) for hits in found for row, _ in hits})
        hits_of = iter(found)
        results = []
        for text, error in zip(shown, errors, strict=True):
            hits = next(hits_of) if error is None else []
            matches = [
                {**works[key], "distance": distance}
                for key, distance in ((int(self._ids[row]), d) for row, d in hits)
                if key in works  # withdrawn since the table was loaded
            ]
            results.append({"pdq": text, "matches": matches, "error": error})
        return results


def _named(conn: sqlite3.Connection, keys: set[int]) -> dict[int, dict[str, Any]]:
    """How a lookup names each of the live works ``keys``."""
    if not keys:
        return {}
    marks = ",".join("?" * len(keys))
    rows = conn.execute(
        f"SELECT id, creator, title, log_index FROM works WHERE id IN ({marks}) AND status != 'withdrawn'",
        sorted(keys),
    )
    return {
        r["id"]: {
            "work_id": format_work_id(r["id"]),
            "creator": r["creator"],
            "title": r["title"],
            "log_index": r["log_index"],
        }
        for r in rows
    }
