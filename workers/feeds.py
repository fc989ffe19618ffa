"""Read a listing feed (JSON Lines or CSV) one line at a time.

Feeds can be millions of lines, so nothing here holds the whole file: :func:`read_feed` is a generator
of ``(line_no, Listing | FeedError)``. A bad line becomes a :class:`FeedError` carrying its line number
and the scan goes on (the contract: "a bad line is a finding with verdict error").
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import json
import sqlite3
from collections import deque
from collections.abc import Generator, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, cast

from rights import json_input
from rights.errors import BadInput

__all__ = ["FeedError", "Listing", "feed_digest", "parse_listing", "read_feed", "resolve_image"]

REQUIRED = ("listing_id", "platform", "image")
OPTIONAL_TEXT = ("url", "title", "seller", "price")
_CONTRACT_COLUMNS = frozenset(REQUIRED + OPTIONAL_TEXT)
# A listing id longer than this is not an id; it also keeps one bad line from bloating the DB.
MAX_ID_CHARS = 512
# A JSON Lines listing is a few hundred bytes; a 20 MB title was copied into the findings, the case
# and the report. Python's csv refuses fields over 128 KiB the same way.
MAX_LINE_BYTES = 1 << 20


@dataclass(frozen=True)
class Listing:
    """One good feed line. ``image`` is an absolute local path or an http(s) URL."""

    listing_id: str
    platform: str
    image: str
    raw: dict[str, Any] = field(default_factory=dict)  # every key of the line, unknown ones included

    @property
    def is_url(self) -> bool:
        return self.image.startswith(("http://", "https://"))

    @property
    def seller(self) -> str | None:
        value = self.raw.get("seller")
        return value if isinstance(value, str) else None

    @property
    def title(self) -> str | None:
        value = self.raw.get("title")
        return value if isinstance(value, str) else None


@dataclass(frozen=True)
class FeedError:
    """A line that could not become a listing. ``listing_id``/``platform`` are kept when readable."""

    line_no: int
    message: str
    listing_id: str | None = None
    platform: str | None = None
    image: str | None = None
    raw: dict[str, Any] = field(default_factory=dict)  # the line's keys, when it was an object


def read_feed(
    path: Path, *, allowed_roots: Iterable[Path] | None = None, platform: str | None = None
) -> Generator[tuple[int, Listing | FeedError], None, None]:
    """Stream ``path``; CSV if it ends in ``.csv`` or its first line is a CSV header naming the
    contract's columns, JSON Lines otherwise. Line numbers start at 1.

    Local image paths must lie inside ``allowed_roots`` (default: the feed's folder); an empty list
    refuses every local path, which is what feeds submitted over HTTP get. With ``platform``, a
    listing on any other platform is an error (a platform account scans its own listings).
    """
    path = Path(path)
    # The folder the feed was named in, not its symlink target's (the contract: "the feed file's folder").
    base = path.absolute().parent.resolve()
    roots = [base] if allowed_roots is None else [Path(r).resolve() for r in allowed_roots]
    refuse_archives(path)
    if path.suffix.lower() == ".csv" or _has_csv_header(path):
        records: Iterator[tuple[int, Any]] = _csv_records(path)
    else:
        records = _jsonl_records(path)
    yield from _validated(records, base, roots, platform)


def parse_listing(record: Any, line_no: int, *, base: Path, roots: list[Path]) -> Listing | FeedError:
    """Check one decoded record; relative paths resolve against ``base`` and must stay in ``roots``."""
    if not isinstance(record, dict):
        return FeedError(line_no, f"line {line_no}: expected a JSON object, got {type(record).__name__}")
    ident = record.get("listing_id")
    platform = record.get("platform")
    image = record.get("image")
    partial = {
        "listing_id": ident if isinstance(ident, str) else None,
        "platform": platform if isinstance(platform, str) else None,
        "image": image if isinstance(image, str) else None,
    }
    for key in REQUIRED:
        value = record.get(key)
        if value is None or value == "":
            return FeedError(line_no, f"line {line_no}: missing {key!r}", **partial, raw=record)
        if not isinstance(value, str):
            return FeedError(
                line_no,
                f"line {line_no}: {key!r} must be a string, not {type(value).__name__}",
                **partial,
                raw=record,
            )
    for key in OPTIONAL_TEXT:
        value = record.get(key)
        if key == "price" and isinstance(value, (int, float)) and not isinstance(value, bool):
            continue  # exports write prices as numbers; one is passed through as it is, not an error
        if value is not None and not isinstance(value, str):
            return FeedError(
                line_no,
                f"line {line_no}: {key!r} must be a string, not {type(value).__name__}",
                **partial,
                raw=record,
            )
    ident, platform, image = str(ident), str(platform), str(image)  # all checked to be str above
    if len(ident) > MAX_ID_CHARS:
        message = f"line {line_no}: listing_id longer than {MAX_ID_CHARS} characters"
        return FeedError(line_no, message, **partial, raw=record)
    resolved = resolve_image(image, base=base, roots=roots)
    if isinstance(resolved, str) and resolved.startswith("error:"):
        return FeedError(line_no, f"line {line_no}: {resolved[6:]}", **partial, raw=record)
    return Listing(ident, platform, resolved, dict(record))


def resolve_image(image: str, *, base: Path, roots: list[Path]) -> str:
    """A URL stays as is; a local path becomes absolute and must stay inside ``roots``.

    Returns ``"error:<reason>"`` rather than raising so that the caller can keep the line number.
    """
    lowered = image.lower()
    if lowered.startswith(("http://", "https://")):
        scheme, rest = image.split("://", 1)
        return f"{scheme.lower()}://{rest}"  # "HTTP://..." must not be taken for a path further on
    if ("://" in image or lowered.startswith(("file:", "data:"))) and roots:
        return f"error:image {image!r}: only http(s) URLs or file paths are accepted"
    if not roots:
        return f"error:image {image!r}: local paths are not accepted here, give an http(s) URL"
    if "\0" in image:
        return f"error:image {image!r}: a path cannot contain a NUL character"
    candidate = Path(image)
    try:
        full = (candidate if candidate.is_absolute() else base / candidate).resolve()
    except (OSError, RuntimeError) as exc:  # a symlink loop, a name too long
        return f"error:image {image!r}: {exc}"
    if not any(full.is_relative_to(root) for root in roots):
        return f"error:image {image!r} is outside the allowed folders"
    return str(full)


def feed_digest(path: Path) -> str:
    """SHA-256 of the feed file, streamed: the identity a resumed scan is matched against."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class _SeenIds:
    """First line of each (platform, listing_id), in a private on-disk SQLite database.

    Why not a dict: a feed can hold millions of ids, and the scan promises flat memory. SQLite keeps
    only a small page cache in RAM; a temporary database named "" lives in a temp file and is deleted
    when closed.
    """

    def __init__(self) -> None:
        self._db = sqlite3.connect("", isolation_level=None)
        self._db.execute("PRAGMA journal_mode = OFF")
        self._db.execute("PRAGMA synchronous = OFF")
        self._db.execute("CREATE TABLE seen (key TEXT PRIMARY KEY, line INTEGER NOT NULL) WITHOUT ROWID")

    def first_line(self, platform: str, listing_id: str, line_no: int) -> int | None:
        """None if new (and remembered), else the line it was first seen on."""
        key = f"{platform}\0{listing_id}"
        cur = self._db.execute("INSERT OR IGNORE INTO seen (key, line) VALUES (?, ?)", (key, line_no))
        if cur.rowcount == 1:
            return None
        row = self._db.execute("SELECT line FROM seen WHERE key = ?", (key,)).fetchone()
        return int(row[0])

    def close(self) -> None:
        self._db.close()


def _refused(listing: Listing, line_no: int, reason: str) -> FeedError:
    """A well-formed line that the scan still cannot take, as an error finding."""
    return FeedError(
        line_no,
        f"line {line_no}: {reason}",
        listing.listing_id,
        listing.platform,
        listing.raw.get("image"),
        listing.raw,
    )


def _validated(
    records: Iterator[tuple[int, Any]], base: Path, roots: list[Path], platform: str | None
) -> Iterator[tuple[int, Listing | FeedError]]:
    seen = _SeenIds()
    try:
        for line_no, record in records:
            if isinstance(record, FeedError):
                yield line_no, record
                continue
            item = parse_listing(record, line_no, base=base, roots=roots)
            if isinstance(item, Listing) and platform is not None and item.platform != platform:
                # Its licences would answer for another platform's listings, its cases name them.
                item = _refused(
                    item,
                    line_no,
                    f"platform {item.platform!r} is not the submitting account's; "
                    f"a platform account scans its own listings ({platform!r})",
                )
            if isinstance(item, Listing):
                # listing_id is unique per platform, so the duplicate key includes the platform.
                first = seen.first_line(item.platform, item.listing_id, line_no)
                if first is not None:
                    item = _refused(
                        item, line_no, f"duplicate listing_id {item.listing_id!r} (first on line {first})"
                    )
            yield line_no, item
    finally:
        seen.close()


# Archives a feed arrives in, by their first bytes: read as text, each gave one meaningless "not UTF-8"
# error per line break in the compressed bytes, and the scan exited 0 (an audit).
_ARCHIVES = {
    b"\x1f\x8b": "gzip-compressed (gunzip it first)",
    b"PK\x03\x04": "a ZIP archive (an Excel workbook? save it as CSV)",
}


def refuse_archives(path: Path) -> None:
    """``BadInput`` for a feed that is a compressed archive, not text."""
    try:
        with open(path, "rb") as fh:
            start = fh.read(4)
    except OSError:
        return  # reading it reports the error
    for magic, what in _ARCHIVES.items():
        if start.startswith(magic):
            raise BadInput(f"the feed {path} is {what}: a feed is JSON Lines or CSV text")


def _text_encoding(path: Path) -> str:
    """ "utf-16" for a file that starts with a UTF-16 byte-order mark (Windows tools save "Unicode"
    text so; read as UTF-8, every line of it was an error), else "utf-8-sig"."""
    try:
        with open(path, "rb") as fh:
            start = fh.read(2)
    except OSError:
        return "utf-8-sig"  # opening it again reports the error
    return "utf-16" if start in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE) else "utf-8-sig"


