"""Infringement cases: one per (registered work, marketplace listing), with a checked life cycle.

A scan that finds a registered work in a listing calls :func:`record_hit`. The same listing seen again
by a later scan updates the case, never duplicates it. A licensed use is recorded as ``licensed`` and
never opens a case. Status changes go through :func:`change_status`, which refuses moves that make
no sense (a dismissed case cannot be "taken down") and keeps every change in ``case_events``.

    open ──> notified ──> taken_down
      │  ╲       │  ╲         │
      │   ╲      │   ╲        └──> open       (the listing came back)
      v    v     v    v
   dismissed  licensed  ──> open             (licence ended, dismissal reconsidered)

A later scan that finds the work in the same listing again moves the case itself: to ``licensed``
when a licence now covers the use (from open, notified or taken down), back to ``open`` when a
licensed case's licence no longer does or a taken-down listing is back. Dismissed cases stay so, and
so do cases the owner marked ``licensed`` by hand (a licence agreed outside the registry). Granting
a licence moves the work's cases it covers to ``licensed`` at once (:func:`settle_licensed`).
Withdrawing a work dismisses its open and notified cases (:func:`dismiss_withdrawn`), and its cases
move on only to ``dismissed`` or ``licensed`` after that.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Any

from rights.db import utcnow
from rights.errors import BadInput, Conflict, NotFound
from rights.licenses import licensed_keys
from rights.text import has_controls_besides_breaks
from rights.works import format_work_id, parse_work_id

__all__ = [
    "STATUSES",
    "TRANSITIONS",
    "Case",
    "case_events",
    "change_status",
    "count_by_status",
    "dismiss_withdrawn",
    "get_case",
    "list_cases",
    "record_hit",
    "settle_licensed",
    "why_no_notice",
]

STATUSES = ("open", "notified", "taken_down", "dismissed", "licensed")
TRANSITIONS: dict[str, frozenset[str]] = {
    "open": frozenset({"notified", "dismissed", "licensed"}),
    "notified": frozenset({"taken_down", "dismissed", "licensed", "open"}),
    "taken_down": frozenset({"open"}),
    "dismissed": frozenset({"open"}),
    "licensed": frozenset({"open"}),
}

# Actors of the moves the registry makes itself; any other actor is an account's decision.
SYSTEM_ACTORS = frozenset({"scan", "licence", "withdrawal"})
# Where a withdrawn work's case may still move: the holder no longer claims the work, so nothing
# may restart a takedown for it.
_AFTER_WITHDRAWAL = frozenset({"dismissed", "licensed"})

_COLUMNS = (
    "id, work_id, creator, work_title, platform, listing_id, listing_url, listing_title, seller, image,"
    " status, score, kind, evidence, first_scan_id, last_scan_id, created_at, updated_at"
)


@dataclass(frozen=True)
class Case:
    id: int
    work_id: str  # the contract's spelling, "w_12"
    creator: str
    work_title: str | None
    platform: str
    listing_id: str
    listing_url: str | None
    listing_title: str | None
    seller: str | None
    image: str | None
    status: str
    score: float
    kind: str | None
    evidence: dict[str, Any]
    first_scan_id: str | None
    last_scan_id: str | None
    created_at: str
    updated_at: str

    def to_dict(self, *, with_images: bool = False) -> dict[str, Any]:
        """JSON form for the API; thumbnails only on request (they are most of the bytes)."""
        out = {k: v for k, v in self.__dict__.items() if k != "evidence"}
        evidence = dict(self.evidence)
        if not with_images:
            evidence = {k: v for k, v in evidence.items() if not k.endswith("_thumb")}
        out["evidence"] = evidence
        return out


def record_hit(
    conn: sqlite3.Connection,
    *,
    match: dict[str, Any],
    listing: dict[str, Any],
    evidence: dict[str, Any],
    scan_id: str | None = None,
) -> Case | None:
    """Open (or refresh) the case for one ``match``-verdict contract match found in ``listing``.

    ``listing`` needs ``listing_id`` and ``platform``; ``url``, ``title``, ``seller``, ``image`` are
    copied when present. Call it inside ``rights.db.transaction``.

    A ``contested`` work opens no case (None): whoever registered it second may be the copier, and
    takedowns on its behalf could hit the original creator's own listings. Its matches are still
    reported; the earlier work they copy opens the case.
    """
    if match.get("verdict") != "match":
        raise BadInput("only match verdicts open cases", verdict=match.get("verdict"))
    work_id = parse_work_id(match["work_id"])
    status_row = conn.execute("SELECT status FROM works WHERE id = ?", (work_id,)).fetchone()
    # Contested: the registry takes no side. Withdrawn: the match was found just before a withdrawal
    # that committed first (a scan reads the works, then waits for the write lock).
    if status_row is not None and status_row[0] in ("contested", "withdrawn"):
        return None
    platform, listing_id = str(listing["platform"]), str(listing["listing_id"])
    now = utcnow()
    score = float(match["score"])
    initial = "licensed" if match.get("licensed") else "open"
    evidence = {**evidence, "score": score, "region": match.get("region"), "kind": match.get("kind")}
    row = conn.execute(
        "SELECT id, score, status FROM cases WHERE work_id = ? AND platform = ? AND listing_id = ?",
        (work_id, platform, listing_id),
    ).fetchone()
    if row is None:
        cur = conn.execute(
            "INSERT INTO cases (work_id, creator, work_title, platform, listing_id, listing_url,"
            " listing_title, seller, image, status, score, kind, evidence, first_scan_id, last_scan_id,"
            " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                work_id,
                str(match.get("creator") or ""),
                match.get("title"),
                platform,
                listing_id,
                _text(listing.get("url")),
                _text(listing.get("title")),
                _text(listing.get("seller")),
                _text(listing.get("image")),
                initial,
                score,
                match.get("kind"),
                json.dumps(evidence),
                scan_id,
                scan_id,
                now,
                now,
            ),
        )
        case_id = int(cur.lastrowid or 0)
        _event(conn, case_id, None, initial, actor="scan", note=scan_id)
        return get_case(conn, case_id)
    case_id, old_score, status = int(row[0]), float(row[1]), str(row[2])
    if score > old_score:
        # Keep the strongest evidence seen: it is what a notice will show.
        conn.execute(
            "UPDATE cases SET score = ?, kind = ?, evidence = ? WHERE id = ?",
            (score, match.get("kind"), json.dumps(evidence), case_id),
        )
    by_hand = status == "licensed" and _licensed_by_hand(conn, case_id)
    moved = _rescanned(status, licensed=bool(match.get("licensed")), by_hand=by_hand)
    if moved is not None:
        new_status, why = moved
        conn.execute("UPDATE cases SET status = ? WHERE id = ?", (new_status, case_id))
        _event(conn, case_id, status, new_status, actor="scan", note=f"{why} ({scan_id})")
    # The listing as last seen: a seller, title or address it gained or changed since the first scan
    # is what its notice and its licence check must use (they kept the first sighting's, so a case a
    # new seller's listing reopened could get no notice: "a licence covers the listing").
    conn.execute(
        "UPDATE cases SET last_scan_id = ?, updated_at = ?, listing_url = COALESCE(?, listing_url),"
        " listing_title = COALESCE(?, listing_title), seller = COALESCE(?, seller),"
        " image = COALESCE(?, image) WHERE id = ?",
        (
            scan_id,
            now,
            *(_text(listing.get(key)) or None for key in ("url", "title", "seller", "image")),
            case_id,
        ),
    )
    return get_case(conn, case_id)


def _rescanned(status: str, *, licensed: bool, by_hand: bool = False) -> tuple[str, str] | None:
    """Where a later scan's `match` on the same listing moves a case, and why; None: it stays.

    A dismissal is the owner's decision, so no scan reverses it; nor a case marked licensed by hand
    (``by_hand``), which no recorded licence covers."""
    if licensed and status in ("open", "notified", "taken_down"):
        return "licensed", "licence found"
    if not licensed and status == "licensed" and not by_hand:
        return "open", "no licence covers this listing any more"
    if not licensed and status == "taken_down":
        return "open", "the listing came back"
    return None


def _licensed_by_hand(conn: sqlite3.Connection, case_id: int) -> bool:
    # The last move to `licensed`: a note added to a licensed case later moved nothing.
    row = conn.execute(
        "SELECT actor FROM case_events WHERE case_id = ? AND to_status = 'licensed'"
        " AND from_status IS NOT 'licensed' ORDER BY id DESC LIMIT 1",
        (case_id,),
    ).fetchone()
    return row is not None and row[0] not in SYSTEM_ACTORS


def settle_licensed(conn: sqlite3.Connection, work_key: int, *, note: str) -> list[int]:
    """Move the work's open, notified and taken-down cases that a licence now covers to ``licensed``
    (a grant calls it, in its transaction); returns their ids. Before, they stayed as they were until
    a scan saw the listing again, and their takedown notices could still be sent to the licensee."""
    rows = conn.execute(
        "SELECT id, status, platform, seller FROM cases"
        " WHERE work_id = ? AND status IN ('open', 'notified', 'taken_down') ORDER BY id",
        (work_key,),
    ).fetchall()
    moved = []
    for case_id, status, platform, seller in rows:
        if licensed_keys(conn, [work_key], platform=platform, seller=seller):
            _set_status(conn, case_id, status, "licensed", actor="licence", note=note)
            moved.append(int(case_id))
    return moved


def dismiss_withdrawn(conn: sqlite3.Connection, work_key: int, *, note: str) -> list[int]:
    """Dismiss the work's open and notified cases (a withdrawal calls it, in its transaction);
    returns their ids. Before, they stayed open in the owner's list with no notice possible.
    Taken-down and licensed cases are history and stay as they are."""
    rows = conn.execute(
        "SELECT id, status FROM cases WHERE work_id = ? AND status IN ('open', 'notified') ORDER BY id",
        (work_key,),
    ).fetchall()
    for case_id, status in rows:
        _set_status(conn, case_id, status, "dismissed", actor="withdrawal", note=note)
    return [int(r[0]) for r in rows]


def why_no_notice(conn: sqlite3.Connection, case: Case) -> str | None:
    """Why a takedown notice for ``case`` would be wrong to send, if it would: a notice against a
    licensed or dismissed use misrepresents it (DMCA §512(f))."""
    if case.status in ("licensed", "dismissed"):
        return f"case {case.id} is {case.status}; a takedown notice would contradict that"
    if licensed_keys(conn, [parse_work_id(case.work_id)], platform=case.platform, seller=case.seller):
        return f"a licence covers the listing of case {case.id}; a takedown notice would contradict it"
    return None


_MAX_ROWID = 2**63 - 1


def get_case(conn: sqlite3.Connection, case_id: int) -> Case:
    if not 0 < case_id <= _MAX_ROWID:  # SQLite cannot even bind a larger integer
        raise NotFound(f"no case {case_id}", case_id=case_id)
    row = conn.execute(f"SELECT {_COLUMNS} FROM cases WHERE id = ?", (case_id,)).fetchone()
    if row is None:
        raise NotFound(f"no case {case_id}", case_id=case_id)
    return _case(row)


def list_cases(
    conn: sqlite3.Connection,
    *,
    creator: str | None = None,
    status: str | None = None,
    after_id: int = 0,
    limit: int = 100,
) -> list[Case]:
    """Cases in id order; ``creator=None`` lists everyone's (admin)."""
    if status is not None and status not in STATUSES:
        raise BadInput(f"unknown case status {status!r}; one of {', '.join(STATUSES)}")
    sql = f"SELECT {_COLUMNS} FROM cases WHERE id > ?"
    params: list[Any] = [after_id]
    if creator is not None:
        sql += " AND creator = ?"
        params.append(creator)
    if status is not None:
        sql += " AND status = ?"
        params.append(status)
    sql += " ORDER BY id LIMIT ?"
    params.append(max(1, min(limit, 1000)))
    return [_case(r) for r in conn.execute(sql, params)]


