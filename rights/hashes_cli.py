"""``rights hashes``: the registry's works as a PDQ hash list for other tools, and their lists looked up
here (``rights.hash_lists``)."""

from __future__ import annotations

import argparse
import codecs
import json
import sqlite3
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from itertools import islice
from pathlib import Path
from typing import TextIO

from rights.cli import (
    EXIT_FAILURE,
    EXIT_OK,
    EXIT_USAGE,
    UsageError,
    emit_json,
    existing_registry,
    int_argument,
    text_argument,
)
from rights.hash_lists import MAX_LOOKUP_DISTANCE, MAX_LOOKUP_LIMIT, PDQ_EXCHANGE_DISTANCE
from rights.output_files import written

FORMATS = ("pdq", "jsonl")
# Hash list lines read and looked up at a time: memory stays flat on a list of any length.
_LOOKUP_BATCH = 1000


def add_commands(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Add ``hashes export|match`` to the top-level commands ``sub``."""
    group = sub.add_parser(
        "hashes", help="PDQ hash lists: export the registry's, look up another tool's", parents=[common]
    )
    actions = group.add_subparsers(dest="hashes_command", required=True, metavar="ACTION")
    export = actions.add_parser(
        "export",
        help="every live work's PDQ hash, as a ThreatExchange signal file ('pdq <hex>' lines) or JSON Lines",
        parents=[common],
    )
    export.add_argument("--creator", type=text_argument, help="only this creator's works")
    export.add_argument(
        "--format",
        choices=FORMATS,
        default="pdq",
        help="pdq: one 'pdq <64 hex digits>' line per work (default); jsonl: one JSON object per work",
    )
    export.add_argument(
        "--out", type=Path, metavar="FILE", help="write here (whole or not at all), not stdout"
    )
    export.set_defaults(handler=cmd_hashes_export)
    match = actions.add_parser(
        "match",
        help="look up each PDQ hash of a signal file ('pdq <hex>' or bare hex lines); one JSON line each",
        parents=[common],
    )
    match.add_argument("file", metavar="FILE", help="the hash list; - reads standard input")
    match.add_argument(
        "--max-distance",
        type=lambda text: int_argument(
            text, 0, MAX_LOOKUP_DISTANCE, f"a whole number from 0 to {MAX_LOOKUP_DISTANCE}"
        ),
        default=PDQ_EXCHANGE_DISTANCE,
        metavar="BITS",
        help=f"largest distance that names a work (default {PDQ_EXCHANGE_DISTANCE}, as ThreatExchange)",
    )
    match.add_argument(
        "--limit",
        type=lambda text: int_argument(
            text, 1, MAX_LOOKUP_LIMIT, f"a whole number from 1 to {MAX_LOOKUP_LIMIT}"
        ),
        default=10,
        help="at most this many works per hash (default 10)",
    )
    match.set_defaults(handler=cmd_hashes_match)


def cmd_hashes_export(args: argparse.Namespace) -> int:
    from rights import hash_lists

    with _registry_db(args, creator=args.creator) as (conn, failed), _output(args.out) as out:
        for entry in hash_lists.exported(conn, creator=args.creator):
            text = (
                json.dumps(entry, ensure_ascii=False)
                if args.format == "jsonl"
                else hash_lists.signal_line(entry)
            )
            out.write(text + "\n")
    return _unhashed(failed)


def cmd_hashes_match(args: argparse.Namespace) -> int:
    from rights import hash_lists

    bad = 0
    with _input(args.file) as source, _registry_db(args) as (conn, failed):
        table = hash_lists.HashTable(conn)
        lines = hash_lists.parse_hash_list(source)
        while batch := list(islice(lines, _LOOKUP_BATCH)):
            found = iter(table.look_up(conn, [e.pdq for e in batch if e.pdq], args.max_distance, args.limit))
            for entry in batch:
                result = next(found) if entry.pdq else {"pdq": None, "matches": [], "error": entry.error}
                bad += result["error"] is not None
                emit_json({"line": entry.line, **result})
    return max(EXIT_USAGE if bad else EXIT_OK, _unhashed(failed))


@contextmanager
def _registry_db(
    args: argparse.Namespace, *, creator: str | None = None
) -> Iterator[tuple[sqlite3.Connection, list[str]]]:
    """The registry's database, with the exchange hash of every live work (of ``creator``) computed:
    a progress bar on a terminal while originals never hashed are read, and those that could not be
    read before tried again (an operator may have restored them). Yields the failures too."""
    from tqdm import tqdm

    from rights import db, hash_lists

    data_dir = existing_registry(args)
    conn = db.connect(data_dir)
    try:
        with tqdm(
            unit="work", desc="hashing originals", file=sys.stderr, disable=not sys.stderr.isatty()
        ) as bar:

            def progress(done: int, total: int) -> None:
                bar.total = total
                bar.update(done - bar.n)

            report = hash_lists.fill_missing(conn, data_dir, progress, creator=creator, retry=True)
        yield conn, report.failed
    finally:
        conn.close()


def _unhashed(failed: list[str]) -> int:
    """Works left out because their original could not be read: one line each, exit 1."""
    for message in failed:
        print(f"rights: error: {message}; the work is not in the list", file=sys.stderr)
    return EXIT_FAILURE if failed else EXIT_OK


@contextmanager
def _input(name: str) -> Iterator[TextIO]:
    if name == "-":
        yield sys.stdin
        return
    try:
        with open(name, "rb") as probe:
            start = probe.read(2)
    except (IsADirectoryError, PermissionError) as exc:  # the argument is wrong: exit 2, as elsewhere
        raise UsageError(f"{name}: {exc.strerror or exc}") from None
    # Windows editors start UTF-8 with a byte-order mark, and save "Unicode" text as UTF-16.
    utf16 = start in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
    with open(name, encoding="utf-16" if utf16 else "utf-8-sig", errors="replace") as fh:
        yield fh


@contextmanager
def _output(path: Path | None) -> Iterator[TextIO]:
    """Standard output (no ``--out``, or ``-``), or a file that appears whole once everything is
    written (a temporary file beside it, renamed), so an interrupted export never leaves a list that
    looks complete."""
    if path is None or str(path) == "-":
        yield sys.stdout
        sys.stdout.flush()
        return
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise UsageError(f"{folder}: no such folder for --out")
    if path.is_dir():
        raise UsageError(f"{path} is a folder; --out wants a file name")
    with written(path, "the hash list") as fh:
        yield fh
