"""Where `rights scan --out/--report` and the other `--out` options write (an audit): `-` is standard
output, a FIFO or device is written through rather than replaced, a symlink keeps pointing at its
target, and a name that cannot be written is refused before any work, in one line, exit 2."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import pytest

from rights.errors import BadInput
from rights.output_files import OutputFile, check_output, written
from tests.scan_support import World, build_world, listings, read_findings, write_feed
from workers.cli import main as rights_main


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    return build_world(tmp_path_factory.mktemp("outputs"))


@pytest.fixture(scope="module")
def feed(world: World) -> Path:
    return write_feed(world.feed_dir / "two.jsonl", listings(world)[:2])


def _scan(world: World, feed: Path, *options: str) -> int:
    return rights_main(["--data", str(world.data), "scan", str(feed), "--workers", "1", *options])


def test_findings_on_standard_output(world: World, feed: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Written to a file named "-" before; `rights hashes export --out -` already meant stdout.
    assert _scan(world, feed, "--out", "-") == 0
    out, err = capsys.readouterr()
    assert [json.loads(line)["listing_id"] for line in out.splitlines()] == ["11-jpeg-0", "11-crop-0"]
    assert "findings on standard output" in err and not Path("-").exists()
    assert _scan(world, feed, "--out", "-", "--report", "-") == 2
    assert "both write to standard output" in capsys.readouterr().err


def test_a_fifo_is_written_through_not_replaced(world: World, feed: Path, tmp_path: Path) -> None:
    pipe = tmp_path / "findings.pipe"
    os.mkfifo(pipe)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(pipe.read_bytes()))
    reader.start()
    assert _scan(world, feed, "--out", str(pipe)) == 0
    reader.join(timeout=60)
    # The reader got nothing and the pipe became a regular file; as root, `--out /dev/null` did that
    # to /dev/null.
    assert len(got[0].splitlines()) == 2 and pipe.is_fifo()


def test_a_symlink_keeps_pointing_at_its_updated_target(world: World, feed: Path, tmp_path: Path) -> None:
    target = tmp_path / "runs" / "monday.jsonl"
    target.parent.mkdir()
    target.write_text("old\n")
    latest = tmp_path / "latest.jsonl"
    latest.symlink_to(target)
    assert _scan(world, feed, "--out", str(latest)) == 0
    assert latest.is_symlink() and len(read_findings(target)) == 2


@pytest.mark.parametrize("option", ["--out", "--report"])
def test_a_name_under_a_file_is_refused_before_any_work(
    world: World, feed: Path, tmp_path: Path, option: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A bad --report path was found only after the whole scan, which then ran again (exit 1)."""
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    outputs = {"--out": str(tmp_path / "f.jsonl"), "--report": None}
    outputs[option] = str(blocker / "x")
    args = [a for k, v in outputs.items() if v for a in (k, v)]
    assert _scan(world, feed, *args) == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    assert line == f"rights: error: {option} {blocker / 'x'}: {blocker} is a file, not a folder"
    assert not (tmp_path / "f.jsonl").exists()


def test_check_output_names_a_folder_and_lets_new_folders_through(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match="is a folder; give a file name"):
        check_output(tmp_path, "--out")
    check_output(tmp_path / "new" / "deeper" / "x.html", "--report")  # created when written
    check_output(Path("/dev/null"), "--out")


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    path = tmp_path / "notice.md"
    path.write_text("good\n")
    with pytest.raises(RuntimeError), written(path, "the notice") as fh:
        fh.write("half")
        raise RuntimeError("stopped")
    assert path.read_text() == "good\n" and sorted(p.name for p in tmp_path.iterdir()) == ["notice.md"]
    out = OutputFile(tmp_path / "sub" / "f.jsonl", "the findings")
    out.fh.write("x\n")
    out.commit()
    assert (tmp_path / "sub" / "f.jsonl").read_text() == "x\n"


def test_a_receipt_goes_to_standard_output_with_dash(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    work = world.works[11]
    assert rights_main(["--data", str(world.data), "works", "receipt", work, "--out", "-"]) == 0
    assert json.loads(capsys.readouterr().out)["log_index"] >= 0 and not Path("-").exists()
