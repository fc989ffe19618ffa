"""Re-fingerprinting works that an older release registered, against a real data directory.

An "older release" fingerprint is the current one as method 1 stored it, without the appearance signature
or a method number: byte for byte the layout of that time (the header names either only when present).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import shutil
from pathlib import Path

import pytest

from indexes import Fingerprint
from indexes.appearance import EMPTY
from rights.cli import main
from rights.db import original_path
from rights.derived_index import INDEX_DIRNAME, STALE_INDEX_MARKER
from rights.log import verify_log
from rights.refingerprint import refingerprint
from rights.registry import Registry
from rights.works import parse_work_id
from tests.rights_support import artwork_png


def _stored(reg: Registry, key: int) -> Fingerprint:
    row = reg.db.execute("SELECT fingerprint FROM works WHERE id = ?", (key,)).fetchone()
    return Fingerprint.from_bytes(bytes(row[0]))


def _store(data: Path, key: int, fp: Fingerprint) -> None:
    """Write a fingerprint straight into the database, as an older release (or a crashed run) left it."""
    with Registry.open(data) as reg, reg.transaction() as conn:
        conn.execute(
            "UPDATE works SET fingerprint = ?, fp_digest = ? WHERE id = ?", (fp.to_bytes(), fp.digest(), key)
        )


def _age(data: Path, keys: list[int]) -> dict[int, str]:
    """Give works pre-signature fingerprints, in the database and in the index. Returns their digests."""
    digests = {}
    for key in keys:
        with Registry.open(data) as reg:
            old = dataclasses.replace(_stored(reg, key), appearance=EMPTY, method=1)
        _store(data, key, old)
        digests[key] = old.digest()
    shutil.rmtree(data / INDEX_DIRNAME)  # the next open rebuilds it from the aged fingerprints
    return digests


def _signature_indexed(reg: Registry, key: int) -> bool:
    """Whether the engine holds an appearance signature for the work (saved indexes keep zeros for none)."""
    return bool(reg.engine._works[key].appearance.any())


@pytest.fixture
def data(tmp_path: Path) -> Path:
    path = tmp_path / "data"
    with Registry.open(path) as reg:
        for seed, creator in ((1, "alice"), (2, "alice"), (3, "bob")):
            reg.register(creator, artwork_png(seed), title=f"art {seed}")
    return path


def test_outdated_works_are_refingerprinted_logged_and_reindexed(data: Path) -> None:
    aged = _age(data, [1, 2])
    with Registry.open(data) as reg:
        assert [_signature_indexed(reg, k) for k in (1, 2, 3)] == [False, False, True]
        log_size = reg.log.size()
        summary = refingerprint(reg)
        assert summary.to_json() == {"checked": 2, "refingerprinted": 2, "unchanged": 0, "failed": 0}
        for key in (1, 2):
            fp = _stored(reg, key)
            assert not fp.outdated and _signature_indexed(reg, key)
            digest = reg.db.execute("SELECT fp_digest FROM works WHERE id = ?", (key,)).fetchone()[0]
            assert digest == fp.digest() != aged[key]
        entries = [json.loads(e) for _, e, _ in reg.log.entries(log_size, reg.log.size())]
        assert [(e["kind"], parse_work_id(e["work_id"])) for e in entries] == [
            ("refingerprint", 1),
            ("refingerprint", 2),
        ]
        assert all(e["previous_fingerprint_digest"] == aged[parse_work_id(e["work_id"])] for e in entries)
        # The works still match their own bytes' copies, and nothing else changed.
        assert reg.match_image(artwork_png(2))["matches"][0]["work_id"] == "w_2"
        assert [r[0] for r in reg.db.execute("SELECT status FROM works ORDER BY id")] == ["registered"] * 3
        # Nothing left to do; --all re-derives the same bytes, so it changes nothing either.
        assert refingerprint(reg).checked == 0
        again = refingerprint(reg, everything=True)
        assert again.to_json() == {"checked": 3, "refingerprinted": 0, "unchanged": 3, "failed": 0}
        assert reg.log.size() == log_size + 2
    assert verify_log(data).ok
    assert not (data / STALE_INDEX_MARKER).exists()
    with Registry.open(data) as reopened:  # the saved index holds the new fingerprints
        assert _signature_indexed(reopened, 1)


def test_fingerprinting_ahead_in_processes_gives_the_same_result(data: Path) -> None:
    _age(data, [1, 3])
    with Registry.open(data) as reg:
        summary = refingerprint(reg, processes=2)
        assert summary.to_json() == {"checked": 2, "refingerprinted": 2, "unchanged": 0, "failed": 0}
        assert not _stored(reg, 1).outdated and not _stored(reg, 3).outdated


def test_withdrawn_works_are_left_alone(data: Path) -> None:
    _age(data, [2])
    with Registry.open(data) as reg:
        reg.withdraw("w_2")
        assert refingerprint(reg).checked == 0
        assert _stored(reg, 2).outdated


def test_a_missing_or_damaged_original_is_reported_and_keeps_its_fingerprint(data: Path) -> None:
    aged = _age(data, [1, 2, 3])
    with Registry.open(data) as reg:
        sha = {k: reg.db.execute("SELECT sha256 FROM works WHERE id = ?", (k,)).fetchone()[0] for k in (1, 2)}
        original_path(data, sha[1]).unlink()
        original_path(data, sha[2]).write_bytes(b"not the registered bytes")
        summary = refingerprint(reg)
        assert summary.to_json() == {"checked": 3, "refingerprinted": 1, "unchanged": 0, "failed": 2}
        errors = {f["work_id"]: f["error"] for f in summary.failed}
        assert "cannot be read" in errors["w_1"] and "damaged" in errors["w_2"]
        assert _stored(reg, 1).digest() == aged[1] and _stored(reg, 2).digest() == aged[2]
        assert not _stored(reg, 3).outdated


def test_an_interrupted_run_is_caught_up_from_the_log_at_the_next_open(
    data: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A run killed after a replacement's commit (the fingerprint and its log entry) but before the
    index's save leaves the saved index with the old fingerprint, which reconciling by key set cannot
    tell. The next open re-indexes the works the log says were refingerprinted after the index's save
    stamp; it used to rebuild the whole index (6-13 minutes at 100k works), on every open until the
    run was finished, and on every open during a run too (an audit)."""
    aged = _age(data, [1, 2])
    with Registry.open(data):
        pass  # rebuilt from the aged fingerprints, and saved
    before = tmp_path / "index-before"
    shutil.copytree(data / INDEX_DIRNAME, before)
    with Registry.open(data) as reg, pytest.raises(RuntimeError), reg.bulk_fingerprint_changes():
        assert reg.replace_fingerprint(1, reg.fingerprint(artwork_png(1), role="reference"), aged[1])
        # Another process opening the data directory meanwhile: no rebuild, the new fingerprint.
        caplog.clear()
        with caplog.at_level(logging.WARNING), Registry.open(data) as meanwhile:
            assert _signature_indexed(meanwhile, 1) and not _signature_indexed(meanwhile, 2)
        assert "rebuilding" not in caplog.text
        raise RuntimeError("killed")
    assert (data / STALE_INDEX_MARKER).exists()
    # As a kill -9 leaves it: the index on disk is the one saved before the run.
    shutil.rmtree(data / INDEX_DIRNAME)
    shutil.copytree(before, data / INDEX_DIRNAME)
    caplog.clear()
    with caplog.at_level(logging.WARNING), Registry.open(data) as reg:
        assert _signature_indexed(reg, 1) and not _signature_indexed(reg, 2)
    assert "rebuilding" not in caplog.text
    # An index saved without a stamp (by an older release) cannot be caught up: rebuilt.
    shutil.rmtree(data / INDEX_DIRNAME)
    shutil.copytree(before, data / INDEX_DIRNAME)
    manifest = data / INDEX_DIRNAME / "manifest.json"
    stamped = json.loads(manifest.read_text())
    manifest.write_text(json.dumps({k: v for k, v in stamped.items() if k != "stamp"}))
    caplog.clear()
    with caplog.at_level(logging.WARNING), Registry.open(data) as reg:
        assert _signature_indexed(reg, 1)
        assert "rebuilding" in caplog.text
        refingerprint(reg)  # finishing a run removes the marker
    assert not (data / STALE_INDEX_MARKER).exists()


