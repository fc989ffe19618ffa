"""PDQ hash lists: exported as ThreatExchange tools write them, and their hashes looked up here.

The exchange hash is checked against an independent hasher written the way python-threatexchange's
``pdq_hasher`` is (``pdqhash.compute`` on the decoded file, the bit string read as one big number).
"""

from __future__ import annotations

import io
import json
import os
import sqlite3
from pathlib import Path

import numpy as np
import pdqhash
import pytest
from PIL import Image

from indexes.hash_exchange import exchange_pdq, parse_pdq_hex
from rights import db, hash_lists
from rights.api.app import create_app
from rights.cli import main
from rights.config import Settings
from rights.registry import Registry
from tests.rights_support import TestClient, artwork, artwork_png

Capture = pytest.CaptureFixture[str]


def threatexchange_pdq(data: bytes) -> str:
    """PDQ as python-threatexchange computes and writes it."""
    bits, _ = pdqhash.compute(np.asarray(Image.open(io.BytesIO(data)).convert("RGB")))
    return format(int("".join(str(int(b)) for b in bits), 2), "064x")


def distance(a: str, b: str) -> int:
    return bin(int(a, 16) ^ int(b, 16)).count("1")


def jpeg_copy(seed: int, scale: float = 0.5, quality: int = 80) -> bytes:
    im = artwork(seed)
    buf = io.BytesIO()
    im.resize((round(im.width * scale), round(im.height * scale))).save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def cli(data: Path, *argv: str) -> int:
    return main(["--data", str(data), *argv])


@pytest.fixture
def registry_dir(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    with Registry.open(data) as registry:
        for seed in range(4):
            registry.register("ann" if seed < 3 else "bob", artwork_png(seed), title=f"art {seed}")
    return data


# ------------------------------------------------------------------------------------ the hash itself


def test_the_exchange_hash_is_the_one_threatexchange_computes() -> None:
    for seed in range(3):
        png = artwork_png(seed)
        ours, quality = exchange_pdq(png)
        assert ours == threatexchange_pdq(png)
        assert len(ours) == 64 and ours == ours.lower() and quality >= 50
        # A re-encoded, smaller copy hashed by the other tool is well within PDQ's 31 bits.
        assert distance(ours, threatexchange_pdq(jpeg_copy(seed, 0.75, 90))) <= 20


def test_hex_parsing_is_strict() -> None:
    assert bytes(parse_pdq_hex(" " + "AB" * 32 + "\n")).hex() == "ab" * 32
    for bad in ("ab" * 31, "ab" * 33, "zz" * 32, "", "0x" + "ab" * 31):
        with pytest.raises(ValueError, match="64 hex digits"):
            parse_pdq_hex(bad)


def test_a_signal_file_is_read_line_by_line() -> None:
    good = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"
    text = [
        "\ufeffpdq " + good,
        "",
        "# a comment",
        good.upper(),
        "md5 d41d8cd98f00b204e9800998ecf8427e",
        "pdq 123",
    ]
    lines = list(hash_lists.parse_hash_list(text))
    assert [(e.line, e.pdq) for e in lines[:2]] == [(1, good), (4, good)]
    assert (
        lines[2].pdq is None and lines[2].error is not None and "line 5: signal type 'md5'" in lines[2].error
    )
    assert lines[3].error is not None and lines[3].error.startswith("line 6: a PDQ hash is 64 hex digits")


# ------------------------------------------------------------------------------------ export and lookup


def test_export_lists_every_live_work_once_and_keeps_the_hashes(registry_dir: Path, capsys: Capture) -> None:
    assert cli(registry_dir, "hashes", "export") == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 4 and all(line.startswith("pdq ") and len(line) == 68 for line in lines)
    assert lines[0] == "pdq " + exchange_pdq(artwork_png(0))[0]
    conn = db.connect(registry_dir)
    try:
        assert conn.execute("SELECT COUNT(*) FROM exchange_hashes").fetchone()[0] == 4
        assert hash_lists.fill_missing(conn, registry_dir).computed == 0  # computed once, then kept
    finally:
        conn.close()

    with Registry.open(registry_dir) as registry:
        registry.withdraw("w_2")
    assert cli(registry_dir, "hashes", "export", "--format", "jsonl", "--creator", "ann") == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["work_id"] for r in rows] == ["w_1", "w_3"]  # withdrawn and other creators' works left out
    assert set(rows[0]) == {"work_id", "creator", "title", "sha256", "status", "log_index", "pdq", "quality"}
    assert rows[0]["pdq"] == lines[0][4:] and rows[0]["title"] == "art 0"


