"""``rights backup``: a copy that opens as the same registry, taken while others keep writing."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import sys
import threading
from pathlib import Path

import pytest

from rights import db, scans
from rights.backup import backup
from rights.cli import main
from rights.derived_index import INDEX_DIRNAME
from rights.log import LogStore, Signer, verify_log
from rights.registry import Registry
from tests.read_only_mount import run_on_small_disk, run_read_only
from tests.rights_support import artwork_png, near_copy

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    with Registry.open(data) as reg:
        for seed in (1, 2, 3):
            reg.register("ann", artwork_png(700 + seed), title=f"art {seed}")
    feeds = data / scans.FEEDS_DIRNAME
    feeds.mkdir()
    (feeds / "upload_1.jsonl").write_text(
        '{"listing_id": "a", "platform": "p", "image": "https://x.example/a"}\n'
    )
    return data


def test_the_copy_opens_as_the_same_registry(data_dir: Path, tmp_path: Path) -> None:
    dest = tmp_path / "backups" / "monday"
    report = backup(data_dir, dest)
    assert report.to_json() | {"bytes": 0} == {
        "backup": str(dest), "works": 3, "log_entries": 3, "originals": 3, "missing_originals": 0,
        "damaged_originals": 0, "missing_signing_key": False, "bytes": 0,
    }  # fmt: skip
    assert not (dest / INDEX_DIRNAME).exists()  # derived data: rebuilt at the first open
    assert report.bytes == sum(f.stat().st_size for f in dest.rglob("*") if f.is_file())  # feeds too
    assert stat.S_IMODE((dest / "log-signing-key.pem").stat().st_mode) == 0o600
    assert stat.S_IMODE((dest / "rights.sqlite3").stat().st_mode) == 0o600  # the holders' addresses
    assert (dest / scans.FEEDS_DIRNAME / "upload_1.jsonl").is_file()
    assert not list(tmp_path.joinpath("backups").glob(".*partial*"))
    with Registry.open(data_dir) as original, Registry.open(dest) as copy:
        assert copy.signer.key_id == original.signer.key_id
        assert copy.log.root() == original.log.root()
        assert [w["work_id"] for w in copy.list_works()["works"]] == [
            w["work_id"] for w in original.list_works()["works"]
        ]
        found = copy.match_image(near_copy(702))
        assert found["verdict"] == "match" and found["matches"][0]["title"] == "art 2"
    assert verify_log(dest).ok


def test_a_backup_taken_while_the_log_grows_is_one_consistent_snapshot(
    data_dir: Path, tmp_path: Path
) -> None:
    stop = threading.Event()

    def append() -> None:
        conn = db.connect(data_dir)
        store = LogStore(conn, Signer.load_or_create(data_dir), "rights-registry")
        while not stop.is_set():
            with db.transaction(conn):
                store.append({"kind": "license", "work_id": "w_1", "licensee": "shop"})
        conn.close()

    writer = threading.Thread(target=append)
    writer.start()
    try:
        reports = [backup(data_dir, tmp_path / f"copy{i}") for i in range(4)]
    finally:
        stop.set()
        writer.join()
    for report in reports:
        checked = verify_log(report.dest)
        assert checked.ok and checked.size == report.log_entries, checked.problem
    assert reports[-1].log_entries > 3  # the log did grow meanwhile


def test_refusals_and_a_missing_original(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # where a "-" folder would be made
    taken = tmp_path / "taken"
    taken.mkdir()
    assert main(["--data", str(data_dir), "backup", str(taken)]) == 2
    assert "already exists" in capsys.readouterr().err
    assert main(["--data", str(data_dir), "backup", str(data_dir / "inside")]) == 2
    assert "inside the data directory" in capsys.readouterr().err
    assert main(["--data", str(tmp_path / "nothing"), "backup", str(tmp_path / "b")]) == 2
    assert "no registry" in capsys.readouterr().err
    (tmp_path / "a-file").write_text("")
    assert main(["--data", str(data_dir), "backup", str(tmp_path / "a-file" / "b")]) == 2
    assert "cannot create" in capsys.readouterr().err  # not the hidden working folder's name
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")  # copied everything, then failed on it
    assert main(["--data", str(data_dir), "backup", str(tmp_path / "dangling")]) == 2
    assert "already exists" in capsys.readouterr().err
    not_utf8 = os.fsdecode(bytes(tmp_path / "b") + b"\xff")  # was a UnicodeEncodeError traceback
    assert main(["--data", str(data_dir), "backup", not_utf8]) == 2
    assert "UTF-8" in capsys.readouterr().err and not list(tmp_path.glob(".*partial*"))
    assert main(["--data", str(data_dir), "backup", ""]) == 2  # was "'.' already exists"
    assert "new folder's name" in capsys.readouterr().err
    assert main(["--data", str(data_dir), "backup", "-"]) == 2  # made a folder named "-"
    assert "not a stream" in capsys.readouterr().err and not (tmp_path / "-").exists()

    with Registry.open(data_dir) as reg:
        sha = reg.list_works()["works"][0]["sha256"]
    db.original_path(data_dir, sha).unlink()  # damage the source: the backup says so, and keeps the rest
    assert main(["--data", str(data_dir), "backup", str(tmp_path / "b")]) == 1
    out, err = capsys.readouterr()
    assert json.loads(out)["missing_originals"] == 1 and json.loads(out)["originals"] == 2
    assert sha in err and (tmp_path / "b" / db.DB_FILENAME).is_file()


def test_a_destination_name_near_the_longest_allowed_is_backed_up(data_dir: Path, tmp_path: Path) -> None:
    """Its hidden part-copy's name (".NAME.partial-PID") would pass 255 bytes: it failed "File name too
    long" although the destination's own name was allowed."""
    dest = tmp_path / ("b" * 250)
    report = backup(data_dir, dest)
    assert report.dest == dest and (dest / db.DB_FILENAME).is_file()
    assert not [p for p in tmp_path.iterdir() if "partial" in p.name]


