"""The engine's files in its directory: each save writes a new generation (two FAISS indexes, their
deltas, the per-work arrays and the works' descriptors, all named by a fresh id), then switches
``manifest.json`` to it with one atomic rename. A crash at any point leaves the previous generation
whole and current.

The works' descriptors are read memory-mapped: a search touches only its shortlisted works' (32
bytes a feature: 4.6 GB at a million works of 144 features, which would not fit the 8 GiB budget
in memory). Generations have fresh names and are only ever deleted, never rewritten, so a mapping
stays valid after another process's save deletes its file.

Callers hold the locks: ``write`` under an exclusive ``file_lock``, ``read`` under a shared one,
so that no save deletes the files a load is reading."""

from __future__ import annotations

import json
import os
import re
import uuid
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from indexes import appearance, copy_embedding, lightness_map
from indexes.binary_index import BinaryIndex
from indexes.global_hashes import PDQ_BYTES, PHASH_BYTES
from indexes.indexed_work import (
    EMBEDDING_AT,
    HAS_PHASH_AT,
    PHASH_AT,
    SUMMARY_BYTES,
    IndexedWork,
    WorkArrays,
    to_fixed,
)
from indexes.local_features import DESCRIPTOR_BYTES

MANIFEST = "manifest.json"
FORMAT = 11
# 3 stored keypoints as float32; 3 and 4 had no appearance; 3-5 no pHash; 3-6 no per-work
# descriptors (their works search as before, without pHash corroboration or exclusive
# placements, until the index is rebuilt); 7 kept them in the works file, read into memory; 3-8
# have no copy descriptors (neither had the fingerprints then: ``rights refingerprint`` adds them);
# 3-9 no descriptors of the works' crops (likewise); 3-10 no lightness maps (likewise).
READABLE_FORMATS = (3, 4, 5, 6, 7, 8, 9, 10, 11)
# The first format that keeps everything a work needs; older ones load as ``older_format``.
_COMPLETE_FORMAT = 7
# Files ``write`` puts under a generation id (and a manifest it wrote but never switched to).
_GENERATION_FILE = re.compile(
    r"(?:(?:pdq|local)(?:-delta)?\.[0-9a-f]{12}\.faissb|works\.[0-9a-f]{12}\.npz"
    r"|(?:descriptors|views|lightness)\.[0-9a-f]{12}\.npy"
    r"|manifest\.[0-9a-f]{12}\.tmp)"
)


@dataclass
class Stored:
    """One generation as read back."""

    pdq: BinaryIndex
    local: BinaryIndex
    works: dict[int, IndexedWork]
    features_per_work: int
    older_format: bool  # lacks what this release keeps per work (an older one wrote it)


def exists(directory: Path) -> bool:
    return (directory / MANIFEST).exists()


def write(
    directory: Path,
    pdq: BinaryIndex,
    local: BinaryIndex,
    works: dict[int, IndexedWork],
    features_per_work: int,
    stamp: int | None,
) -> None:
    """Write a new generation and switch the manifest to it, then delete older generations. A
    generation that fails to be written (a full disk) is removed again, the manifest untouched."""
    gen = uuid.uuid4().hex[:12]
    try:
        names, tmp = _write_generation(directory, gen, pdq, local, works, features_per_work, stamp)
    except BaseException as exc:
        # Each failed try left its partial files on the full disk, taking the space a later try needs.
        for partial in directory.glob(f"*.{gen}.*"):
            partial.unlink(missing_ok=True)
        if isinstance(exc, OSError):  # named by the folder: the file it failed on is gone
            reason = os.strerror(exc.errno) if exc.errno else str(exc)
            raise OSError(exc.errno, f"the index could not be saved: {reason}", str(directory)) from exc
        raise
    os.replace(tmp, directory / MANIFEST)
    _fsync(directory)
    # Only the engine's own earlier generations go: the folder may hold a user's other files.
    keep = set(names.values())
    for stale in directory.iterdir():
        if stale.name not in keep and _GENERATION_FILE.fullmatch(stale.name) and stale.is_file():
            stale.unlink(missing_ok=True)