def test_export_to_a_file_appears_whole(registry_dir: Path, tmp_path: Path, capsys: Capture) -> None:
    out = tmp_path / "bank.txt"
    assert cli(registry_dir, "hashes", "export", "--out", str(out)) == 0
    assert len(out.read_text().splitlines()) == 4
    assert capsys.readouterr().out == ""
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".bank")] == []  # no temporary left


def test_another_tools_hashes_find_their_works(registry_dir: Path, tmp_path: Path, capsys: Capture) -> None:
    listing = tmp_path / "listings.txt"
    listing.write_text(
        "\n".join(
            [
                "pdq " + threatexchange_pdq(jpeg_copy(1, 0.75, 90)),  # a re-encoded copy, hashed elsewhere
                threatexchange_pdq(jpeg_copy(3, 0.8, 60)),  # bare hex: bob's
                "pdq " + threatexchange_pdq(artwork_png(50)),  # never registered
                "pdq " + "0" * 64,  # a flat image's hash
                "pdq nothex",
            ]
        )
        + "\n"
    )
    assert cli(registry_dir, "hashes", "match", str(listing)) == 2  # two lines were not usable hashes
    results = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["line"] for r in results] == [1, 2, 3, 4, 5]
    first, second, unrelated, flat, broken = results
    assert [m["work_id"] for m in first["matches"]] == ["w_2"] and 0 < first["matches"][0]["distance"] <= 20
    assert second["matches"][0]["work_id"] == "w_4" and second["matches"][0]["creator"] == "bob"
    assert unrelated == {"line": 3, "pdq": unrelated["pdq"], "matches": [], "error": None}
    assert "flat or regular image" in flat["error"] and flat["matches"] == []
    assert broken["pdq"] is None and broken["error"].startswith("line 5: a PDQ hash is 64 hex digits")
    # A tighter distance is the caller's to choose: the copy is not the registered file's bits.
    listing.write_text(
        "pdq " + threatexchange_pdq(jpeg_copy(1, 0.75, 90)) + "\n" + threatexchange_pdq(artwork_png(1))
    )
    assert cli(registry_dir, "hashes", "match", str(listing), "--max-distance", "0") == 0
    tight = [json.loads(line)["matches"] for line in capsys.readouterr().out.splitlines()]
    assert tight[0] == [] and [m["distance"] for m in tight[1]] == [0]
    # A folder given for the list is bad usage (exit 2), as a missing file is; it exited 1.
    assert cli(registry_dir, "hashes", "match", str(listing.parent)) == 2
    assert "Is a directory" in capsys.readouterr().err


def test_a_lost_original_is_named_and_the_rest_still_listed(registry_dir: Path, capsys: Capture) -> None:
    conn = db.connect(registry_dir)
    sha = conn.execute("SELECT sha256 FROM works WHERE id = 2").fetchone()[0]
    conn.close()
    db.original_path(registry_dir, sha).unlink()
    assert cli(registry_dir, "hashes", "export") == 1
    captured = capsys.readouterr()
    assert len(captured.out.splitlines()) == 3
    assert (
        captured.err.startswith("rights: error: w_2: original unreadable")
        and len(captured.err.splitlines()) == 1
    )


def test_commands_want_an_existing_registry(tmp_path: Path, capsys: Capture) -> None:
    assert cli(tmp_path / "typo", "hashes", "export") == 2
    assert "no registry in" in capsys.readouterr().err
    assert not (tmp_path / "typo").exists()