def test_another_process_picks_up_the_new_fingerprints(data: Path) -> None:
    _age(data, [3])
    with Registry.open(data) as server, Registry.open(data) as maintenance:
        assert not _signature_indexed(server, 3)
        assert refingerprint(maintenance).refingerprinted == 1
        assert server.sync()
        assert _signature_indexed(server, 3)
        assert not server.sync()  # nothing new since


def test_cli_reports_a_summary_and_fails_on_a_damaged_original(
    data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _age(data, [1, 2])
    with Registry.open(data) as reg:
        sha = reg.db.execute("SELECT sha256 FROM works WHERE id = 2").fetchone()[0]
    original_path(data, sha).write_bytes(b"junk")
    assert main(["--data", str(data), "refingerprint"]) == 1
    out, err = capsys.readouterr()
    assert json.loads(out) == {"checked": 2, "refingerprinted": 1, "unchanged": 0, "failed": 1}
    assert "w_2" in err and "damaged" in err
    assert main(["--data", str(data), "refingerprint", "--all"]) == 1  # w_2 is still damaged
    assert json.loads(capsys.readouterr().out)["unchanged"] == 2


def test_works_of_the_previous_method_are_refingerprinted_too(data: Path) -> None:
    """Method 2 had the appearance signature but a fixed FAST threshold, and stored no method number."""
    with Registry.open(data) as reg:
        previous = dataclasses.replace(_stored(reg, 2), method=2)
    _store(data, 2, previous)
    with Registry.open(data) as reg:
        assert _stored(reg, 2).method == 2
        assert refingerprint(reg).to_json() == {
            "checked": 1,
            "refingerprinted": 1,
            "unchanged": 0,
            "failed": 0,
        }
        assert not _stored(reg, 2).outdated


def test_a_fingerprint_damaged_in_the_database_is_written_back_unlogged(data: Path) -> None:
    """One unreadable stored fingerprint stopped the whole run with a traceback (an audit)."""
    with Registry.open(data) as reg, reg.transaction() as conn:
        stored = conn.execute("SELECT fingerprint, fp_digest FROM works WHERE id = 2").fetchone()
        conn.execute("UPDATE works SET fingerprint = ? WHERE id = 2", (bytes(stored[0])[:100],))
    with Registry.open(data) as reg:
        log_size = reg.log.size()
        summary = refingerprint(reg)
        assert summary.to_json() == {"checked": 1, "refingerprinted": 1, "unchanged": 0, "failed": 0}
        assert _stored(reg, 2).digest() == stored[1]  # the fingerprint the log records, readable again
        assert reg.log.size() == log_size  # nothing new to log
        assert refingerprint(reg).checked == 0
    assert verify_log(data).ok


def test_works_another_run_refingerprinted_first_count_as_unchanged(data: Path) -> None:
    """Two runs at once: the one that lost every race exited 1, though every work was up to date."""
    _age(data, [1, 2])
    with Registry.open(data) as first, Registry.open(data) as second:
        summary = refingerprint(first, on_start=lambda todo: refingerprint(second))
        assert summary.to_json() == {"checked": 2, "refingerprinted": 0, "unchanged": 2, "failed": 0}
        assert not _stored(first, 1).outdated and not _stored(first, 2).outdated
    assert verify_log(data).ok
