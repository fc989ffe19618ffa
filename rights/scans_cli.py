"""``rights scans list`` and ``rights scans prune``: the scans the registry keeps, and letting old ones go.

A scan stores every line's finding in the database, so that a killed scan resumes where it stopped and
``GET /v1/scans/{id}/findings`` can serve it later: about 0.5 KB a line, half a gigabyte for a million-line
feed (BENCHMARKS.md). Nothing deletes them behind the user's back; ``prune`` deletes the finished scans
older than a cut-off, with their stored findings and the feed file if it was uploaded over HTTP. Cases
stay: each keeps its own copy of the evidence, and notices are made from cases.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from rights import db, scans
from rights.cli import EXIT_OK, emit_json, existing_registry, int_argument, positive_int

# Findings deleted per transaction: a million-line scan goes in ~15 s of short transactions, so a
# scan running meanwhile never waits long for the write lock (one 1M-row delete held it 17 s).
PRUNE_BATCH = 10_000
_MAX_DAYS = 36_500


def add_commands(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Add ``scans list`` and ``scans prune`` to the top-level commands ``sub``."""
    group = sub.add_parser("scans", help="stored scans: list them, or prune finished ones", parents=[common])
    actions = group.add_subparsers(dest="scans_command", required=True, metavar="ACTION")
    listing = actions.add_parser("list", help="one JSON line per scan, newest first", parents=[common])
    listing.add_argument("--limit", type=positive_int, help="at most this many scans")
    listing.set_defaults(handler=cmd_scans_list)
    prune = actions.add_parser(
        "prune",
        help="delete finished scans older than --older-than days, with their stored findings (cases stay)",
        parents=[common],
    )
    prune.add_argument(
        "--older-than",
        type=_days,
        required=True,
        metavar="DAYS",
        help="finished (last updated) more than this many days ago; 0 means every finished scan",
    )
    prune.add_argument("--dry-run", action="store_true", help="list what would be deleted, delete nothing")
    prune.set_defaults(handler=cmd_scans_prune)


def cmd_scans_list(args: argparse.Namespace) -> int:
    conn = db.connect(existing_registry(args))
    try:
        for scan in scans.list_scans(conn, limit=args.limit):
            emit_json(_described(scan))
    finally:
        conn.close()
    return EXIT_OK


def cmd_scans_prune(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    data_dir = existing_registry(args)
    cutoff = db.stored_time(datetime.now(UTC) - timedelta(days=args.older_than))
    conn = db.connect(data_dir)
    try:
        old = scans.list_scans(conn, done_before=cutoff)
        if args.dry_run:
            for scan in old:
                emit_json(_described(scan))
            feeds = sum(_uploaded_feed(data_dir, scan) is not None for scan in old)
            emit_json(
                {"scans": len(old), "findings": sum(s.done for s in old), "feeds": feeds, "dry_run": True}
            )
            return EXIT_OK
        findings = feeds = 0
        total = sum(s.done for s in old)
        with tqdm(
            total=total, unit="finding", desc="pruning", file=sys.stderr, disable=not sys.stderr.isatty()
        ) as bar:
            for scan in old:
                # Findings first, in short transactions; the scan row last, so that a prune cut short
                # leaves the scan listed (with part of its findings) and the next prune finishes it.
                while True:
                    with db.transaction(conn):
                        gone = scans.delete_items(conn, scan.id, PRUNE_BATCH)
                    findings += gone
                    bar.update(gone)
                    if gone < PRUNE_BATCH:
                        break
                with db.transaction(conn):
                    scans.delete_scan(conn, scan.id)
                feeds += _delete_uploaded_feed(data_dir, scan)
        emit_json({"scans": len(old), "findings": findings, "feeds": feeds, "dry_run": False})
    finally:
        conn.close()
    return EXIT_OK


def _described(scan: scans.Scan) -> dict[str, object]:
    return {**scan.to_dict(), "feed": scan.feed_key, "submitted_by": scan.submitted_by}


def _delete_uploaded_feed(data_dir: Path, scan: scans.Scan) -> int:
    """Delete the feed an HTTP client uploaded for ``scan``; 1 if it was there."""
    feed = _uploaded_feed(data_dir, scan)
    if feed is None:
        return 0
    feed.unlink()
    return 1


def _uploaded_feed(data_dir: Path, scan: scans.Scan) -> Path | None:
    """The stored file of a feed an HTTP client uploaded for ``scan`` (the server named it), if any."""
    if not scan.feed_key.startswith("upload:"):
        return None
    name = scan.feed_key.removeprefix("upload:")
    if Path(name).name != name or name in ("", ".", ".."):
        return None  # not a name the server gave: never follow it out of the feeds folder
    feed = data_dir / scans.FEEDS_DIRNAME / name
    return feed if feed.is_file() else None


def _days(text: str) -> int:
    return int_argument(text, 0, _MAX_DAYS, f"a whole number of days from 0 to {_MAX_DAYS}")
