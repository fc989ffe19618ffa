"""Re-fingerprint registered works from their stored originals.

Fingerprinting improves between releases (the appearance signature; corners of enlarged small images). A
work keeps the fingerprint it was registered with, so an older registry finds fewer copies of it than a
fresh one would, until its works are fingerprinted again from the bytes kept under ``<data>/originals``.
A fingerprint made by an earlier revision of the method (``Fingerprint.outdated``) is redone by default.
Each replacement is one transaction with its own log entry (kind ``refingerprint``, citing the previous
fingerprint digest), so the log still accounts for every fingerprint a work has had.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from indexes import Fingerprint
from indexes.decode import MAX_FILE_BYTES
from rights import db
from rights.errors import RightsError
from rights.image_files import read_each
from rights.prefetch import Prefetcher
from rights.registry import Registry
from rights.works import format_work_id


@dataclass
class Summary:
    checked: int = 0  # works selected: the outdated ones, or every live work
    refingerprinted: int = 0
    unchanged: int = 0  # fingerprinted again to the same bytes
    failed: list[dict[str, str]] = field(default_factory=list)  # {"work_id", "error"}

    def to_json(self) -> dict[str, Any]:
        return {
            "checked": self.checked,
            "refingerprinted": self.refingerprinted,
            "unchanged": self.unchanged,
            "failed": len(self.failed),
        }


@dataclass(frozen=True)
class _Stored:
    key: int
    sha256: str
    digest: str
    path: Path
    damaged: bool = False  # the stored fingerprint cannot be read back


def refingerprint(
    registry: Registry,
    *,
    everything: bool = False,
    processes: int = 0,
    on_start: Callable[[int], object] | None = None,
    on_work: Callable[[], object] | None = None,
) -> Summary:
    """Fingerprint live works again from their originals: those whose stored fingerprint is outdated, or
    every live work with ``everything``. ``processes`` > 0 fingerprints ahead in that many processes.
    ``on_start`` gets the number of works to do and ``on_work`` is called after each (a progress bar).
    Works that fail are listed in the summary and keep their fingerprint; they do not stop the run."""
    todo = list(_candidates(registry, everything))
    summary = Summary(checked=len(todo))
    if on_start is not None:
        on_start(len(todo))
    with ExitStack() as stack:
        stack.enter_context(registry.bulk_fingerprint_changes())
        if processes > 0:
            prefetch = stack.enter_context(Prefetcher(processes))
            previous = registry.fingerprinter
            registry.fingerprinter = prefetch
            stack.callback(setattr, registry, "fingerprinter", previous)
        # One read per work, in key order (shared bytes are read once per work that holds them).
        paths = [w.path for w in todo]
        reads = prefetch.read_ahead(paths) if processes > 0 else read_each(paths, MAX_FILE_BYTES)
        for work, (_, data) in zip(todo, reads, strict=True):
            error = _redo(registry, work, data, summary)
            if error is not None:
                summary.failed.append({"work_id": format_work_id(work.key), "error": error})
                if processes > 0 and isinstance(data, bytes):
                    prefetch.discard(data)  # a damaged file's fingerprint is never asked for
            if on_work is not None:
                on_work()
    return summary


def _candidates(registry: Registry, everything: bool) -> Iterator[_Stored]:
    # Streamed, and the stored fingerprints read only to judge them: a million of them is ~12 GB.
    blob = "NULL" if everything else "fingerprint"
    rows = registry.db.execute(
        f"SELECT id, sha256, fp_digest, {blob} FROM works WHERE status != 'withdrawn' ORDER BY id"
    )
    for key, sha256, digest, stored in rows:
        path = db.original_path(registry.data_dir, sha256)
        if everything:
            yield _Stored(key, sha256, digest, path)
            continue
        try:
            outdated = Fingerprint.from_bytes(bytes(stored)).outdated
        except ValueError:  # damaged in the database: fingerprinted again from its original
            yield _Stored(key, sha256, digest, path, damaged=True)
            continue
        if outdated:
            yield _Stored(key, sha256, digest, path)


def _redo(registry: Registry, work: _Stored, data: bytes | OSError, summary: Summary) -> str | None:
    """Replace one work's fingerprint; the reason it could not be, or None."""
    if isinstance(data, OSError):
        return f"the stored original cannot be read: {data.strerror or data}"
    if hashlib.sha256(data).hexdigest() != work.sha256:
        return "the stored original is damaged (its SHA-256 no longer matches); the old fingerprint is kept"
    try:
        fp = registry.fingerprint(data, role="reference")
    except RightsError as exc:
        return f"{exc.message}; the old fingerprint is kept"
    if fp.low_information:
        return f"now below the quality gate ({fp.low_information_reason}); the old fingerprint is kept"
    if fp.digest() == work.digest:
        # The log already records this fingerprint: a damaged copy of it is written back as it was.
        if work.damaged and registry.replace_fingerprint(work.key, fp, work.digest):
            summary.refingerprinted += 1
        else:
            summary.unchanged += 1
        return None
    if registry.replace_fingerprint(work.key, fp, work.digest):
        summary.refingerprinted += 1
        return None
    if registry.fingerprint_digest(work.key) == fp.digest():
        summary.unchanged += 1  # another run stored this very fingerprint first
        return None
    return "changed by another process meanwhile (withdrawn or re-fingerprinted); left as it is"
