"""Scan bookkeeping in the database: what a scan is, which feed lines are done, their findings.

Why findings live in the DB and not only in the output file: a scan must survive ``kill -9``. Each
finished line is a ``scan_items`` row keyed by its line number, so a re-run of the same feed skips
done lines and re-emits their stored findings in feed order, giving the same file as an unbroken run.
The runner itself is in ``workers``; the API reads progress and findings from here.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from rights.db import stored_time, utcnow
from rights.errors import NotFound

__all__ = [
    "VERDICTS",
    "Scan",
    "ScanService",
    "create_scan",
    "delete_items",
    "delete_scan",
    "done_findings",
    "finding_json",
    "get_scan",
    "iter_findings",
    "iter_hits",
    "latest_scan_for_feed",
    "list_scans",
    "record_item",
    "set_status",
    "unfinished_scans",
]

VERDICTS = ("match", "review", "clear", "error")
# Rows fetched per round trip when streaming stored findings (keeps memory flat on huge scans).
PAGE = 1000


@dataclass(frozen=True)
class Scan:
    id: str
    feed_key: str
    feed_digest: str
    submitted_by: str | None
    status: str
    total: int | None
    done: int
    counts: dict[str, int]
    error: str | None
    created_at: str
    updated_at: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "scan_id": self.id,
            "status": self.status,
            "total": self.total,
            "done": self.done,
            "counts": dict(self.counts),
            "error": self.error,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }


# Feeds uploaded over HTTP are kept under <data>/scans/ so a restarted server can resume them.
FEEDS_DIRNAME = "scans"


class ScanService(Protocol):
    """Runs submitted scans in the background. ``workers`` provides it (rights cannot import workers);
    ``create_app(settings, scan_service=...)`` hands it to the scan routes."""

    def submit(self, registry: Any, scan_id: str, feed: Path) -> None:
        """Queue the scan ``scan_id`` (already created, status ``queued``) of the stored ``feed``."""
        ...


_COLUMNS = (
    "id, feed_key, feed_digest, submitted_by, status, total, done, n_match, n_review, n_clear, n_error,"
    " error, created_at, updated_at"
)


def finding_json(finding: dict[str, Any]) -> str:
    """The one serialisation of a finding, used for the DB and the findings file alike."""
    return json.dumps(finding, ensure_ascii=False, separators=(",", ":"))


def create_scan(
    conn: sqlite3.Connection, *, feed_key: str, feed_digest: str, submitted_by: str | None = None
) -> Scan:
    scan_id = "scan_" + uuid.uuid4().hex[:20]
    now = utcnow()
    conn.execute(
        "INSERT INTO scans (id, feed_key, feed_digest, submitted_by, status, created_at, updated_at)"
        " VALUES (?, ?, ?, ?, 'queued', ?, ?)",
        (scan_id, feed_key, feed_digest, submitted_by, now, now),
    )
    return get_scan(conn, scan_id)


def latest_scan_for_feed(conn: sqlite3.Connection, *, feed_key: str, feed_digest: str) -> Scan | None:
    """The scan a re-run of the same feed should resume (same path, same bytes)."""
    row = conn.execute(
        f"SELECT {_COLUMNS} FROM scans WHERE feed_key = ? AND feed_digest = ?"
        " ORDER BY created_at DESC, rowid DESC",
        (feed_key, feed_digest),
    ).fetchone()
    return _scan(row) if row else None


def list_scans(
    conn: sqlite3.Connection, *, limit: int | None = None, done_before: str | None = None
) -> list[Scan]:
    """Scans newest first; with ``done_before`` (a stored time), only finished ones last updated
    before it."""
    where = ""
    params: list[str | int] = [-1 if limit is None else limit]
    if done_before is not None:
        where = " WHERE status = 'done' AND updated_at < ?"
        params.insert(0, done_before)
    rows = conn.execute(
        f"SELECT {_COLUMNS} FROM scans{where} ORDER BY created_at DESC, rowid DESC LIMIT ?", params
    )
    return [_scan(r) for r in rows]


def delete_items(conn: sqlite3.Connection, scan_id: str, limit: int) -> int:
    """Delete up to ``limit`` stored findings of a scan, first lines first; returns how many went.
    Callers delete a large scan in several transactions, so no writer waits on one long delete."""
    cur = conn.execute(
        "DELETE FROM scan_items WHERE scan_id = ? AND seq IN"
        " (SELECT seq FROM scan_items WHERE scan_id = ? ORDER BY seq LIMIT ?)",
        (scan_id, scan_id, limit),
    )
    return cur.rowcount


def delete_scan(conn: sqlite3.Connection, scan_id: str) -> None:
    """Forget a scan (its remaining findings go with it). Cases keep their own copy of the evidence."""
    conn.execute("DELETE FROM scans WHERE id = ?", (scan_id,))


def unfinished_scans(conn: sqlite3.Connection, *, unclaimed_only: bool = False) -> list[Scan]:
    """Scans left ``queued`` or ``running`` (a server stopped mid-scan), oldest first; with
    ``unclaimed_only``, those no live server holds (no owner, or its lease ran out)."""
    claim = " AND (owner IS NULL OR lease_until < ?)" if unclaimed_only else ""
    rows = conn.execute(
        f"SELECT {_COLUMNS} FROM scans WHERE status IN ('queued', 'running'){claim}"
        " ORDER BY created_at, rowid",
        (utcnow(),) if unclaimed_only else (),
    )
    return [_scan(r) for r in rows]


def claim_scan(conn: sqlite3.Connection, scan_id: str, owner: str, lease_s: float) -> bool:
    """Take an unfinished scan for ``owner`` unless another owner's lease still holds it."""
    now = datetime.now(UTC)
    cur = conn.execute(
        "UPDATE scans SET owner = ?, lease_until = ? WHERE id = ? AND status IN ('queued', 'running')"
        " AND (owner IS NULL OR owner = ? OR lease_until < ?)",
        (owner, stored_time(now + timedelta(seconds=lease_s)), scan_id, owner, stored_time(now)),
    )
    return cur.rowcount == 1