def change_status(
    conn: sqlite3.Connection,
    case_id: int,
    new_status: str,
    *,
    actor: str | None = None,
    note: str | None = None,
) -> Case:
    """Move a case along its life cycle; :class:`Conflict` for a move the diagram does not allow."""
    if new_status not in STATUSES:
        raise BadInput(f"unknown case status {new_status!r}; one of {', '.join(STATUSES)}", case_id=case_id)
    if note is not None and has_controls_besides_breaks(note):
        raise BadInput("note must not contain control characters other than line breaks and tabs")
    case = get_case(conn, case_id)
    if new_status == case.status:
        # Already there: nothing moves, but a note given with it is kept in the history (it was lost).
        if note:
            _event(conn, case_id, case.status, new_status, actor=actor, note=note)
        return case
    if new_status not in TRANSITIONS[case.status]:
        allowed = ", ".join(sorted(TRANSITIONS[case.status]))
        raise Conflict(
            f"case {case_id} is {case.status}; it can move to {allowed}, not {new_status}",
            case_id=case_id,
        )
    if new_status not in _AFTER_WITHDRAWAL and _withdrawn(conn, case.work_id):
        # Name only the moves left from where the case is: a taken-down case has none (an audit).
        left = sorted(TRANSITIONS[case.status] & _AFTER_WITHDRAWAL)
        moves = f"can only move to {', '.join(left)}" if left else "cannot move any more"
        raise Conflict(f"work {case.work_id} was withdrawn; case {case_id} {moves}", case_id=case_id)
    _set_status(conn, case_id, case.status, new_status, actor=actor, note=note)
    return get_case(conn, case_id)


