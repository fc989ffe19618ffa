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
from collections.abc import Generator, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, cast

from rights import json_input

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
                message = f"line {line_no}: invalid JSON ({exc.msg} at column {exc.colno})"
                yield line_no, FeedError(line_no, message)
            except ValueError as exc:  # json_input.TooDeep, NotText, NotJson
                yield line_no, FeedError(line_no, f"line {line_no}: {exc}")


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


def _csv_records(path: Path) -> Iterator[tuple[int, Any]]:
    # newline="" lets csv handle quoted newlines; line numbers are the reader's physical line of the row.
    # Bytes that are not UTF-8 become lone surrogates instead of stopping the stream, so one bad row
    # is an error finding and the rows after it are still read; "utf-8-sig" drops a leading BOM.
    encoding = _text_encoding(path)
    errors = "surrogateescape" if encoding == "utf-8-sig" else "replace"
    with open(path, encoding=encoding, errors=errors, newline="") as fh:
        reader = csv.reader(fh)
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
            line_no = reader.line_num + 1
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                yield line_no, FeedError(line_no, f"line {line_no}: unreadable CSV row ({exc})")
                continue
            if not any(cell.strip() for cell in row):
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
            if len(row) != len(columns):
                # The cells before the stray or missing one are most likely in place: name the listing.
                cells = dict(zip(columns, row, strict=False))
                message = f"line {line_no}: {len(row)} columns, the header has {len(columns)}"
                ident, platform = cells.get("listing_id"), cells.get("platform")
                yield line_no, FeedError(line_no, message, listing_id=ident, platform=platform)
                continue
            # An empty cell of a contract column means "absent", as a missing JSON key would; one of
            # another column is passed through as "" (the contract keeps unknown keys).
            yield (
                line_no,
                {k: v for k, v in zip(columns, row, strict=True) if v != "" or k not in _CONTRACT_COLUMNS},
            )


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
