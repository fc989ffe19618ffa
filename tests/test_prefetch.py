"""Bulk registration reads and fingerprints ahead in worker processes, but registers in file order."""

from __future__ import annotations

from pathlib import Path

from indexes import fingerprint
from rights.prefetch import Prefetcher
from rights.registry import Registry
from tests.rights_support import artwork_png


def _pngs(folder: Path, seeds: range) -> list[Path]:
    paths = [folder / f"art{seed}.png" for seed in seeds]
    for path, seed in zip(paths, seeds, strict=True):
        path.write_bytes(artwork_png(seed))
    return paths


def test_files_come_back_in_order_with_their_fingerprints_precomputed(tmp_path: Path) -> None:
    paths = _pngs(tmp_path, range(40, 47))
    with Prefetcher(2) as prefetch:
        seen = []
        for path, data in prefetch.read_ahead(paths):
            assert isinstance(data, bytes) and data == path.read_bytes()
            assert prefetch(data, role="reference") == fingerprint(data, role="reference")
            seen.append(path)
        assert seen == paths
        # Anything it was not asked to read ahead is still fingerprinted, in the pool: equal bytes
        # in another object too, so a prefetched result is only ever handed to its own bytes.
        other = artwork_png(99)
        assert prefetch(other) == fingerprint(other)
        assert prefetch(bytes(paths[0].read_bytes()), role="reference") == fingerprint(
            paths[0].read_bytes(), role="reference"
        )


def test_an_unreadable_file_comes_as_its_error_at_its_turn_not_before(tmp_path: Path) -> None:
    good = tmp_path / "good.png"
    good.write_bytes(artwork_png(50))
    missing = tmp_path / "gone.png"
    with Prefetcher(1) as prefetch:
        items = prefetch.read_ahead([good, missing])
        assert next(items)[0] == good
        path, error = next(items)
        assert path == missing and isinstance(error, FileNotFoundError)


def test_a_registry_using_it_registers_in_file_order(tmp_path: Path) -> None:
    paths = _pngs(tmp_path, range(60, 65))
    with Registry.open(tmp_path / "data") as registry, Prefetcher(2) as prefetch:
        registry.fingerprinter = prefetch
        items = prefetch.read_ahead(paths)
        bodies = [
            registry.register("alice", data, title=path.stem)
            for path, data in items
            if isinstance(data, bytes)
        ]
    assert [b["title"] for b in bodies] == [p.stem for p in paths]
    assert [b["log_index"] for b in bodies] == list(range(5))


def test_errors_can_come_back_in_place_and_unwanted_fingerprints_are_dropped(tmp_path: Path) -> None:
    good, other = _pngs(tmp_path, range(70, 72))
    missing = tmp_path / "gone.png"
    with Prefetcher(1) as prefetch:
        items = list(prefetch.read_ahead([good, missing, other]))
        assert [path for path, _ in items] == [good, missing, other]
        assert isinstance(items[1][1], FileNotFoundError)
        data = items[0][1]
        assert isinstance(data, bytes)
        prefetch.discard(data)
        assert id(data) not in prefetch._pending  # the bytes and their future are let go
        assert prefetch(data, role="reference") == fingerprint(data, role="reference")  # still served
