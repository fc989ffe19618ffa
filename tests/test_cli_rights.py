"""The ``rights`` commands: in-process for speed, as subprocesses for exit codes and kill -9."""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from PIL import Image

from rights.api.app import create_app
from rights.cli import add_command, build_parser, main
from rights.config import Settings
from rights.db import original_path
from rights.errors import Unauthorized
from rights.log import verify_log
from rights.registry import Registry
from tests.rights_support import TestClient, artwork_png, near_copy, plain_png

REPO = Path(__file__).resolve().parents[1]


def _rights(*args: str, data: Path, **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "rights", "--data", str(data), *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        **kwargs,  # type: ignore[call-overload]
    )


@pytest.fixture
def images(tmp_path: Path) -> Path:
    folder = tmp_path / "images"
    (folder / "nested").mkdir(parents=True)
    for i in range(3):
        (folder / f"art{i}.png").write_bytes(artwork_png(600 + i))
    (folder / "nested" / "deep.png").write_bytes(artwork_png(610))
    (folder / "nested" / "readme.txt").write_text("not an image")
    # Hidden ones are skipped: a thumbnail cache, and a macOS resource fork named like a PNG, which
    # would be an error line (it is no image).
    (folder / ".thumbnails").mkdir()
    (folder / ".thumbnails" / "art0.png").write_bytes(artwork_png(620))
    (folder / "._art0.png").write_bytes(b"\x00\x05\x16\x07 Mac OS X resource fork")
    return folder


