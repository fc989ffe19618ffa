"""Reading image files named on the command line: regular files only, and never more than a cap.

``Path.read_bytes`` would read a 3 GB file whole (3.3 GB of memory, 16 s) only for the size check
to refuse it afterwards, and would never finish on ``/dev/zero`` or a FIFO.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterable, Iterator
from pathlib import Path


def read_capped(path: Path, limit: int, setting: str | None = None) -> bytes:
    """A regular file's bytes, at most ``limit`` of them. Problems are ``OSError``s naming the file,
    so that a caller reports them per file; ``setting`` names what raises the limit, if anything."""
    if path.exists() and not path.is_file():
        raise OSError(errno.EINVAL, "not a regular file", str(path))
    with open(path, "rb") as fh:
        # The size first, so that an oversized file is not even read; the capped read still
        # holds if the file grows meanwhile.
        size = os.fstat(fh.fileno()).st_size
        data = fh.read(limit + 1) if size <= limit else b""
    if size > limit or len(data) > limit:
        raised_by = f" ({setting})" if setting else ""
        raise OSError(errno.EFBIG, f"over the {limit}-byte limit{raised_by}", str(path))
    return data


def read_each(paths: Iterable[Path], limit: int) -> Iterator[tuple[Path, bytes | OSError]]:
    """Each path with its bytes (``read_capped``), or the ``OSError`` that reading it raised."""
    for path in paths:
        try:
            yield path, read_capped(path, limit)
        except OSError as exc:
            yield path, exc