@contextmanager
def _utf8_lines(path: Path) -> Iterator[BinaryIO]:
    """The feed's bytes as UTF-8, recoded on the fly from UTF-16 when it is that."""
    with open(path, "rb") as fh:
        if _text_encoding(path) == "utf-16":
            yield cast(BinaryIO, codecs.EncodedFile(fh, "utf-8", "utf-16", errors="replace"))
        else:
            yield fh


def _jsonl_records(path: Path) -> Iterator[tuple[int, Any]]:
    with _utf8_lines(path) as fh:
        for line_no, raw in _capped_lines(fh, MAX_LINE_BYTES):
            if raw is None:
                yield line_no, FeedError(line_no, f"line {line_no}: longer than {MAX_LINE_BYTES} bytes")
                continue
            text = raw.strip()
            if line_no == 1:
                text = text.removeprefix(_BOM)  # editors on Windows start UTF-8 files with one
            if not text:
                continue  # blank lines are not listings; their line number is simply skipped
            try:
                yield line_no, json_input.loads(text.decode("utf-8"), unique_keys=True)
            except UnicodeDecodeError:
                yield line_no, FeedError(line_no, f"line {line_no}: not UTF-8 text")
            except json.JSONDecodeError as exc:
                # Some of json's messages end in "at" already ("Invalid control character at").
                message = (
                    f"line {line_no}: invalid JSON ({exc.msg.removesuffix(' at')} at column {exc.colno})"
                )
                yield line_no, FeedError(line_no, message)
            except json_input.DuplicateKey as exc:
                # The id and platform are still named when they were not the key given twice.
                ident, platform = _named_once(text.decode("utf-8"))
                yield (
                    line_no,
                    FeedError(line_no, f"line {line_no}: {exc}", listing_id=ident, platform=platform),
                )
            except ValueError as exc:  # json_input.TooDeep, NotText, NotJson
                yield line_no, FeedError(line_no, f"line {line_no}: {exc}")


