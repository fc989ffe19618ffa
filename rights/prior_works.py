"""A `match` for a contested work is a `match` for the works it was found to copy.

A work registered as ``contested`` was judged, at registration, a copy (same bytes or a near-duplicate
at `match`) of earlier works by other creators; its conflicts name them. A listing showing the contested
work's picture shows theirs too, but the engine may report them only at `review`, or not at all: the
contested work's own file explains the listing better (an exact or a closer match), and a work found
inside a better-explained one is explained away (``indexes.verdicts``). Without this rule a copier could
register an edited copy and list exactly that file: the contested work opens no case, and the original's
creator would get none either. The prior work's score is the weaker of the two links, so both had to
reach `match`.

A listing that shows the contested work whole (its file, or a near-duplicate) shows every prior work
in it. One that shows only part of it (a ``partial`` match) is passed on only to prior works covering
most of the contested one: a collage that holds the prior work in a corner is contested too, but a
listing showing another part of it does not show the prior work (an audit had a listing of the
copier's own half name the original), while a copier who registers a page holding the original in a
corner and lists that page must not hide the original (a later audit: no case opened). And the
listing is never the prior work's own file: an `exact` link is passed on as `near` or `partial`.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from typing import Any

from indexes import Fingerprint
from rights.works import format_work_id, parse_work_id

# Conflicts followed from one match: a copy of a copy of a copy is still named, and a cycle ends.
_MAX_HOPS = 3
# Share of the contested work's area the prior work must cover for its matches to name the prior.
_COVER = 0.6


def with_prior_works(
    conn: sqlite3.Connection, matches: list[dict[str, Any]], licensed: Callable[[list[int]], set[int]]
) -> list[dict[str, Any]]:
    """``matches`` (contract match objects) with each contested `match`'s prior works at `match` too,
    where they were missing or weaker; ``licensed`` says which work keys the listing may use."""
    found = {m["work_id"]: m for m in matches}
    frontier = [m for m in matches if m["verdict"] == "match"]
    for _ in range(_MAX_HOPS):
        added = []
        for m in frontier:
            whole = m["kind"] in ("exact", "near")
            for prior in _priors(conn, parse_work_id(m["work_id"])):
                if not (whole or prior["covers"]):
                    continue
                score = min(float(m["score"]), float(prior["score"]))
                # The listing is the contested file: the prior work lies where it was found in it.
                inside = m["kind"] == "exact" and not prior["covers"] and prior["region"] is not None
                known = found.get(prior["work_id"])
                if known is not None and (known["verdict"] == "match" and known["score"] >= score):
                    continue
                found[prior["work_id"]] = {
                    "work_id": prior["work_id"],
                    "creator": prior["creator"],
                    "title": prior["title"],
                    "score": score,
                    "verdict": "match",
                    "kind": "near" if whole and prior["covers"] else "partial",
                    "region": prior["region"] if inside else m["region"],
                    "licensed": False,
                }
                added.append(found[prior["work_id"]])
        if not added:
            break
        for entry, free in zip(added, _licensed_flags(added, licensed), strict=True):
            entry["licensed"] = free
        frontier = added
    return sorted(found.values(), key=lambda m: (-m["score"], parse_work_id(m["work_id"])))


def _priors(conn: sqlite3.Connection, key: int) -> list[dict[str, Any]]:
    """The live works a contested work ``key`` was found to copy, by other creators (none if it is
    not contested), each with whether it covers most of the contested work and where it lies in it."""
    rows = conn.execute(
        "SELECT p.id, p.creator, p.title, c.score, c.kind, c.region, w.fingerprint FROM works w"
        " JOIN work_conflicts c ON c.work_id = w.id JOIN works p ON p.id = c.prior_work_id"
        " WHERE w.id = ? AND w.status = 'contested' AND p.status != 'withdrawn'"
        " AND c.verdict = 'match' AND p.creator != w.creator",
        (key,),
    ).fetchall()
    return [
        {
            "work_id": format_work_id(r["id"]),
            "creator": r["creator"],
            "title": r["title"],
            "score": r["score"],
            "covers": _covers(r["kind"], r["region"], r["fingerprint"]),
            "region": json.loads(r["region"]) if r["region"] else None,
        }
        for r in rows
    ]


def _covers(kind: str, region_json: str | None, fingerprint: bytes) -> bool:
    """Whether the prior work covers most of the contested one: the whole picture (``exact``,
    ``near``), or a ``partial`` placement over ``_COVER`` of its area."""
    if kind in ("exact", "near"):
        return True
    if not region_json:
        return False
    _, _, w, h = json.loads(region_json)
    width, height = Fingerprint.from_bytes(fingerprint).size
    return bool(w * h >= _COVER * width * height)


def _licensed_flags(entries: list[dict[str, Any]], licensed: Callable[[list[int]], set[int]]) -> list[bool]:
    keys = [parse_work_id(e["work_id"]) for e in entries]
    free = licensed(keys)
    return [k in free for k in keys]
