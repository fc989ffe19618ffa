"""The works and licences tables against the log: each work's owner, bytes, fingerprint digest,
title, registration time and whether it is withdrawn, and each licence's work, licensee, platform
and expiry, are what their log entries record.

``verify_log`` proves the log itself untouched; the works table beside it is what matching, cases and
notices read. An edit there (another creator's name on a work, a work marked withdrawn without a
withdrawal) changed who owns a copy and whether it is found, and the log still verified (an audit).
A licence row inserted by SQL whitelisted a pirate seller in every match, and a backdated
``registered_at`` or another title printed in takedown notices, with the log still verifying (an
audit). One pass over the log keeps, per work, its register entry's index, a digest of the fields the
table must agree with, its title and time, and its withdrawal entry's index, and every licence entry;
then each row of the tables is compared.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from typing import Any

from rights.works import format_work_id, parse_work_id


def first_disagreement(conn: sqlite3.Connection) -> tuple[int, str] | None:
    """The log index and a description of the first work whose row disagrees with the log (by work
    id), or None when the table and the log agree. Assumes the log itself verified."""
    # key -> [register index, digest of (creator, sha256, fingerprint digest), withdrawal index]
    logged: dict[int, list[Any]] = {}
    registered: dict[int, dict[str, Any]] = {}  # key -> its register entry
    licences: dict[str, tuple[int, dict[str, Any]]] = {}  # licence id -> (index, entry)
    for idx, raw in conn.execute("SELECT idx, entry FROM log_entries ORDER BY idx"):
        entry = json.loads(raw)
        kind = entry.get("kind")
        if kind == "license":
            licences[str(entry.get("license_id"))] = (idx, entry)
            continue
        if kind not in ("register", "refingerprint", "withdraw"):
            continue
        key = parse_work_id(entry["work_id"])
        if kind == "register":
            logged[key] = [
                idx,
                _digest(entry["creator"], entry["work_sha256"], entry["fingerprint_digest"]),
                None,
            ]
            registered[key] = entry
        elif key in logged:
            if kind == "refingerprint":
                logged[key][1] = _digest(entry["creator"], entry["work_sha256"], entry["fingerprint_digest"])
            else:
                logged[key][2] = idx
    rows = conn.execute(
        "SELECT id, creator, sha256, fp_digest, status, log_index, title, registered_at"
        " FROM works ORDER BY id"
    )
    for row in rows:
        work = format_work_id(row["id"])
        state = logged.pop(row["id"]) if row["id"] in logged else None
        if state is None:
            return max(
                0, int(row["log_index"])
            ), f"the works table holds {work}, which no log entry registers"
        register_idx, fields, withdrawn_at = state
        if row["log_index"] != register_idx:
            return register_idx, f"the works table says {work} was registered at entry {row['log_index']}"
        if _digest(row["creator"], row["sha256"], row["fp_digest"]) != fields:
            return register_idx, _which_field(conn, register_idx, row)
        entry = registered[row["id"]]
        for column, field, name in (
            ("title", "title", "title"),
            ("registered_at", "time", "registration time"),
        ):
            if field in entry and row[column] != entry[field]:
                return (
                    register_idx,
                    f"the works table gives {work} the {name} {row[column]!r}; the log: {entry[field]!r}",
                )
        if (row["status"] == "withdrawn") != (withdrawn_at is not None):
            said = "withdrawn" if withdrawn_at is not None else "not withdrawn"
            return (
                withdrawn_at or register_idx,
                f"the works table says {work} is {row['status']}; the log: {said}",
            )
    if logged:
        key, (register_idx, _, _) = min(logged.items(), key=lambda item: item[1][0])
        return (
            register_idx,
            f"log entry {register_idx} registers {format_work_id(key)}, which the works table lacks",
        )
    return _first_licence_disagreement(conn, licences)


def _first_licence_disagreement(
    conn: sqlite3.Connection, logged: dict[str, tuple[int, dict[str, Any]]]
) -> tuple[int, str] | None:
    rows = conn.execute(
        "SELECT id, work_id, licensee, platform, expires_at, log_index FROM licenses ORDER BY id"
    )
    for row in rows:
        licence = f"l_{row['id']}"
        if licence not in logged:
            return max(
                0, int(row["log_index"])
            ), f"the licences table holds {licence}, which no log entry records"
        idx, entry = logged.pop(licence)
        if row["log_index"] != idx:
            return idx, f"the licences table says {licence} was logged at entry {row['log_index']}"
        for column, field, value in (
            ("work_id", "work_id", format_work_id(row["work_id"])),
            ("licensee", "licensee", row["licensee"]),
            ("platform", "platform", row["platform"]),
            ("expires_at", "expires_at", row["expires_at"]),
        ):
            if value != entry.get(field):
                return (
                    idx,
                    f"the licences table gives {licence} the {column} {value!r};"
                    f" the log: {entry.get(field)!r}",
                )
    if logged:
        licence, (idx, _) = min(logged.items(), key=lambda item: item[1][0])
        return idx, f"log entry {idx} records licence {licence}, which the licences table lacks"
    return None


def _digest(creator: str, sha256: str, fp_digest: str) -> bytes:
    return hashlib.blake2b(f"{creator}\n{sha256}\n{fp_digest}".encode(), digest_size=16).digest()


def _which_field(conn: sqlite3.Connection, register_idx: int, row: sqlite3.Row) -> str:
    """Which of the owner, the bytes or the fingerprint differs (the latest refingerprint entry wins)."""
    work = format_work_id(row["id"])
    entries = [
        json.loads(r[0])
        for r in conn.execute("SELECT entry FROM log_entries WHERE idx >= ?", (register_idx,))
    ]
    mine = [e for e in entries if e.get("work_id") == work and e.get("kind") in ("register", "refingerprint")]
    latest = mine[-1]
    for column, field, name in (
        ("creator", "creator", "creator"),
        ("sha256", "work_sha256", "SHA-256"),
        ("fp_digest", "fingerprint_digest", "fingerprint digest"),
    ):
        if row[column] != latest[field]:
            return f"the works table gives {work} the {name} {row[column]!r}; the log: {latest[field]!r}"
    return f"the works table disagrees with the log about {work}"  # pragma: no cover - digest collision