def _named_once(text: str) -> tuple[str | None, str | None]:
    """``listing_id`` and ``platform`` of a JSON object line, each where it is one string given once."""
    top = json.loads(text, object_pairs_hook=list)  # every object as its (key, value) pairs, repeats kept
    if not isinstance(top, list):
        return None, None
    values = {name: [v for k, v in top if k == name] for name in ("listing_id", "platform")}
    named = {k: v[0] if len(v) == 1 and isinstance(v[0], str) else None for k, v in values.items()}
    return named["listing_id"], named["platform"]


def _capped_lines(fh: BinaryIO, limit: int) -> Iterator[tuple[int, bytes | None]]:
    """Each line with its number, or None for a line over ``limit`` bytes, never held whole."""
    line_no = 0
    while raw := fh.readline(limit + 1):
        line_no += 1
        if len(raw) <= limit or raw.endswith(b"\n"):
            yield line_no, raw
            continue
        while raw and not raw.endswith(b"\n"):  # the rest of the long line, in pieces
            raw = fh.readline(1 << 16)
        yield line_no, None


def _has_csv_header(path: Path) -> bool:
    """Whether the first line is ``listing_id,platform,image,...`` (in any order): a CSV feed saved
    without the suffix (``feed.txt``, an upload named so) read every row as invalid JSON. A JSON
    Lines feed's first line is an object, so it never passes."""
    try:
        with open(path, encoding=_text_encoding(path), errors="replace", newline="") as fh:
            first = fh.readline(1 << 16)
    except OSError:
        return False  # reading it as JSON Lines reports the error
    if first.lstrip().startswith("{"):
        return False
    try:
        columns = {c.strip() for c in next(csv.reader([first]), [])}
    except csv.Error:
        return False
    return all(c in columns for c in REQUIRED)