def count_by_status(conn: sqlite3.Connection, *, scan_id: str | None = None) -> dict[str, int]:
    """Cases per status, optionally only those last seen by ``scan_id``."""
    sql = "SELECT status, count(*) FROM cases"
    params: tuple[Any, ...] = ()
    if scan_id is not None:
        sql += " WHERE last_scan_id = ?"
        params = (scan_id,)
    counts = dict(conn.execute(sql + " GROUP BY status", params).fetchall())
    return {status: int(counts[status]) for status in STATUSES if status in counts}


def case_events(conn: sqlite3.Connection, case_id: int) -> list[dict[str, Any]]:
    rows = conn.execute(
        "SELECT at, from_status, to_status, actor, note FROM case_events WHERE case_id = ? ORDER BY id",
        (case_id,),
    )
    return [{"at": r[0], "from": r[1], "to": r[2], "actor": r[3], "note": r[4]} for r in rows]


def _set_status(
    conn: sqlite3.Connection, case_id: int, old: str, new: str, *, actor: str | None, note: str | None
) -> None:
    """Move a case and record the move (callers have checked that it is allowed)."""
    conn.execute("UPDATE cases SET status = ?, updated_at = ? WHERE id = ?", (new, utcnow(), case_id))
    _event(conn, case_id, old, new, actor=actor, note=note)


def _event(
    conn: sqlite3.Connection, case_id: int, old: str | None, new: str, *, actor: str | None, note: str | None
) -> None:
    conn.execute(
        "INSERT INTO case_events (case_id, at, from_status, to_status, actor, note)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (case_id, utcnow(), old, new, actor, note),
    )


def _withdrawn(conn: sqlite3.Connection, work_id: str) -> bool:
    row = conn.execute("SELECT status FROM works WHERE id = ?", (parse_work_id(work_id),)).fetchone()
    return row is not None and row[0] == "withdrawn"


def _case(row: tuple[Any, ...]) -> Case:
    values = list(row)
    values[1] = format_work_id(int(values[1]))
    values[13] = json.loads(values[13])
    return Case(*values)


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None