def test_the_registry_keeps_one_exchange_hash_per_work(registry_dir: Path) -> None:
    conn = db.connect(registry_dir)
    try:
        assert conn.execute("SELECT 1 FROM schema_version WHERE version = 4").fetchone() is not None
        with pytest.raises(sqlite3.IntegrityError), db.transaction(conn):  # one hash per work
            conn.executemany(
                "INSERT INTO exchange_hashes (work_id, pdq, quality) VALUES (?, ?, ?)", [(1, "a", 1)] * 2
            )
    finally:
        conn.close()


# ------------------------------------------------------------------------------------------ over HTTP


def test_a_platform_pages_through_the_list_and_looks_hashes_up(registry_dir: Path) -> None:
    with Registry.open(registry_dir) as registry:
        shop = {"Authorization": f"Bearer {registry.create_key('platform', 'shop')}"}
        ann = {"Authorization": f"Bearer {registry.create_key('creator', 'ann')}"}
    with TestClient(create_app(Settings(data=registry_dir))) as client:
        seen, cursor = [], None
        while True:
            page = client.get(
                "/v1/hashes", params={"limit": 3, **({"cursor": cursor} if cursor else {})}, headers=shop
            )
            assert page.status_code == 200, page.text
            seen += page.json()["hashes"]
            if (cursor := page.json()["next_cursor"]) is None:
                break
        assert [e["work_id"] for e in seen] == ["w_1", "w_2", "w_3", "w_4"]
        assert seen[0]["pdq"] == exchange_pdq(artwork_png(0))[0] and seen[3]["creator"] == "bob"
        own = client.get("/v1/hashes", headers=ann).json()["hashes"]
        assert {e["creator"] for e in own} == {"ann"} and len(own) == 3

        copy = threatexchange_pdq(jpeg_copy(2, 0.75, 90))
        answer = client.post("/v1/hashes/match", json={"hashes": [copy, "nothex"]}, headers=shop)
        assert answer.status_code == 200, answer.text
        found, broken = answer.json()["results"]
        assert [m["work_id"] for m in found["matches"]] == ["w_3"] and found["error"] is None
        assert broken["matches"] == [] and "64 hex digits" in broken["error"]
        assert answer.json()["works_not_yet_hashed"] == 0

        with Registry.open(registry_dir) as registry:
            registry.withdraw("w_3")
        again = client.post("/v1/hashes/match", json={"hashes": [copy]}, headers=shop).json()
        assert again["results"][0]["matches"] == []  # a withdrawn work is never named

        refused = client.post(
            "/v1/hashes/match",
            content=b'{"hashes": ["' + copy.encode() + b'"], "hashes": []}',
            headers={**shop, "Content-Type": "application/json"},
        )
        assert refused.status_code == 400 and "twice" in refused.json()["error"]["message"]
        too_many = client.post("/v1/hashes/match", json={"hashes": [copy] * 1001}, headers=shop)
        assert too_many.status_code == 422


