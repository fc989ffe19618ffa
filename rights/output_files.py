"""Files a command writes where it was told to (``--out``, ``--report``).

- ``-`` is standard output, as for ``rights hashes export``;
- an existing FIFO, device or socket is written through: ``--out /dev/null`` must not replace
  ``/dev/null`` with a file (as root it did, for the whole machine), and a pipe's reader must get
  the data (an audit);
- a symlink's target is written, and the link kept;
- anything else appears whole, from a temporary file beside it renamed at the end, so an
  interrupted run never leaves a file that looks complete.
"""

from __future__ import annotations

import os
import stat
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

from rights.errors import BadInput

__all__ = ["OutputFile", "check_output", "is_stdout", "written"]


def is_stdout(path: Path) -> bool:
    return str(path) == "-"


def check_output(path: Path, option: str) -> None:
    """Refuse, before any work, a name that cannot be written: a folder, a name under a file, or a
    folder this user cannot write in. A long scan found out only when writing its report."""
    if is_stdout(path) or _written_through(path):
        return
    if path.is_dir():
        raise BadInput(f"{option} {path} is a folder; give a file name")
    folder = path.resolve().parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent  # created when written
    if not folder.is_dir():
        raise BadInput(f"{option} {path}: {folder} is a file, not a folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise BadInput(f"{option} {path}: cannot write in {folder} (permission denied)")


class OutputFile:
    """One output, opened now and committed (or discarded) at the end."""

    def __init__(self, path: Path, what: str, *, suffix: str = ".partial") -> None:
        self.path = path
        self._tmp: Path | None = None
        self._target: Path | None = None
        try:
            if is_stdout(path):
                self.fh: TextIO = sys.stdout
            elif _written_through(path):
                self.fh = open(path, "w", encoding="utf-8")  # noqa: SIM115 - closed in commit/discard
            else:
                self._target = path.resolve()  # a symlink's target: the link stays
                self._target.parent.mkdir(parents=True, exist_ok=True)
                self._tmp = self._target.with_name(self._target.name + suffix)
                self.fh = open(self._tmp, "w", encoding="utf-8")  # noqa: SIM115 - closed in commit/discard
        except OSError as exc:  # named as the user gave it, not by the temporary file's name
            # mkdir under a file says "File exists", of the file in the way.
            why = "a folder on its way is a file" if isinstance(exc, FileExistsError) else exc.strerror or exc
            raise BadInput(f"cannot write {what} to {path}: {why}") from exc

    def commit(self) -> None:
        if self.fh is sys.stdout:
            self.fh.flush()
            return
        self.fh.close()
        if self._tmp is not None and self._target is not None:
            self._tmp.replace(self._target)

    def discard(self) -> None:
        if self.fh is sys.stdout:
            self.fh.flush()
            return
        self.fh.close()
        if self._tmp is not None:
            self._tmp.unlink(missing_ok=True)


@contextmanager
def written(path: Path, what: str, *, suffix: str = ".tmp") -> Iterator[TextIO]:
    """``OutputFile`` as a ``with`` block: committed when the block ends, discarded if it raises."""
    out = OutputFile(path, what, suffix=suffix)
    try:
        yield out.fh
    except BaseException:
        out.discard()
        raise
    out.commit()


def _written_through(path: Path) -> bool:
    """An existing name that is not a regular file or a folder (followed through symlinks)."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return False
    return not (stat.S_ISREG(mode) or stat.S_ISDIR(mode))
