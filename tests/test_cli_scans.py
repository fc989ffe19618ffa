"""``rights scans list`` and ``rights scans prune`` on a real registry database."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from rights import cases, db, scans, scans_cli
from rights.cli import main

OLD = "2020-01-01T00:00:00.000Z"


def _scan(
    conn: sqlite3.Connection, lines: int, *, status: str = "done", feed_key: str = "/feeds/a.jsonl"
) -> str:
    with db.transaction(conn):
        scan = scans.create_scan(conn, feed_key=feed_key, feed_digest="d" * 64)
        for seq in range(lines):
            finding = {
                "listing_id": f"L{seq}",
                "platform": "p",
                "verdict": "clear",
                "matches": [],
                "error": None,
            }
            scans.record_item(conn, scan.id, seq, finding)
        scans.set_status(conn, scan.id, status)
    return scan.id


def _age(conn: sqlite3.Connection, scan_id: str, when: str = OLD) -> None:
    with db.transaction(conn):
        conn.execute("UPDATE scans SET updated_at = ? WHERE id = ?", (when, scan_id))


def _case(conn: sqlite3.Connection, scan_id: str) -> None:
    match = {"work_id": "w_1", "creator": "ann", "title": "t", "score": 0.95, "verdict": "match",
             "kind": "partial", "region": [0, 0, 10, 10], "licensed": False}  # fmt: skip
    with db.transaction(conn):
        cases.record_hit(
            conn, match=match, listing={"listing_id": "L1", "platform": "p"}, evidence={}, scan_id=scan_id
        )


def _lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines()]


@pytest.fixture
def conn(tmp_path: Path) -> sqlite3.Connection:
    c = db.connect(tmp_path)
    yield c
    c.close()


def test_prune_deletes_old_finished_scans_and_keeps_everything_else(
    tmp_path: Path,
    conn: sqlite3.Connection,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(scans_cli, "PRUNE_BATCH", 3)  # several batches per scan
    old = _scan(conn, 10)
    recent = _scan(conn, 4)
    unfinished = {status: _scan(conn, 2, status=status) for status in ("queued", "running", "failed")}
    for scan_id in (old, *unfinished.values()):
        _age(conn, scan_id)
    _case(conn, old)
    feeds = tmp_path / scans.FEEDS_DIRNAME
    feeds.mkdir()
    (feeds / "up_1.jsonl").write_text("{}\n")
    uploaded = _scan(conn, 5, feed_key="upload:up_1.jsonl")
    _age(conn, uploaded)

    assert main(["--data", str(tmp_path), "scans", "prune", "--older-than", "30", "--dry-run"]) == 0
    listed = _lines(capsys.readouterr().out)
    assert {s["scan_id"] for s in listed[:-1]} == {old, uploaded}
    assert listed[-1] == {"scans": 2, "findings": 15, "feeds": 1, "dry_run": True}  # said 0 feeds
    assert conn.execute("SELECT count(*) FROM scan_items").fetchone()[0] == 10 + 4 + 6 + 5  # nothing deleted
    assert (feeds / "up_1.jsonl").is_file()

    assert main(["--data", str(tmp_path), "scans", "prune", "--older-than", "30"]) == 0
    assert _lines(capsys.readouterr().out) == [{"scans": 2, "findings": 15, "feeds": 1, "dry_run": False}]
    left = {r[0] for r in conn.execute("SELECT id FROM scans")}
    assert left == {recent, *unfinished.values()}  # a failed scan may still be resumed: kept
    assert conn.execute("SELECT count(*) FROM scan_items").fetchone()[0] == 4 + 6
    assert not (feeds / "up_1.jsonl").exists()
    assert len(cases.list_cases(conn, creator="ann")) == 1  # cases keep their own evidence

    # 0 days: every finished scan, the recent one too.
    assert main(["--data", str(tmp_path), "scans", "prune", "--older-than", "0"]) == 0
    assert _lines(capsys.readouterr().out)[0]["scans"] == 1
    assert {r[0] for r in conn.execute("SELECT id FROM scans")} == set(unfinished.values())


def test_a_prune_cut_short_is_finished_by_the_next(
    tmp_path: Path, conn: sqlite3.Connection, capsys: pytest.CaptureFixture[str]
) -> None:
    scan_id = _scan(conn, 8)
    _age(conn, scan_id)
    with db.transaction(conn):
        scans.delete_items(conn, scan_id, 5)  # as if killed after the first batch
    assert main(["--data", str(tmp_path), "scans", "prune", "--older-than", "1"]) == 0
    assert _lines(capsys.readouterr().out) == [{"scans": 1, "findings": 3, "feeds": 0, "dry_run": False}]
    assert conn.execute("SELECT count(*) FROM scans").fetchone()[0] == 0


def test_prune_never_follows_a_feed_name_out_of_the_feeds_folder(
    tmp_path: Path, conn: sqlite3.Connection, capsys: pytest.CaptureFixture[str]
) -> None:
    outside = tmp_path / "precious.jsonl"
    outside.write_text("keep me\n")
    (tmp_path / scans.FEEDS_DIRNAME).mkdir()
    scan_id = _scan(conn, 1, feed_key="upload:../precious.jsonl")
    _age(conn, scan_id)
    assert main(["--data", str(tmp_path), "scans", "prune", "--older-than", "1"]) == 0
    assert _lines(capsys.readouterr().out)[0]["feeds"] == 0
    assert outside.read_text() == "keep me\n"


def test_list_is_newest_first_and_limited(
    tmp_path: Path, conn: sqlite3.Connection, capsys: pytest.CaptureFixture[str]
) -> None:
    first, second = _scan(conn, 2), _scan(conn, 3, status="running")
    assert main(["--data", str(tmp_path), "scans", "list"]) == 0
    listed = _lines(capsys.readouterr().out)
    assert [s["scan_id"] for s in listed] == [second, first]
    assert (
        listed[0]["status"] == "running" and listed[0]["done"] == 3 and listed[0]["feed"] == "/feeds/a.jsonl"
    )
    assert main(["--data", str(tmp_path), "scans", "list", "--limit", "1"]) == 0
    assert [s["scan_id"] for s in _lines(capsys.readouterr().out)] == [second]


def test_bad_usage_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from workers.cli import main as workers_main

    assert main(["--data", str(tmp_path / "none"), "scans", "list"]) == 2
    assert "no registry" in capsys.readouterr().err
    assert not (tmp_path / "none").exists()  # nothing created by looking
    feed = tmp_path / "feed.jsonl"
    feed.write_text('{"listing_id": "a", "platform": "p", "image": "x.png"}\n')
    assert (
        workers_main(
            ["--data", str(tmp_path / "none"), "scan", str(feed), "--out", str(tmp_path / "f.jsonl")]
        )
        == 2
    )
    assert "no registry" in capsys.readouterr().err  # every listing was "clear", from an empty registry
    assert not (tmp_path / "none").exists() and not (tmp_path / "f.jsonl").exists()
    with pytest.raises(SystemExit) as exc:
        main(["--data", str(tmp_path), "scans", "prune", "--older-than", "-1"])
    assert exc.value.code == 2
    with pytest.raises(SystemExit) as exc:
        main(["--data", str(tmp_path), "scans", "prune"])  # the cut-off is required
    assert exc.value.code == 2


@pytest.mark.parametrize(
    "argv",
    [
        ["scans", "list", "--limit", "9" * 23],  # overflowed SQLite's INTEGER with a traceback
        ["scan", "feed.jsonl", "--out", "findings.jsonl", "--workers", "9" * 20],  # and the pool's C int
        ["demo", "--workers", "100000"],
        ["serve", "--workers", "0"],
    ],
)
def test_counts_out_of_range_are_usage_errors(
    tmp_path: Path, argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    from workers.cli import main as full_main

    with pytest.raises(SystemExit) as exc:
        full_main(["--data", str(tmp_path / "data"), *argv])
    assert exc.value.code == 2
    assert "expected a whole number from 1 to" in capsys.readouterr().err
    assert not (tmp_path / "data").exists()


@pytest.mark.parametrize("command", [["serve"], ["scan", "feed.jsonl", "--out", "f.jsonl"]])
def test_a_scheduler_address_is_checked_when_given(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    """`serve --scheduler notaurl` started, and every scan submitted to it failed later."""
    from workers.cli import main as workers_main

    for address in ("notaurl", "tcp://host"):
        with pytest.raises(SystemExit) as exit_:
            workers_main(["--data", str(tmp_path / "data"), *command, "--scheduler", address])
        err = capsys.readouterr().err.strip().splitlines()
        assert exit_.value.code == 2 and len(err) == 1 and "not a Dask scheduler address" in err[0], err
    assert not (tmp_path / "data").exists()
