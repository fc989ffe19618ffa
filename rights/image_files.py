"""Reading image files named on the command line: regular files only, and never more than a cap.

``Path.read_bytes`` would read a 3 GB file whole (3.3 GB of memory, 16 s) only for the size check
to refuse it afterwards, and would never finish on ``/dev/zero`` or a FIFO. The engine's own reader
does it right; here its refusals become ``OSError``s, which the CLI reports per file.
"""

from __future__ import annotations

import errno
from collections.abc import Iterable, Iterator
from pathlib import Path


def read_capped(path: Path, limit: int, setting: str | None = None) -> bytes:
    """A regular file's bytes, at most ``limit`` of them (``indexes.decode.read_image_file``), its
    problems as ``OSError``s naming the file, so that a caller reports them per file; ``setting``
    names what raises the limit, if anything."""
    # Here, not at the top: the CLI imports this module, and starts without OpenCV or FAISS.
    from indexes.decode import read_image_file
    from indexes.errors import ImageTooLargeError, NotAnImageError

    try:
        return read_image_file(path, limit)
    except ImageTooLargeError:
        raised_by = f" ({setting})" if setting else ""
        raise OSError(errno.EFBIG, f"over the {limit}-byte limit{raised_by}", str(path)) from None
    except NotAnImageError:
        raise OSError(errno.EINVAL, "not a regular file", str(path)) from None


def read_each(paths: Iterable[Path], limit: int) -> Iterator[tuple[Path, bytes | OSError]]:
    """Each path with its bytes (``read_capped``), or the ``OSError`` that reading it raised."""
    for path in paths:
        try:
            yield path, read_capped(path, limit)
        except OSError as exc:
            yield path, exc