def test_a_lookup_hashes_a_few_more_works_and_says_how_many_wait(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rights.api.routes import hashes

    monkeypatch.setattr(hashes, "_FILL_PER_LOOKUP", 1)  # 200 in service: 1 here, so 3 works show it
    data = tmp_path / "data"
    with Registry.open(data) as registry:
        shop = {"Authorization": f"Bearer {registry.create_key('platform', 'shop')}"}
        for seed in range(3):
            registry.register("ann", artwork_png(seed))
    query = {"hashes": [threatexchange_pdq(artwork_png(2))]}
    with TestClient(create_app(Settings(data=data))) as client:
        answers = [client.post("/v1/hashes/match", json=query, headers=shop).json() for _ in range(3)]
    assert [a["works_not_yet_hashed"] for a in answers] == [2, 1, 0]
    assert [len(a["results"][0]["matches"]) for a in answers] == [0, 0, 1]  # w_3 is hashed last


# ------------------------------------------------------------------------------- the second audit's cases


def test_exif_orientation_is_not_applied_as_threatexchange_does_not(tmp_path: Path) -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # "turn 90 degrees to show": their hasher reads the pixels as stored
    buf = io.BytesIO()
    artwork(5).save(buf, "JPEG", quality=90, exif=exif)
    assert exchange_pdq(buf.getvalue())[0] == threatexchange_pdq(buf.getvalue())


def test_unreadable_originals_are_listed_with_their_error_and_not_retried_by_lookups(
    registry_dir: Path, tmp_path: Path, capsys: Capture
) -> None:
    conn = db.connect(registry_dir)
    sha = conn.execute("SELECT sha256 FROM works WHERE id = 1").fetchone()[0]
    conn.close()
    original = db.original_path(registry_dir, sha)
    kept = original.read_bytes()
    original.unlink()
    with Registry.open(registry_dir) as registry:
        shop = {"Authorization": f"Bearer {registry.create_key('platform', 'shop')}"}
    with TestClient(create_app(Settings(data=registry_dir))) as client:
        first = client.get("/v1/hashes", params={"limit": 1}, headers=shop).json()
        [entry] = first["hashes"]  # a page is never silently empty
        assert entry["work_id"] == "w_1" and entry["pdq"] is None and "original unreadable" in entry["error"]
        query = {"hashes": [threatexchange_pdq(artwork_png(3))]}
        answer = client.post("/v1/hashes/match", json=query, headers=shop).json()
        assert answer["works_not_yet_hashed"] == 0 and answer["works_unhashable"] == 1
        assert [m["work_id"] for m in answer["results"][0]["matches"]] == ["w_4"]  # later works hashed
    # bob's export does not fail for alice's lost original; a full export tries it again and says so.
    assert cli(registry_dir, "hashes", "export", "--creator", "bob") == 0
    assert cli(registry_dir, "hashes", "export") == 1
    assert "w_1: original unreadable" in capsys.readouterr().err
    original.write_bytes(kept)  # restored: the next export hashes it
    assert cli(registry_dir, "hashes", "export") == 0
    assert len(capsys.readouterr().out.splitlines()) == 4


def test_out_is_created_as_a_plain_file_would_be(registry_dir: Path, tmp_path: Path, capsys: Capture) -> None:
    out = tmp_path / "bank.txt"
    assert cli(registry_dir, "hashes", "export", "--out", str(out)) == 0
    assert out.stat().st_mode & 0o777 == 0o666 & ~_umask()
    assert cli(registry_dir, "hashes", "export", "--out", "-") == 0
    assert len(capsys.readouterr().out.splitlines()) == 4 and not Path("-").exists()
    assert cli(registry_dir, "hashes", "export", "--out", str(tmp_path / "nowhere" / "x.txt")) == 2
    assert (
        capsys.readouterr().err.strip() == f"rights: error: {tmp_path / 'nowhere'}: no such folder for --out"
    )


def test_a_tab_may_separate_the_type_and_http_takes_the_signal_form(
    registry_dir: Path, tmp_path: Path, capsys: Capture
) -> None:
    own = threatexchange_pdq(artwork_png(1))
    listing = tmp_path / "l.txt"
    listing.write_text(f"pdq\t{own}\n", encoding="utf-16")  # a UTF-16 list, as Windows saves one
    assert cli(registry_dir, "hashes", "match", str(listing)) == 0
    assert json.loads(capsys.readouterr().out)["matches"][0]["work_id"] == "w_2"
    with Registry.open(registry_dir) as registry:
        shop = {"Authorization": f"Bearer {registry.create_key('platform', 'shop')}"}
    with TestClient(create_app(Settings(data=registry_dir))) as client:
        answer = client.post("/v1/hashes/match", json={"hashes": [f"pdq {own}"]}, headers=shop).json()
        assert answer["results"][0]["matches"][0]["work_id"] == "w_2"
        for loose in ({"max_distance": True}, {"max_distance": "5"}, {"limit": 2.0}):
            refused = client.post("/v1/hashes/match", json={"hashes": [own], **loose}, headers=shop)
            assert refused.status_code == 422, loose


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
