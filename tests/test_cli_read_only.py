"""``rights log verify`` on a data directory that cannot be written: an auditor's read-only mount
of a registry snapshot, or a write-protected backup."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

from rights.registry import Registry
from tests.read_only_mount import run_read_only
from tests.rights_support import artwork_png

REPO = Path(__file__).resolve().parents[1]


def _verify_read_only(data: Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "rights", "--data", str(data), "log", "verify"]
    return run_read_only(data, command, REPO)


def _registry(data: Path, works: int) -> None:
    with Registry.open(data) as registry:
        for i in range(works):
            registry.register("alice", artwork_png(900 + i), title=f"work {i}")


def test_log_verify_reads_a_read_only_data_directory(tmp_path: Path) -> None:
    data = tmp_path / "data"
    _registry(data, 2)
    # Closed cleanly: SQLite folded its write-ahead log into the database file and removed it.
    assert not (data / "rights.sqlite3-wal").exists() and not (data / "rights.sqlite3-shm").exists()
    run = _verify_read_only(data)
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    assert report["ok"] is True and report["size"] == 2
    assert sorted(p.name for p in data.iterdir()) == sorted(
        ["index", "log-public-key.pem", "log-signing-key.pem", "originals", "rights.sqlite3"]
    )


def test_log_verify_refuses_a_read_only_snapshot_whose_wal_holds_commits(tmp_path: Path) -> None:
    data, snapshot = tmp_path / "data", tmp_path / "snapshot"
    _registry(data, 1)
    # A copy taken while a writer held the database open: the last commit sits in the -wal file
    # only, and without its -shm index a read-only reader could not see it.
    writer = sqlite3.connect(data / "rights.sqlite3")
    try:
        writer.execute("PRAGMA wal_autocheckpoint = 0")
        writer.execute("CREATE TABLE audit_probe (x)")
        shutil.copytree(data, snapshot, ignore=shutil.ignore_patterns("*-shm"))
    finally:
        writer.close()
    assert (snapshot / "rights.sqlite3-wal").stat().st_size > 0
    run = _verify_read_only(snapshot)
    assert run.returncode == 1
    assert "holds commits not yet in rights.sqlite3" in run.stderr and run.stderr.count("\n") == 1
