"""A saved index as bytes, and back as files: for a process on another machine that cannot read
the data directory (a Dask worker without the shared disk).

``snapshot`` reads one consistent generation (the manifest and the files it names) under the
folder's shared lock, so no concurrent save deletes them meanwhile. ``restore`` writes the files
into a fresh folder and renames it into place, so a copy cut short is never loaded."""

from __future__ import annotations

import json
import os
import shutil
import uuid
from pathlib import Path

from indexes import file_lock, index_files

__all__ = ["restore_index", "snapshot_index", "snapshot_size"]


def snapshot_size(directory: Path) -> int:
    """Bytes ``snapshot_index`` would read (0 when nothing is saved there)."""
    if not index_files.exists(directory):
        return 0  # and no lock file: taking it would create the folder
    with file_lock.locked(directory, shared=True):
        names = _names(directory)
        return sum((directory / name).stat().st_size for name in names)


def snapshot_index(directory: Path) -> dict[str, bytes]:
    """The current generation's files by name, manifest included; empty when nothing is saved."""
    if not index_files.exists(directory):
        return {}
    with file_lock.locked(directory, shared=True):
        return {name: (directory / name).read_bytes() for name in _names(directory)}


def restore_index(files: dict[str, bytes], directory: Path) -> None:
    """Write ``snapshot_index``'s ``files`` as the folder ``directory`` (which must not exist yet;
    when another process made it meanwhile, its copy is kept). Names must be plain file names."""
    for name in files:
        if Path(name).name != name or name in ("", ".", ".."):
            raise ValueError(f"not a plain file name in an index snapshot: {name!r}")
    directory.parent.mkdir(parents=True, exist_ok=True)
    staging = directory.parent / f".{directory.name}.{uuid.uuid4().hex[:12]}.tmp"
    staging.mkdir()
    try:
        # The manifest last: a folder with files but no manifest reads as no index.
        for name in sorted(files, key=lambda n: n == index_files.MANIFEST):
            (staging / name).write_bytes(files[name])
        try:
            os.rename(staging, directory)
        except OSError:
            if not index_files.exists(directory):
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _names(directory: Path) -> list[str]:
    if not index_files.exists(directory):
        return []
    manifest = json.loads((directory / index_files.MANIFEST).read_text())
    return [*manifest["files"].values(), index_files.MANIFEST]