def test_keys_create_prints_the_key_alone(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--data", str(tmp_path), "keys", "create", "--role", "platform", "--name", "shop"]) == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and out.startswith("rk_")
    with Registry.open(tmp_path) as reg:
        assert reg.authenticate(out.strip()).role == "platform"
    # The same name with another role is bad input.
    assert main(["--data", str(tmp_path), "keys", "create", "--role", "creator", "--name", "shop"]) == 2
    assert "already exists" in capsys.readouterr().err


def test_keys_revoke_stops_every_key_of_the_account_at_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A leaked key could not be revoked: only `keys create` existed (an audit)."""
    keys = []
    for _ in range(2):
        assert main(["--data", str(tmp_path), "keys", "create", "--role", "creator", "--name", "ann"]) == 0
        keys.append(capsys.readouterr().out.strip())
    assert main(["--data", str(tmp_path), "keys", "create", "--role", "creator", "--name", "bob"]) == 0
    bobs = capsys.readouterr().out.strip()
    with Registry.open(tmp_path) as reg, TestClient(create_app(Settings(data=tmp_path))) as client:
        headers = {"Authorization": f"Bearer {keys[0]}"}
        assert client.get("/v1/works", headers=headers).status_code == 200
        assert main(["--data", str(tmp_path), "keys", "revoke", "--name", "ann"]) == 0
        assert json.loads(capsys.readouterr().out) == {"account": "ann", "revoked": 2}
        assert client.get("/v1/works", headers=headers).status_code == 401  # the running server too
        for key in keys:
            with pytest.raises(Unauthorized, match="revoked"):
                reg.authenticate(key)
        assert reg.authenticate(bobs).name == "bob"
    assert main(["--data", str(tmp_path), "keys", "revoke", "--name", "nobody"]) == 2
    assert main(["--data", str(tmp_path / "typo"), "keys", "revoke", "--name", "ann"]) == 2
    assert not (tmp_path / "typo").exists()  # no registry made to find no account in


def test_a_creator_name_that_cannot_own_works_is_said_once(
    tmp_path: Path, images: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every file of a bulk registration printed the same refusal of --creator (an audit)."""
    data = str(tmp_path / "data")
    assert main(["--data", data, "keys", "create", "--role", "creator", "--name", "alice"]) == 0
    assert main(["--data", data, "keys", "create", "--role", "platform", "--name", "shop"]) == 0
    capsys.readouterr()
    for creator, says in (("Alice", "differ only in letter case"), ("shop", "is a platform account")):
        assert main(["--data", data, "register", str(images), "--creator", creator]) == 2
        out, err = capsys.readouterr()
        [line] = err.strip().splitlines()
        assert says in line and out == ""


def test_register_folders_and_match(tmp_path: Path, images: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "data"
    assert main(["register", str(images), "--creator", "alice", "--data", str(data)]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [w["title"] for w in lines] == ["art0", "art1", "art2", "deep"]
    assert all(w["status"] == "registered" and w["receipt"] for w in lines)
    named = images / ".thumbnails" / "art0.png"  # named outright, a hidden file is read
    assert main(["register", str(named), "--creator", "alice", "--data", str(data)]) == 0
    capsys.readouterr()

    query = tmp_path / "query.jpg"
    query.write_bytes(near_copy(601))
    clear = tmp_path / "clear.png"
    clear.write_bytes(artwork_png(700))
    assert main(["--data", str(data), "match", str(query), str(clear), "--limit", "3"]) == 0
    answers = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert answers[0]["verdict"] == "match" and answers[0]["matches"][0]["work_id"] == lines[1]["work_id"]
    # An unrelated picture may at most be a weak "review" candidate, never a match.
    assert answers[1]["verdict"] != "match" and set(answers[1]) >= {"verdict", "matches", "took_ms"}


def test_register_reports_bad_files_and_continues(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "mixed"
    folder.mkdir()
    (folder / "a.png").write_bytes(artwork_png(620))
    (folder / "b.png").write_bytes(plain_png())
    (folder / "c.jpg").write_bytes(b"not a jpeg")
    code = main(
        ["--data", str(tmp_path / "d"), "register", str(folder), "--creator", "alice", "--title", "T"]
    )
    captured = capsys.readouterr()
    assert code == 2
    assert [json.loads(x)["title"] for x in captured.out.splitlines()] == ["T"]
    errors = captured.err.strip().splitlines()
    assert len(errors) == 2 and all(e.startswith("rights: error: ") for e in errors)


def test_a_folders_links_to_nothing_and_fifos_are_reported_not_skipped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Named like images, they were skipped in silence with exit 0 (an audit); a FIFO is never read."""
    folder = tmp_path / "odd"
    folder.mkdir()
    (folder / "a.png").write_bytes(artwork_png(621))
    (folder / "gone.png").symlink_to(folder / "deleted.png")
    os.mkfifo(folder / "pipe.png")
    assert main(["--data", str(tmp_path / "d"), "register", str(folder), "--creator", "alice"]) == 2
    captured = capsys.readouterr()
    assert [json.loads(x)["title"] for x in captured.out.splitlines()] == ["a"]
    assert captured.err.strip().splitlines() == [
        f"rights: error: {folder / 'gone.png'}: a link to nothing",
        f"rights: error: {folder / 'pipe.png'}: not a regular file",
    ]


@pytest.mark.parametrize("processes", ["0", "1"])
def test_an_oversized_file_is_refused_unread_and_the_rest_still_register(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, processes: str
) -> None:
    """A 3 GB file was read whole (3.3 GB of memory; 6.4 GB with worker processes) before the size
    check refused it (an audit); a file that cannot be read stopped the files after it."""
    from indexes.decode import MAX_FILE_BYTES

    monkeypatch.setenv("RIGHTS_FINGERPRINT_PROCESSES", processes)
    folder = tmp_path / "art"
    folder.mkdir()
    (folder / "a.png").write_bytes(artwork_png(622))
    with open(folder / "b.png", "wb") as fh:
        fh.truncate(MAX_FILE_BYTES + 1)  # sparse: no disk, and no memory unless it is read
    (folder / "c.png").write_bytes(artwork_png(623))
    assert main(["--data", str(tmp_path / "d"), "register", str(folder), "--creator", "alice"]) == 2
    captured = capsys.readouterr()
    assert [json.loads(x)["title"] for x in captured.out.splitlines()] == ["a", "c"]
    assert captured.err.strip().splitlines() == [
        f"rights: error: {folder / 'b.png'}: over the {MAX_FILE_BYTES}-byte limit"
    ]


def test_a_folder_s_jpeg_and_apng_under_their_other_names_are_registered(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``.jfif``, ``.jpe`` and ``.apng`` were skipped without a word when a folder was registered."""
    folder = tmp_path / "art"
    folder.mkdir()
    for n, suffix in enumerate((".jfif", ".jpe", ".apng")):
        image = Image.open(io.BytesIO(artwork_png(640 + n))).convert("RGB")
        buf = io.BytesIO()
        image.save(buf, "PNG" if suffix == ".apng" else "JPEG", quality=92)
        (folder / f"art{suffix}").write_bytes(buf.getvalue())
    (folder / "notes.txt").write_text("not an image, and not taken for one")
    assert main(["--data", str(tmp_path / "d"), "register", str(folder), "--creator", "ann"]) == 0
    names = sorted(json.loads(x)["metadata"]["filename"] for x in capsys.readouterr().out.splitlines())
    assert names == ["art.apng", "art.jfif", "art.jpe"]


@pytest.mark.parametrize(
    "options",
    [
        ["--creator", "a b"],
        ["--creator", "ann", "--title", "x" * 501],
        ["--creator", "ann", "--title", "a\tb"],
    ],
)
def test_a_bad_creator_or_title_is_said_once_before_any_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], options: list[str]
) -> None:
    folder = tmp_path / "art"
    folder.mkdir()
    for seed in (1, 2):
        (folder / f"{seed}.png").write_bytes(artwork_png(630 + seed))
    assert main(["--data", str(tmp_path / "d"), "register", str(folder), *options]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and len(captured.err.strip().splitlines()) == 1  # was one line per file


def test_a_blank_title_lets_the_file_name_stand_in(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    image = tmp_path / "sunset_over_water.png"
    image.write_bytes(artwork_png(640))
    assert (
        main(["--data", str(tmp_path / "d"), "register", str(image), "--creator", "ann", "--title", "  "])
        == 0
    )
    assert json.loads(capsys.readouterr().out)["title"] == "sunset_over_water"


def test_usage_errors_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(["--data", "", "keys", "create", "--role", "admin", "--name", "root"]) == 2
    )  # not ./rights-data
    assert "--data is empty" in capsys.readouterr().err
    assert main(["--data", str(tmp_path), "register", str(tmp_path / "missing"), "--creator", "a"]) == 2
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["--data", str(tmp_path), "register", str(empty), "--creator", "a"]) == 2
    assert main(["--data", str(tmp_path / "none"), "log", "verify"]) == 2
    with pytest.raises(SystemExit) as info:
        main(["keys", "create", "--role", "wizard", "--name", "x"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "missing" in err and "no images" in err and "no registry" in err
    with pytest.raises(SystemExit) as info:  # refused by argparse, before any registry is opened
        main(["--data", str(tmp_path / "unopened"), "match", str(tmp_path / "x.png"), "--limit", "101"])
    assert info.value.code == 2 and "from 1 to 100" in capsys.readouterr().err
    assert not (tmp_path / "unopened").exists()


@pytest.mark.parametrize("command", [["keys", "create", "--role", "admin", "--name", "a"], ["log", "verify"]])
def test_a_data_directory_that_is_a_file_is_refused_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    blocker = tmp_path / "afile"
    blocker.write_bytes(b"keep me")
    for data in (blocker, blocker / "below"):
        assert main(["--data", str(data), *command]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and f"{blocker} is a file, not a folder" in err[0], err
    assert blocker.read_bytes() == b"keep me"


def test_an_allowed_network_that_is_no_network_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``127.0.0.1/33`` was taken for a host name: loopback stayed refused, and nothing said why."""
    monkeypatch.setenv("RIGHTS_FETCH_ALLOW", '["localhost", "127.0.0.1/33"]')
    assert main(["--data", str(tmp_path), "match", str(tmp_path / "any.png")]) == 2
    [err] = capsys.readouterr().err.strip().splitlines()
    assert "RIGHTS_FETCH_ALLOW" in err and "'127.0.0.1/33' is neither a host name nor a network" in err


@pytest.mark.parametrize(
    ("variable", "value", "says"),
    [
        ("RIGHTS_FEATURES_PER_WORK", "8", "greater than or equal to 32"),
        ("RIGHTS_FINGERPRINT_PROCESSES", "two", "integer"),
        ("RIGHTS_FETCH_ALLOW", "127.0.0.1", "not a JSON list"),  # once a traceback
    ],
)
def test_a_bad_setting_is_one_line_naming_the_variable(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    variable: str,
    value: str,
    says: str,
) -> None:
    monkeypatch.setenv(variable, value)
    assert main(["--data", str(tmp_path), "match", str(tmp_path / "any.png")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and variable in err[0] and says in err[0] and repr(value) in err[0], err
    assert not (tmp_path / "rights.sqlite3").exists()  # refused before anything was opened


def test_log_verify_and_receipts_through_subprocesses(tmp_path: Path, images: Path) -> None:
    data = tmp_path / "data"
    registered = _rights("register", str(images / "art0.png"), "--creator", "alice", data=data)
    assert registered.returncode == 0, registered.stderr
    receipt_file = tmp_path / "registration.json"
    receipt_file.write_text(registered.stdout)
    key = data / "log-public-key.pem"

    ok = _rights("log", "verify-receipt", str(receipt_file), "--public-key", str(key), data=data)
    assert ok.returncode == 0 and json.loads(ok.stdout)["valid"] is True
    tampered = tmp_path / "tampered.json"
    tampered.write_text(registered.stdout.replace('\\"alice\\"', '\\"mallory\\"'))
    bad = _rights("log", "verify-receipt", str(tampered), "--public-key", str(key), data=data)
    assert bad.returncode == 1 and bad.stderr.count("\n") == 1 and "invalid" in bad.stderr

    assert _rights("log", "verify", data=data).returncode == 0
    with sqlite3.connect(data / "rights.sqlite3") as conn:
        conn.execute(
            "UPDATE log_entries SET entry = CAST(replace(CAST(entry AS TEXT), 'alice', 'eve') AS BLOB)"
        )
    broken = _rights("log", "verify", data=data)
    assert broken.returncode == 1 and "log entry 0" in broken.stderr


def test_kill_9_during_bulk_register_leaves_no_half_registered_work(tmp_path: Path) -> None:
    folder = tmp_path / "bulk"
    folder.mkdir()
    for i in range(40):
        (folder / f"w{i:02}.png").write_bytes(artwork_png(800 + i))
    data = tmp_path / "data"
    proc = subprocess.Popen(
        [sys.executable, "-m", "rights", "--data", str(data), "register", str(folder), "--creator", "alice"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None
    printed = []
    deadline = time.monotonic() + 90
    while len(printed) < 5 and time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        printed.append(json.loads(line))
    # Let it get a little further, so the kill lands at an arbitrary point of a registration.
    time.sleep(0.15)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    proc.stdout.close()
    assert len(printed) == 5, "the bulk register did not get going"

    with Registry.open(data) as reg:
        live = {r[0] for r in reg.db.execute("SELECT id FROM works WHERE status != 'withdrawn'")}
        assert reg.engine.keys() == live
        assert {int(w["work_id"][2:]) for w in printed} <= live
        for row in reg.db.execute("SELECT id, sha256, log_index FROM works"):
            entry = json.loads(reg.log.entry(row["log_index"]))
            assert entry["work_id"] == f"w_{row['id']}" and entry["work_sha256"] == row["sha256"]
            assert original_path(reg.data_dir, row["sha256"]).exists()
        assert reg.log.size() == len(live)
    assert verify_log(data).ok
    # Re-running the same command finishes the job without duplicates.
    again = _rights("register", str(folder), "--creator", "alice", data=data)
    assert again.returncode == 0
    ids = [json.loads(x)["work_id"] for x in again.stdout.splitlines()]
    assert len(ids) == 40 == len(set(ids))
    with Registry.open(data) as reg:
        assert len(reg.engine) == 40 and reg.log.size() == 40


def test_parser_is_extensible() -> None:
    parser = build_parser()
    extra = add_command(parser, "scan", help="added by workers")
    extra.add_argument("feed")
    extra.set_defaults(handler=lambda args: 0)
    args = parser.parse_args(["scan", "feed.jsonl", "--data", "/tmp/x"])
    assert args.feed == "feed.jsonl" and args.data == "/tmp/x"


def test_serve_says_listening_once_it_answers(tmp_path: Path) -> None:
    # A registered work makes the lifespan open a real index before the server may announce itself.
    with Registry.open(tmp_path) as reg:
        reg.register("alice", artwork_png(3), title="a work")
    proc = subprocess.Popen(
        [sys.executable, "-m", "rights", "--data", str(tmp_path), "serve", "--port", "0"],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        seen = []
        while not (line := proc.stderr.readline()).startswith("rights: listening on"):
            assert line, f"server ended without announcing itself: {seen}"
            seen.append(line)
        assert line.startswith("rights: listening on http://127.0.0.1:"), line
        # Uvicorn logs this once the lifespan has opened the registry; the old line came first.
        assert any("Application startup complete" in earlier for earlier in seen), seen
        port = int(line.split("http://127.0.0.1:")[1].split()[0])
        # Announced means ready: the first request is answered, no retrying.
        health = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=10)
        assert health.json() == {"status": "ok", "works_indexed": 1, "log_size": 1}
    finally:
        proc.terminate()
        proc.communicate(timeout=30)  # drains and closes the pipe


def test_the_cli_starts_without_loading_faiss_or_opencv() -> None:
    """Commands that only read settings (keys, log verify) should not pay ~0.35 s for them."""
    probe = "import sys, workers.cli; print(sorted(m for m in ('faiss', 'cv2') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", probe], check=True, capture_output=True, text=True)
    assert out.stdout.strip() == "[]"


def test_every_error_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for argv, says in [
        (["keys", "create", "--role", "wizard", "--name", "x"], "invalid choice: 'wizard'"),
        (["match", "a.png", "--limit", "abc"], "expected a whole number from 1 to 100, not 'abc'"),
        (["serve", "--port", "99999"], "expected a port number, 0-65535, not '99999'"),
    ]:
        with pytest.raises(SystemExit) as info:
            main(argv)
        assert info.value.code == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and says in err[0] and "--help" in err[0], err

    data = str(tmp_path / "data")
    assert main(["--data", data, "keys", "create", "--role", "platform", "--name", "etsy"]) == 0
    art = tmp_path / "art.png"
    art.write_bytes(artwork_png(620))
    capsys.readouterr()
    assert main(["--data", data, "register", str(art), str(art), "--creator", "etsy"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "platform account" in err[0], err  # once, not once per file

    assert main(["--data", data, "log", "verify", "--public-key", str(art)]) == 2  # a file, not a key
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not an Ed25519 public key" in err[0], err

    assert main(["--data", data, "keys", "create", "--role", "creator", "--name", "eve\n"]) == 2
    assert "eve" in capsys.readouterr().err  # "$" in the name rule used to let a trailing newline in

    assert main(["--data", data, "register", "/dev/zero", "--creator", "alice"]) == 2
    assert "/dev/zero: not a regular file" in capsys.readouterr().err
    assert main(["--data", data, "match", "/dev/zero", str(art)]) == 2  # capped, not read forever
    out, err = capsys.readouterr()
    assert "/dev/zero: not a regular file" in err and len(out.splitlines()) == 1  # art.png still answered

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["--data", data, "serve", "--port", str(port)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"cannot listen on 127.0.0.1:{port}" in err[0], err


def test_file_names_that_are_not_titles_still_register(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Bytes that are not UTF-8, a tab or 600 characters in a file name once stopped a bulk register
    with a traceback, leaving the files after it unregistered."""
    folder = tmp_path / "names"
    folder.mkdir()
    names = [b"a_first.png", b"caf\xe9.png", b"tab\there.png", b"x" * 200 + b".png", b"z_last.png"]
    for i, name in enumerate(names):
        (folder / os.fsdecode(name)).write_bytes(artwork_png(640 + i))
    assert main(["--data", str(tmp_path / "d"), "register", str(folder), "--creator", "alice"]) == 0
    titles = sorted(json.loads(line)["title"] for line in capsys.readouterr().out.splitlines())
    assert titles == sorted(["a_first", "caf\ufffd", "tab here", "x" * 200, "z_last"])


@pytest.mark.parametrize("flag", ["--title", "--creator"])
def test_arguments_that_are_not_utf8_are_usage_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], flag: str
) -> None:
    art = tmp_path / "art.png"
    art.write_bytes(artwork_png(660))
    argv = ["--data", str(tmp_path / "d"), "register", str(art), "--creator", "alice", flag, "bad\udcff"]
    with pytest.raises(SystemExit) as info:  # what argv bytes b"bad\xff" become in Python
        main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "expected UTF-8 text" in err[0], err
    assert not (tmp_path / "d").exists()


def test_log_commands_answer_bad_files_in_one_line(
    tmp_path: Path, images: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    assert main(["--data", str(data), "register", str(images / "art0.png"), "--creator", "alice"]) == 0
    line = capsys.readouterr().out
    key = data / "log-public-key.pem"
    # JSON Lines split on "\n" only: U+2028 inside a string (legal JSON) is no line break.
    body = json.loads(line)
    body["note"] = "before\u2028after"
    receipts = tmp_path / "receipts.jsonl"
    receipts.write_text(json.dumps(body, ensure_ascii=False) + "\n" + line, encoding="utf-8")
    assert main(["--data", str(data), "log", "verify-receipt", str(receipts), "--public-key", str(key)]) == 0
    assert [json.loads(x)["valid"] for x in capsys.readouterr().out.splitlines()] == [True, True]
    receipts.write_text(line + line + "{not json\n", encoding="utf-8")
    assert main(["--data", str(data), "log", "verify-receipt", str(receipts), "--public-key", str(key)]) == 2
    assert "line 3: " in capsys.readouterr().err  # named the failing line's own "line 1"

    # A receipt whose index is the string "0" is no receipt (README's algorithm compares integers).
    body["receipt"]["log_index"] = "0"
    typed = tmp_path / "typed.json"
    typed.write_text(json.dumps(body))
    assert main(["--data", str(data), "log", "verify-receipt", str(typed), "--public-key", str(key)]) == 1
    assert "'log_index' must be a JSON integer" in capsys.readouterr().err

    # A key named twice: which value a reader takes is up to it, so the receipt is refused.
    receipt_text = json.dumps(json.loads(line)["receipt"])
    doubled = tmp_path / "doubled.json"
    doubled.write_text(receipt_text.replace('{"version": 1,', '{"version": 1, "log_index": 999,', 1))
    assert '"log_index": 999' in doubled.read_text()
    assert main(["--data", str(data), "log", "verify-receipt", str(doubled), "--public-key", str(key)]) == 2
    assert "names the key 'log_index' twice" in capsys.readouterr().err

    assert main(["--data", str(data), "log", "verify-receipt", str(tmp_path), "--public-key", str(key)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Is a directory" in err[0], err

    key.write_text("garbage\n")  # the published key, damaged
    assert main(["--data", str(data), "log", "verify"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "published key" in err[0] and "--public-key" in err[0], err


def test_an_empty_log_verifies_though_no_key_was_written_yet(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A registry killed 1.4 s into its first register had its database but not yet its key;
    ``log verify`` said the key was unreadable, as if it were lost. A log with entries still needs it."""
    from rights import db

    db.connect(tmp_path).close()  # the database as a first open creates it, before the key
    assert main(["--data", str(tmp_path), "log", "verify"]) == 0
    assert json.loads(capsys.readouterr().out)["ok"] is True
    with Registry.open(tmp_path) as reg:
        reg.register("alice", artwork_png(660))
    (tmp_path / "log-public-key.pem").unlink()
    assert main(["--data", str(tmp_path), "log", "verify"]) == 1
    assert "published key" in capsys.readouterr().err


def test_a_bad_upload_cap_is_a_setting_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("RIGHTS_MAX_UPLOAD_BYTES", "-5")
    assert main(["--data", str(tmp_path), "match", str(tmp_path / "any.png")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "RIGHTS_MAX_UPLOAD_BYTES" in err[0], err


def test_a_reader_that_leaves_early_gets_no_broken_pipe_error(tmp_path: Path) -> None:
    """``rights match ... | head -c1`` printed "rights: error: Broken pipe"."""
    image = tmp_path / "a.png"
    image.write_bytes(artwork_png(650))
    Registry.open(tmp_path / "d").close()
    command = [sys.executable, "-m", "rights", "--data", str(tmp_path / "d"), "match", *[str(image)] * 600]
    env = {**os.environ, "RIGHTS_FINGERPRINT_PROCESSES": "0"}
    proc = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    assert proc.stdout is not None and proc.stdout.read(1) == b"{"
    proc.stdout.close()  # ~150 kB more to come: past the pipe's buffer
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 1 and err == b""


def test_serve_refuses_a_data_directory_in_one_line_before_starting(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A newer release's schema or a lost signing key made uvicorn print a 75-line traceback and exit 3
    (an audit); the other commands said one line and exited 1."""
    data = tmp_path / "d"
    assert main(["--data", str(data), "register", str(_one_image(tmp_path)), "--creator", "ann"]) == 0
    (data / "log-signing-key.pem").rename(tmp_path / "key.pem")
    assert main(["--data", str(data), "serve", "--port", "0"]) == 1
    [line] = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("rights: error: ") and "log-signing-key.pem is missing" in line
    (tmp_path / "key.pem").rename(data / "log-signing-key.pem")
    with sqlite3.connect(data / "rights.sqlite3") as conn:
        conn.execute("INSERT INTO schema_version VALUES (9999, 'from_the_future', 'x')")
    assert main(["--data", str(data), "serve", "--port", "0"]) == 1
    [line] = capsys.readouterr().err.strip().splitlines()
    assert "newer release" in line


def _one_image(folder: Path) -> Path:
    path = folder / "art.png"
    path.write_bytes(artwork_png(640))
    return path


def test_log_verify_checks_the_works_table_against_the_log(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Another creator's name on a work, or a withdrawal the log never saw, passed `log verify` while
    matching and cases followed the edited table (an audit)."""
    data = tmp_path / "d"
    for seed, creator in ((650, "ann"), (651, "bob"), (652, "bob")):
        path = tmp_path / f"w{seed}.png"
        path.write_bytes(artwork_png(seed))
        assert main(["--data", str(data), "register", str(path), "--creator", creator]) == 0
    assert main(["--data", str(data), "works", "withdraw", "w_3"]) == 0
    grant = ["licenses", "grant", "w_1", "--licensee", "shop", "--platform", "p"]
    assert main(["--data", str(data), *grant]) == 0
    assert main(["--data", str(data), "refingerprint", "--all"]) == 0  # later digests come from the log
    assert main(["--data", str(data), "log", "verify"]) == 0
    capsys.readouterr()
    for edit, says in (
        (
            "UPDATE works SET creator = 'mallory' WHERE id = 2",
            "gives w_2 the creator 'mallory'; the log: 'bob'",
        ),
        (
            "UPDATE works SET status = 'withdrawn' WHERE id = 1",
            "says w_1 is withdrawn; the log: not withdrawn",
        ),
        ("UPDATE works SET status = 'registered' WHERE id = 3", "says w_3 is registered; the log: withdrawn"),
        ("UPDATE works SET fp_digest = 'x' WHERE id = 1", "gives w_1 the fingerprint digest 'x'"),
        ("DELETE FROM works WHERE id = 2", "registers w_2, which the works table lacks"),
        # Printed in takedown notices beside the log index (an audit):
        ("UPDATE works SET title = 'Forged' WHERE id = 2", "gives w_2 the title 'Forged'; the log: 'w651'"),
        ("UPDATE works SET registered_at = '2001-01-01T00:00:00.000Z' WHERE id = 2", "registration time"),
        # A licence the log never saw whitelisted a pirate seller in every match (an audit):
        (
            "INSERT INTO licenses (work_id, licensee, created_at, log_index) VALUES (2, 'pirate', 'x', 999)",
            "the licences table holds l_2, which no log entry records",
        ),
        ("UPDATE licenses SET licensee = 'pirate'", "gives l_1 the licensee 'pirate'; the log: 'shop'"),
        ("UPDATE licenses SET platform = NULL", "gives l_1 the platform None; the log: 'p'"),
        ("DELETE FROM licenses", "records licence l_1, which the licences table lacks"),
    ):
        copy = tmp_path / "copy"
        shutil.rmtree(copy, ignore_errors=True)
        shutil.copytree(data, copy)
        with sqlite3.connect(copy / "rights.sqlite3") as conn:
            conn.execute("PRAGMA foreign_keys = OFF")
            conn.execute(edit)
        assert main(["--data", str(copy), "log", "verify"]) == 1, edit
        [line] = capsys.readouterr().err.strip().splitlines()
        assert says in line, (edit, line)


def test_match_reads_a_local_file_as_large_as_register_does(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`rights match` applied the HTTP upload cap (25 MiB) to local files that `register` takes up to
    100 MiB: a work registered from a file could not be looked up from it (an audit)."""
    art = Image.open(io.BytesIO(artwork_png(33))).convert("RGB").resize((3000, 3000))
    path = tmp_path / "big.bmp"  # an uncompressed 27 MB picture
    art.save(path, "BMP")
    assert path.stat().st_size > 25 * 2**20  # over the upload cap
    data = str(tmp_path / "data")
    assert main(["--data", data, "register", str(path), "--creator", "ann"]) == 0
    capsys.readouterr()
    assert main(["--data", data, "match", str(path)]) == 0
    assert json.loads(capsys.readouterr().out)["verdict"] == "match"