def _write_generation(
    directory: Path,
    gen: str,
    pdq: BinaryIndex,
    local: BinaryIndex,
    works: dict[int, IndexedWork],
    features_per_work: int,
    stamp: int | None,
) -> tuple[dict[str, str], Path]:
    """Generation ``gen``'s files, synced, and its manifest in a temporary file: (names, that file)."""
    names = {"pdq": f"pdq.{gen}.faissb", "local": f"local.{gen}.faissb", "works": f"works.{gen}.npz"}
    for part, index in (("pdq", pdq), ("local", local)):
        # Works added since the index was built or loaded are kept in a delta file.
        delta = f"{part}-delta.{gen}.faissb"
        if index.save(directory / names[part], directory / delta):
            names[f"{part}_delta"] = delta
    _write_works(directory / names["works"], works)
    # Kept only when every work has its own (an engine without exclusive placements keeps none).
    described = all(len(w.descriptors) == len(w.fixed_points) for w in works.values())
    if described:
        names["descriptors"] = f"descriptors.{gen}.npy"
        _write_descriptors(directory / names["descriptors"], works)
    if any(w.arrays.views is not None for w in works.values()):
        names["views"] = f"views.{gen}.npy"
        _write_rows(directory / names["views"], works, _VIEWS_ROWS, lambda w: w.views)
    if any(w.arrays.lightness is not None for w in works.values()):
        names["lightness"] = f"lightness.{gen}.npy"
        _write_rows(directory / names["lightness"], works, _LIGHTNESS_ROWS, lambda w: w.lightness)
    for name in names.values():
        _fsync(directory / name)
    manifest = {
        "format": FORMAT,
        "files": names,
        "works": len(works),
        "features_per_work": features_per_work,
        "crc32": {name: _crc32(directory / name) for name in names.values()},
    }
    if stamp is not None:
        manifest["stamp"] = stamp
    tmp = directory / f"manifest.{gen}.tmp"
    tmp.write_text(json.dumps(manifest))
    _fsync(tmp)
    return names, tmp


def read(
    directory: Path,
    *,
    flat_limit: int,
    default_features_per_work: int,
    size_of: Callable[[tuple[int, int]], tuple[int, int]],
    descriptors: bool = True,
) -> Stored:
    """The current generation. ``size_of`` interns working sizes (the engine shares one tuple
    per size); ``flat_limit`` is the ORB index's (``BinaryIndex``). ``descriptors``: keep the
    works' descriptors; a generation without them, when they are wanted, reads as an older format."""
    manifest = json.loads((directory / MANIFEST).read_text())
    if manifest.get("format") not in READABLE_FORMATS:
        raise ValueError(f"index format {manifest.get('format')} is not supported; rebuild it")
    files = manifest["files"]
    _check_manifest(files, manifest.get("crc32"))
    _check_crc32(directory, manifest.get("crc32", {}))

    def delta(part: str) -> Path | None:
        return directory / files[f"{part}_delta"] if f"{part}_delta" in files else None

    pdq = BinaryIndex.load(directory / files["pdq"], PDQ_BYTES, delta_path=delta("pdq"))
    local = BinaryIndex.load(
        directory / files["local"], DESCRIPTOR_BYTES, delta_path=delta("local"), flat_limit=flat_limit
    )
    mapped = directory / files["descriptors"] if "descriptors" in files else None
    views = directory / files["views"] if "views" in files else None
    lightness = directory / files["lightness"] if "lightness" in files else None
    works, described = _read_works(directory / files["works"], size_of, descriptors, mapped, views, lightness)
    if "works" in manifest and manifest["works"] != len(works):
        raise ValueError(f"the manifest counts {manifest['works']} works, the files hold {len(works)}")
    return Stored(
        pdq,
        local,
        works,
        manifest.get("features_per_work", default_features_per_work),
        manifest["format"] < _COMPLETE_FORMAT or (descriptors and bool(works) and not described),
    )


def saved_stamp(directory: Path) -> int:
    """The stamp of the index saved in ``directory``; -1 when none was recorded or it is unreadable."""
    try:
        stamp = json.loads((directory / MANIFEST).read_text()).get("stamp", -1)
    except (OSError, ValueError, AttributeError):
        return -1
    return stamp if isinstance(stamp, int) else -1