class _Lines:
    """The physical lines csv reads, numbered, with the ones the current row took kept so that they
    can be given back: a cell that opens a quote and never closes it takes every line up to the next
    quote (or csv's 128 KiB field limit) into one bad row, and 2,585 listings of a 5,000-row feed
    vanished without a finding (an audit)."""

    def __init__(self, fh: Iterable[str]) -> None:
        self._source = iter(fh)
        self._given_back: deque[tuple[int, str]] = deque()
        self._count = 0
        self.taken: list[tuple[int, str]] = []
        self.ran_out = False

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        if self._given_back:
            number, line = self._given_back.popleft()
        else:
            try:
                line = next(self._source)
            except StopIteration:
                self.ran_out = True
                raise
            self._count += 1
            number = self._count
        self.taken.append((number, line))
        return line

    def start_row(self) -> None:
        self.taken = []

    def first_line(self) -> int:
        """The number of the line the current row starts on (the next line, before it is read)."""
        if self.taken:
            return self.taken[0][0]
        return self._given_back[0][0] if self._given_back else self._count + 1

    def first_cells(self) -> list[str]:
        """The cells of the current row's first line read alone (an unclosed quote runs to its end)."""
        if not self.taken:
            return []
        try:
            return next(csv.reader([self.taken[0][1]]), [])
        except csv.Error:
            return []

    def give_back_all_but_first(self) -> bool:
        """Put the current row's lines after its first back to be read again; False if it had one."""
        rest = self.taken[1:]
        self._given_back.extendleft(reversed(rest))
        self.taken = self.taken[:1]
        return bool(rest)