def test_a_killed_backups_part_copy_is_removed_by_the_next_one(data_dir: Path, tmp_path: Path) -> None:
    """It held the database and the private signing key, hidden, and nothing ever removed it."""
    import subprocess
    import sys

    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()  # a pid no process has now
    abandoned = tmp_path / f".copy.partial-{gone.pid}"
    running = tmp_path / f".copy.partial-{os.getppid()}"  # another backup, still under way
    for folder in (abandoned, running):
        folder.mkdir()
        (folder / "log-signing-key.pem").write_text("secret")
    backup(data_dir, tmp_path / "copy")
    assert not abandoned.exists() and running.exists() and (tmp_path / "copy" / db.DB_FILENAME).is_file()


def test_damaged_originals_and_a_lost_signing_key_are_reported(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with Registry.open(data_dir) as reg:
        sha = reg.list_works()["works"][1]["sha256"]
    original = db.original_path(data_dir, sha)
    original.write_bytes(original.read_bytes()[:100])  # truncated where it lies
    (data_dir / "log-signing-key.pem").unlink()
    assert main(["--data", str(data_dir), "backup", str(tmp_path / "b")]) == 1
    out, err = capsys.readouterr()
    report = json.loads(out)
    assert report["damaged_originals"] == 1 and report["missing_originals"] == 0
    assert report["missing_signing_key"] is True
    assert sha in err and "no longer match" in err and "log-signing-key.pem" in err and err.count("\n") == 1
    assert db.original_path(tmp_path / "b", sha).read_bytes() == original.read_bytes()  # copied as it is


def test_a_damaged_database_is_named_and_left_untouched(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    database = data_dir / db.DB_FILENAME
    raw = bytearray(database.read_bytes())
    page = 4096
    # A b-tree page of the works table, its child pointers overwritten: SQLite's VACUUM INTO called
    # this "database or disk is full".
    with sqlite3.connect(database) as conn:
        root = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = 'works'").fetchone()[0]
    start = (root - 1) * page
    raw[start + 8 : start + page] = b"\xab" * (page - 8)
    database.write_bytes(raw)
    before = database.read_bytes()
    assert main(["--data", str(data_dir), "backup", str(tmp_path / "b")]) == 1
    err = capsys.readouterr().err
    assert "is damaged" in err and "restore it from an earlier backup" in err and err.count("\n") == 1
    assert not (tmp_path / "b").exists() and not list(tmp_path.glob(".*partial*"))
    assert database.read_bytes() == before


def test_a_read_only_registry_is_backed_up_without_writing_to_it(data_dir: Path, tmp_path: Path) -> None:
    dest = tmp_path / "copy"
    run = run_read_only(
        data_dir, [sys.executable, "-m", "rights", "--data", str(data_dir), "backup", str(dest)], REPO
    )
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["works"] == 3 and verify_log(dest).ok


@pytest.mark.parametrize("room", ["none", "database only"])
def test_a_full_destination_disk_is_named_and_nothing_is_kept(
    data_dir: Path, tmp_path: Path, room: str
) -> None:
    """A backup onto a disk that fills up: SQLite said "database or disk is full" and, copying the
    originals, the write error named the source file (an audit). Run on a small tmpfs of its own."""
    probe = tmp_path / "probe.sqlite3"
    with sqlite3.connect(data_dir / db.DB_FILENAME) as conn:
        conn.execute("VACUUM INTO ?", (str(probe),))
    size = 16 if room == "none" else probe.stat().st_size // 1024 + 48  # the database fits, not the rest
    disk = tmp_path / "disk"
    disk.mkdir()
    command = [sys.executable, "-m", "rights", "--data", str(data_dir), "backup", str(disk / "b")]
    run = run_on_small_disk(size, disk, command, REPO)
    assert run.returncode == 1
    assert run.stderr == f"rights: error: no space left for the backup in {disk}; nothing was kept\n"