def renew_claims(conn: sqlite3.Connection, owner: str, lease_s: float) -> None:
    """Extend every lease ``owner`` holds on an unfinished scan (a live server's heartbeat)."""
    until = stored_time(datetime.now(UTC) + timedelta(seconds=lease_s))
    conn.execute(
        "UPDATE scans SET lease_until = ? WHERE owner = ? AND status IN ('queued', 'running')", (until, owner)
    )


def release_claims(conn: sqlite3.Connection, owner: str) -> None:
    """A server stopping gives its scans up at once, for the next server to take."""
    conn.execute("UPDATE scans SET owner = NULL, lease_until = NULL WHERE owner = ?", (owner,))


def get_scan(conn: sqlite3.Connection, scan_id: str) -> Scan:
    row = conn.execute(f"SELECT {_COLUMNS} FROM scans WHERE id = ?", (scan_id,)).fetchone()
    if row is None:
        raise NotFound(f"no scan {scan_id}", scan_id=scan_id)
    return _scan(row)


def set_status(
    conn: sqlite3.Connection, scan_id: str, status: str, *, total: int | None = None, error: str | None = None
) -> None:
    """Move a scan to ``status``. A ``done`` scan stays done: a second runner of it (a server that
    took it over meanwhile) must not send it back to queued or failed."""
    conn.execute(
        "UPDATE scans SET status = ?, total = COALESCE(?, total), error = ?, updated_at = ?"
        " WHERE id = ? AND (status != 'done' OR ? = 'done')",
        (status, total, error, utcnow(), scan_id, status),
    )


def supersede(conn: sqlite3.Connection, *, feed_key: str, feed_digest: str) -> int:
    """Mark failed the unfinished scans of ``feed_key`` made from other bytes: a new scan replaces
    them (a killed scan of a feed edited since stayed "running" for ever, and prune keeps unfinished
    scans). Failed, they still resume if the feed's bytes come back. Returns how many."""
    cur = conn.execute(
        "UPDATE scans SET status = 'failed', error = ?, updated_at = ?"
        " WHERE feed_key = ? AND feed_digest != ? AND status IN ('queued', 'running')",
        ("the feed changed since; a new scan of it started", utcnow(), feed_key, feed_digest),
    )
    return cur.rowcount


def record_item(
    conn: sqlite3.Connection,
    scan_id: str,
    seq: int,
    finding: dict[str, Any],
    evidence: dict[str, Any] | None = None,
) -> bool:
    """Store one finished line; False if it was already stored (a resumed scan never double counts)."""
    verdict = str(finding["verdict"])
    cur = conn.execute(
        "INSERT OR IGNORE INTO scan_items"
        " (scan_id, seq, listing_id, platform, verdict, finding, evidence, done)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, 1)",
        (
            scan_id,
            seq,
            finding.get("listing_id"),
            finding.get("platform"),
            verdict,
            finding_json(finding),
            json.dumps(evidence) if evidence else None,
        ),
    )
    if cur.rowcount != 1:
        return False
    column = f"n_{verdict}"  # verdict is one of VERDICTS (the table's CHECK refuses anything else)
    conn.execute(
        f"UPDATE scans SET done = done + 1, {column} = {column} + 1, updated_at = ? WHERE id = ?",
        (utcnow(), scan_id),
    )
    return True


def done_findings(
    conn: sqlite3.Connection, scan_id: str, *, from_seq: int, limit: int = PAGE
) -> list[tuple[int, str]]:
    """``(seq, finding JSON)`` of done lines with ``seq >= from_seq``, in feed order."""
    rows = conn.execute(
        "SELECT seq, finding FROM scan_items WHERE scan_id = ? AND seq >= ? AND done = 1"
        " ORDER BY seq LIMIT ?",
        (scan_id, from_seq, limit),
    )
    return [(int(r[0]), str(r[1])) for r in rows]


def iter_findings(conn: sqlite3.Connection, scan_id: str) -> Iterator[dict[str, Any]]:
    """Every stored finding of a scan, in feed order, a page at a time."""
    seq = 0
    while page := done_findings(conn, scan_id, from_seq=seq):
        for last, text in page:
            yield json.loads(text)
            seq = last + 1


def iter_hits(conn: sqlite3.Connection, scan_id: str) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    """``(finding, evidence)`` of lines with a match or review verdict, in feed order."""
    seq = 0
    while True:
        rows = conn.execute(
            "SELECT seq, finding, evidence FROM scan_items WHERE scan_id = ? AND seq >= ?"
            " AND verdict IN ('match', 'review') ORDER BY seq LIMIT ?",
            (scan_id, seq, PAGE),
        ).fetchall()
        if not rows:
            return
        for last, finding, evidence in rows:
            yield json.loads(finding), (json.loads(evidence) if evidence else {})
            seq = int(last) + 1


def _scan(row: tuple[Any, ...]) -> Scan:
    counts = dict(zip(VERDICTS, (int(v) for v in row[7:11]), strict=True))
    return Scan(
        id=row[0],
        feed_key=row[1],
        feed_digest=row[2],
        submitted_by=row[3],
        status=row[4],
        total=row[5],
        done=int(row[6]),
        counts=counts,
        error=row[11],
        created_at=row[12],
        updated_at=row[13],
    )