def _csv_records(path: Path) -> Iterator[tuple[int, Any]]:
    # newline="" lets csv handle quoted newlines. Bytes that are not UTF-8 become lone surrogates
    # instead of stopping the stream, so one bad row is an error finding and the rows after it are
    # still read; "utf-8-sig" drops a leading BOM.
    encoding = _text_encoding(path)
    errors = "surrogateescape" if encoding == "utf-8-sig" else "replace"
    with open(path, encoding=encoding, errors=errors, newline="") as fh:
        lines = _Lines(fh)
        reader = csv.reader(lines)
        try:
            header = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield 1, FeedError(1, f"line 1: unreadable CSV header ({exc})")
            return
        columns = [_readable(c).strip() for c in header]
        missing = [c for c in REQUIRED if c not in columns]
        if missing:  # every row will fail too; say why once, where the cause is
            yield 1, FeedError(1, f"line 1: the CSV header has no {', '.join(map(repr, missing))} column")
        repeated = sorted({c for c in columns if columns.count(c) > 1})
        if repeated:  # which cell is the listing's image or id would be a guess
            yield 1, FeedError(1, f"line 1: the CSV header repeats {', '.join(map(repr, repeated))}")
        while True:
            lines.start_row()
            line_no = lines.first_line()
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                ident, platform = _named(columns, lines.first_cells())
                message = f"line {line_no}: unreadable CSV row ({exc}){_reread(lines)}"
                yield line_no, FeedError(line_no, message, listing_id=ident, platform=platform)
                reader = csv.reader(lines)  # a fresh one: the failed one may be inside a quoted cell
                continue
            if not any(cell.strip() for cell in row):
                continue
            if len(lines.taken) > 1 and (lines.ran_out or _holds_rows(lines, columns)):
                ident, platform = _named(columns, lines.first_cells())
                message = f"line {line_no}: unreadable CSV row{_reread(lines)}"
                yield line_no, FeedError(line_no, message, listing_id=ident, platform=platform)
                reader, lines.ran_out = csv.reader(lines), False
                continue
            if len(row) != len(columns) and not repeated:
                # The cells before the stray or missing one are most likely in place: name the listing.
                ident, platform = _named(columns, lines.first_cells())
                message = f"line {line_no}: {len(row)} columns, the header has {len(columns)}{_reread(lines)}"
                yield line_no, FeedError(line_no, message, listing_id=ident, platform=platform)
                reader = csv.reader(lines)
                continue
            if not _is_utf8(row):
                # The id and platform cells are named when they are readable: only another cell was not.
                cells = {k: v for k, v in zip(columns, row, strict=False) if _is_utf8([v])}
                message = f"line {line_no}: not UTF-8 text"
                ident, platform = cells.get("listing_id"), cells.get("platform")
                yield line_no, FeedError(line_no, message, listing_id=ident, platform=platform)
                continue
            if repeated:
                message = f"line {line_no}: ambiguous, the header repeats {repeated[0]!r}"
                yield line_no, FeedError(line_no, message)
                continue
            # An empty cell of a contract column means "absent", as a missing JSON key would; one of
            # another column is passed through as "" (the contract keeps unknown keys).
            yield (
                line_no,
                {k: v for k, v in zip(columns, row, strict=True) if v != "" or k not in _CONTRACT_COLUMNS},
            )


def _holds_rows(lines: _Lines, columns: list[str]) -> bool:
    """Whether a row over several lines took in whole listings: a line after its first that reads
    alone as a row of the header's width, with an image, on the first line's platform. A quote left
    open there is closed by the next one (a title such as '"Sunset" poster'), and the rows between
    would become one listing's title."""
    _, platform = _named(columns, lines.first_cells())
    if platform is None or "image" not in columns:
        return False
    where, image = columns.index("platform"), columns.index("image")
    for _, line in lines.taken[1:]:
        try:
            cells = next(csv.reader([line]), [])
        except csv.Error:
            continue
        if len(cells) == len(columns) and cells[where] == platform and cells[image].strip():
            return True
    return False


def _named(columns: list[str], cells: list[str]) -> tuple[str | None, str | None]:
    """The listing id and platform among ``cells``, where present and readable."""
    named = {k: v for k, v in zip(columns, cells, strict=False) if v and _is_utf8([v])}
    return named.get("listing_id"), named.get("platform")


def _reread(lines: _Lines) -> str:
    """For a bad row that ran over several lines, most likely through a quote it never closed: its
    lines after the first are read again as rows of their own, and the message says so."""
    if not lines.give_back_all_but_first():
        return ""
    return "; a quote in it is never closed, so the lines after this one are read as rows of their own"


_BOM = b"\xef\xbb\xbf"


def _is_utf8(row: list[str]) -> bool:
    """False if the row holds bytes that were not UTF-8 (read as lone surrogates)."""
    try:
        "".join(row).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _readable(cell: str) -> str:
    """A header cell with its non-UTF-8 bytes shown as U+FFFD, so that the other columns still work."""
    return cell.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
