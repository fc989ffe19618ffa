"""Rows of the ``works`` and ``work_conflicts`` tables as the contract's JSON, and work id spelling.

Why ``w_<n>`` outside and ``n`` inside: the engine and SQL want dense ints; users and URLs get a prefixed
string that cannot be confused with a log index or a licence id.
"""

from __future__ import annotations

import json
import re
import sqlite3
from typing import Any

from rights.errors import NotFound

WORK_ID_PREFIX = "w_"
_WORK_ID = re.compile(r"w_([1-9][0-9]{0,14})")  # fullmatch: one spelling per work


def format_work_id(key: int) -> str:
    return f"{WORK_ID_PREFIX}{key}"


def parse_work_id(work_id: str | int) -> int:
    """``"w_12"`` (or the bare int 12) → 12; anything else is a work that does not exist."""
    if isinstance(work_id, int) and not isinstance(work_id, bool):
        return work_id
    m = _WORK_ID.fullmatch(str(work_id))
    if not m:
        raise NotFound(f"no work {work_id!r}: work ids look like 'w_12'", work_id=str(work_id))
    return int(m.group(1))


def fetch_row(conn: sqlite3.Connection, key: int) -> sqlite3.Row:
    row = conn.execute("SELECT * FROM works WHERE id = ?", (key,)).fetchone()
    if row is None:
        raise NotFound(f"no work {format_work_id(key)}", work_id=format_work_id(key))
    return row


def live_row(conn: sqlite3.Connection, creator: str, sha256: str) -> sqlite3.Row | None:
    return conn.execute(
        "SELECT * FROM works WHERE creator = ? AND sha256 = ? AND status != 'withdrawn'", (creator, sha256)
    ).fetchone()


def to_json(conn: sqlite3.Connection, row: sqlite3.Row) -> dict[str, Any]:
    return {
        "work_id": format_work_id(row["id"]),
        "creator": row["creator"],
        "title": row["title"],
        "sha256": row["sha256"],
        "registered_at": row["registered_at"],
        "status": row["status"],
        "conflicts": conflicts_of(conn, row["id"]),
        "log_index": row["log_index"],
        "fingerprint_digest": row["fp_digest"],
        "metadata": json.loads(row["metadata"]),
        "withdrawn_at": row["withdrawn_at"],
    }


def conflict_json(prior: sqlite3.Row, score: float, verdict: str, kind: str, region: Any) -> dict[str, Any]:
    """A contract match object for a prior work, plus when and where in the log it was registered."""
    return {
        "work_id": format_work_id(prior["id"]),
        "creator": prior["creator"],
        "title": prior["title"],
        "score": score,
        "verdict": verdict,
        "kind": kind,
        "region": list(region) if region is not None else None,
        "licensed": False,
        "log_index": prior["log_index"],
        "registered_at": prior["registered_at"],
    }


def conflicts_of(conn: sqlite3.Connection, key: int) -> list[dict[str, Any]]:
    rows = conn.execute(
        "SELECT c.score, c.verdict, c.kind, c.region, w.* FROM work_conflicts c"
        " JOIN works w ON w.id = c.prior_work_id WHERE c.work_id = ? ORDER BY c.score DESC, w.id",
        (key,),
    ).fetchall()
    out = []
    for r in rows:
        region = json.loads(r["region"]) if r["region"] else None
        out.append(conflict_json(r, r["score"], r["verdict"], r["kind"], region))
    return out


def insert_conflicts(conn: sqlite3.Connection, key: int, conflicts: list[dict[str, Any]]) -> None:
    for c in conflicts:
        conn.execute(
            "INSERT INTO work_conflicts (work_id, prior_work_id, score, verdict, kind, region)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (
                key,
                parse_work_id(c["work_id"]),
                c["score"],
                c["verdict"],
                c["kind"],
                json.dumps(c["region"]) if c["region"] is not None else None,
            ),
        )