def _write_works(path: Path, by_key: dict[int, IndexedWork]) -> None:
    keys = np.fromiter(by_key, dtype=np.int64, count=len(by_key))
    works = [by_key[int(k)] for k in keys]
    counts = np.array([len(w.fixed_points) for w in works], dtype=np.int64)
    points = np.concatenate([w.fixed_points for w in works]) if works else np.zeros((0, 2), np.uint16)
    summaries = np.stack([w.summary for w in works]) if works else np.zeros((0, SUMMARY_BYTES), np.int8)
    phashes = np.ascontiguousarray(summaries[:, PHASH_AT:HAS_PHASH_AT])
    with open(path, "wb") as fh:
        np.savez(
            fh,
            keys=keys,
            sha256=np.array([w.sha256 for w in works], dtype="U64"),
            working_size=np.array([w.working_size for w in works], dtype=np.int32).reshape(-1, 2),
            low=np.array([w.low_information for w in works], dtype=bool),
            whole_views=np.array([w.whole_views for w in works], dtype=np.int8),
            pdq=np.concatenate([w.pdq for w in works]) if works else np.zeros((0, PDQ_BYTES), np.uint8),
            counts=counts,
            points=points,
            # One row per work; all zeros where a work has no signature.
            appearance=summaries[:, : appearance.SIGNATURE_BYTES],
            phash=phashes.view(">u8").ravel().astype(np.uint64),
            has_phash=summaries[:, HAS_PHASH_AT].astype(bool),
            embedding=summaries[:, EMBEDDING_AT:],
        )


def _write_descriptors(path: Path, by_key: dict[int, IndexedWork]) -> None:
    """All works' descriptors in ``_write_works``'s order, one .npy, written a work at a time:
    concatenating them first would hold a second copy (4.6 GB at a million works)."""
    rows = sum(len(w.descriptors) for w in by_key.values())
    header = {"descr": np.dtype(np.uint8).str, "fortran_order": False, "shape": (rows, DESCRIPTOR_BYTES)}
    with open(path, "wb") as fh:
        np.lib.format.write_array_header_1_0(fh, header)
        for work in by_key.values():
            fh.write(np.ascontiguousarray(work.descriptors, dtype=np.uint8).data)


# Per-work rows kept in a file of their own, mapped when loaded: (row shape, dtype, what a row is).
_VIEWS_ROWS = (
    (copy_embedding.VIEWS, copy_embedding.DIMENSIONS),
    np.dtype(np.int8),
    "row of crop descriptors",
)
_LIGHTNESS_ROWS = ((lightness_map.MAP_BYTES,), np.dtype(np.uint8), "lightness map")


def _write_rows(
    path: Path,
    by_key: dict[int, IndexedWork],
    rows: tuple[tuple[int, ...], np.dtype, str],
    row_of: Callable[[IndexedWork], np.ndarray],
) -> None:
    """Every work's row in ``_write_works``'s order, zeros for a work without one, written a work
    at a time like ``_write_descriptors``."""
    shape, dtype, _ = rows
    header = {"descr": dtype.str, "fortran_order": False, "shape": (len(by_key), *shape)}
    zeros = np.zeros(shape, dtype)
    with open(path, "wb") as fh:
        np.lib.format.write_array_header_1_0(fh, header)
        for work in by_key.values():
            row = row_of(work)
            fh.write(np.ascontiguousarray(row if len(row) else zeros, dtype=dtype).data)


def _mapped_rows(path: Path, works: int, rows: tuple[tuple[int, ...], np.dtype, str]) -> np.ndarray:
    shape, dtype, what = rows
    mapped = np.load(path, mmap_mode="r").view(np.ndarray)
    if mapped.shape != (works, *shape) or mapped.dtype != dtype:
        raise ValueError(f"{path.name} holds {mapped.dtype} {mapped.shape}, not one {what} a work")
    return mapped


def _read_works(
    path: Path,
    size_of: Callable[[tuple[int, int]], tuple[int, int]],
    keep_descriptors: bool,
    mapped: Path | None,
    mapped_views: Path | None = None,
    mapped_lightness: Path | None = None,
) -> tuple[dict[int, IndexedWork], bool]:
    """The works, and whether the generation had their descriptors (``mapped``: the file that
    holds them, from format 8; format 7 kept them in the works file; ``mapped_views``: the works'
    crop descriptors, from format 10; ``mapped_lightness``: their lightness maps, from format 11)."""
    with np.load(path) as z:
        # Read each array once: indexing the NpzFile re-reads the member every time.
        keys, sha, sizes, low = z["keys"], z["sha256"], z["working_size"], z["low"]
        views, counts, points, pdq = z["whole_views"], z["counts"], z["points"], z["pdq"]
        summaries = np.zeros((len(keys), SUMMARY_BYTES), np.int8)
        if "appearance" in z.files:  # formats 3 and 4: none
            summaries[:, : appearance.SIGNATURE_BYTES] = z["appearance"]
        if "phash" in z.files:  # formats 3-5: none
            summaries[:, PHASH_AT:HAS_PHASH_AT] = (
                z["phash"].astype(">u8").view(np.int8).reshape(len(keys), PHASH_BYTES)
            )
            summaries[:, HAS_PHASH_AT] = z["has_phash"]
        if "embedding" in z.files:  # formats 3-8: none
            summaries[:, EMBEDDING_AT:] = z["embedding"]
        # Formats 3-6 have none, nor an index saved without exclusive placements.
        described = mapped is not None or "descriptors" in z.files
        descriptors = None
        if keep_descriptors and mapped is not None:
            # A plain view of the map: a million memmap slices would each carry its attributes.
            descriptors = np.load(mapped, mmap_mode="r").view(np.ndarray)
        elif keep_descriptors and described:
            descriptors = z["descriptors"]
    if points.dtype != np.uint16:  # format 3
        points = to_fixed(points)
    # Offsets into one set of arrays shared by every work (``WorkArrays``), not views per work.
    arrays = WorkArrays(
        points,
        np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
        pdq,
        np.concatenate([[0], np.cumsum(views.astype(np.int64))]).astype(np.int64),
        summaries,
        descriptors,
        None if mapped_views is None else _mapped_rows(mapped_views, len(keys), _VIEWS_ROWS),
        None if mapped_lightness is None else _mapped_rows(mapped_lightness, len(keys), _LIGHTNESS_ROWS),
    )
    works: dict[int, IndexedWork] = {}
    for i, key in enumerate(keys.tolist()):
        works[key] = IndexedWork(
            str(sha[i]), size_of((int(sizes[i][0]), int(sizes[i][1]))), bool(low[i]), arrays, i
        )
    return works, described


def _crc32(path: Path) -> int:
    crc = 0
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            crc = zlib.crc32(chunk, crc)
    return crc


_PARTS = frozenset({"pdq", "local", "works"})
_OPTIONAL_PARTS = frozenset({"pdq_delta", "local_delta", "descriptors", "views", "lightness"})


def _check_manifest(files: dict[str, str], crc32: dict[str, int] | None) -> None:
    """The manifest names only parts it knows, and has a checksum for each of its files: one flipped
    bit in the name "local_delta" loaded the index without the ORB features of every work added
    since the load before (an audit). (A part left out, as an older format does, is fine.)"""
    if not isinstance(files, dict) or not _PARTS <= files.keys() <= _PARTS | _OPTIONAL_PARTS:
        raise ValueError(f"the index manifest names unknown parts: {sorted(files)}")
    if crc32 is not None and not set(files.values()) <= set(crc32):
        raise ValueError("the index manifest's checksums do not cover its files")


def _check_crc32(directory: Path, expected: dict[str, int]) -> None:
    """FAISS reads a damaged file without complaint when only codes or ids changed: relabelling one
    work's PDQ ids as another's made a copy of the first a 0.9999 `match` on the second. Manifests
    from before the checksums (no ``crc32``) load unchecked."""
    for name, crc in expected.items():
        if _crc32(directory / name) != crc:
            raise ValueError(f"{name} does not match its checksum: the file was damaged or altered")


def _fsync(path: Path) -> None:
    """Flush a file, or a directory's entries (so a rename survives power loss)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
