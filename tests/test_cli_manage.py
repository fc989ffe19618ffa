"""``rights works``, ``rights licenses`` and ``rights cases`` on a real registry (SQLite, FAISS, log)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rights import cases
from rights.cli import main
from rights.log import load_public_key, verify_receipt
from rights.log.signing import PUBLIC_KEY_FILE
from rights.registry import Registry
from tests.rights_support import artwork_png

Capture = pytest.CaptureFixture[str]


def _lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines()]


@pytest.fixture
def data(tmp_path: Path) -> Path:
    """Two creators' works, and a case against ann's first work found on a platform's listing."""
    folder = tmp_path / "data"
    with Registry.open(folder) as registry:
        first = registry.register("ann", artwork_png(1), title="Harbour")
        registry.register("ann", artwork_png(2), title="Lighthouse")
        registry.register("bo", artwork_png(3), title="Dunes")
        match = {
            **{"work_id": first["work_id"], "creator": "ann", "title": "Harbour", "score": 0.95},
            **{"verdict": "match", "kind": "partial", "region": [0, 0, 10, 10], "licensed": False},
        }
        listing = {"listing_id": "L1", "platform": "shopx", "seller": "pirate", "title": "Harbour print"}
        with registry.transaction() as conn:
            cases.record_hit(conn, match=match, listing=listing, evidence={}, scan_id="scan_1")
    return folder


SAMPLE = Path(__file__).resolve().parent.parent / "samples" / "works" / "01_trumpet_pocket_colour_ga.png"


def rights(data: Path, *argv: str) -> int:
    return main(["--data", str(data), *argv])


def test_works_are_listed_shown_and_withdrawn(data: Path, capsys: Capture) -> None:
    assert rights(data, "works", "list") == 0
    listed = _lines(capsys.readouterr().out)
    assert [(w["work_id"], w["creator"], w["title"]) for w in listed] == [
        ("w_1", "ann", "Harbour"),
        ("w_2", "ann", "Lighthouse"),
        ("w_3", "bo", "Dunes"),
    ]
    assert rights(data, "works", "list", "--creator", "bo") == 0
    assert [w["work_id"] for w in _lines(capsys.readouterr().out)] == ["w_3"]
    assert rights(data, "works", "list", "--limit", "2") == 0
    assert len(_lines(capsys.readouterr().out)) == 2

    assert rights(data, "works", "withdraw", "w_1") == 0
    assert _lines(capsys.readouterr().out)[0]["status"] == "withdrawn"
    assert rights(data, "works", "show", "w_1") == 0
    assert _lines(capsys.readouterr().out)[0]["withdrawn_at"] is not None
    # Withdrawn means no longer matched, and the withdrawal is in the log.
    with Registry.open(data) as registry:
        assert "w_1" not in [m["work_id"] for m in registry.match_image(artwork_png(1), 5)["matches"]]
        assert registry.match_image(artwork_png(2), 5)["matches"][0]["work_id"] == "w_2"
        assert registry.log.size() == 4
    assert rights(data, "log", "verify") == 0
    assert _lines(capsys.readouterr().out)[0]["ok"] is True
    # Its open case is dismissed, so no notice goes out for a claim the holder gave up.
    assert rights(data, "cases", "list", "--status", "dismissed") == 0
    assert [c["listing_id"] for c in _lines(capsys.readouterr().out)] == ["L1"]
    assert rights(data, "cases", "notice", "1") == 2
    assert "withdrawn" in capsys.readouterr().err


def test_a_receipt_saved_by_the_cli_verifies_offline(data: Path, tmp_path: Path, capsys: Capture) -> None:
    out = tmp_path / "receipt.json"
    assert rights(data, "works", "receipt", "w_2", "--out", str(out)) == 0
    receipt = json.loads(out.read_text())
    entry = verify_receipt(receipt, load_public_key(data / PUBLIC_KEY_FILE))
    assert (entry["work_id"], entry["kind"]) == ("w_2", "register")
    assert rights(data, "log", "verify-receipt", str(out), "--public-key", str(data / PUBLIC_KEY_FILE)) == 0


def test_a_licence_settles_the_case_and_is_logged(data: Path, capsys: Capture) -> None:
    grant = ["licenses", "grant", "w_1", "--licensee", "pirate", "--platform", "shopx"]
    assert rights(data, *grant, "--expires-at", "2031-01-01") == 0
    granted = _lines(capsys.readouterr().out)[0]
    assert (granted["licensee"], granted["platform"]) == ("pirate", "shopx")
    assert granted["expires_at"] == "2031-01-01T00:00:00.000Z"
    assert rights(data, "licenses", "list", "w_1") == 0
    assert [lic["license_id"] for lic in _lines(capsys.readouterr().out)] == [granted["license_id"]]
    assert rights(data, "cases", "show", "1") == 0
    assert _lines(capsys.readouterr().out)[0]["status"] == "licensed"
    assert rights(data, "cases", "notice", "1") == 2  # a notice would contradict the licence
    assert "licensed" in capsys.readouterr().err
    with Registry.open(data) as registry:
        assert registry.log.size() == 4
    assert rights(data, "licenses", "grant", "w_1", "--licensee", "x", "--expires-at", "soon") == 2
    assert "ISO 8601" in capsys.readouterr().err


def test_a_case_moves_through_its_states_and_gives_notices(
    data: Path, tmp_path: Path, capsys: Capture
) -> None:
    assert rights(data, "cases", "set", "1", "notified", "--note", "mailed\nto legal") == 0
    assert _lines(capsys.readouterr().out)[0]["status"] == "notified"
    assert rights(data, "cases", "show", "1") == 0
    history = _lines(capsys.readouterr().out)[0]["history"]
    assert [(h["to"], h["actor"], h["note"]) for h in history][-1] == ("notified", "cli", "mailed\nto legal")

    # A contact typed into a web form arrives with CRLF line breaks; they are line breaks, not controls.
    assert rights(data, "cases", "notice", "1", "--contact", "Ann Lee\r\nann@example.org") == 0
    markdown = capsys.readouterr().out
    assert "512(c)(3)" in markdown and "ann@example.org" in markdown and "Harbour print" in markdown
    assert "[to be signed by the rights holder]" in markdown  # no legal name given: nobody signed
    assert rights(data, "cases", "notice", "1", "--holder-name", "Ann  Lee Ltd") == 0
    assert "Electronic signature: /Ann Lee Ltd/" in capsys.readouterr().out
    assert rights(data, "cases", "notice", "1", "--lang", "zh") == 0
    assert "第十四条" in capsys.readouterr().out
    out = tmp_path / "notice.json"
    assert rights(data, "cases", "notice", "1", "--format", "json", "--out", str(out)) == 0
    notice = json.loads(out.read_text())
    assert (notice["case_id"], notice["work"]["work_id"], notice["infringing_material"]["seller"]) == (
        1,
        "w_1",
        "pirate",
    )
    assert notice["work"]["receipt"]["log_index"] == notice["work"]["log_index"] == 0

    assert rights(data, "cases", "set", "1", "taken_down") == 0
    capsys.readouterr()
    assert rights(data, "cases", "set", "1", "licensed") == 2  # not a move the life cycle allows
    assert "can move to open" in capsys.readouterr().err
    assert rights(data, "cases", "set", "1", "open", "--note", "bad\x1b[31m") == 2
    assert "control characters" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["works", "show", "w_99"], "no work w_99"),
        (["works", "withdraw", "nonsense"], "work ids look like"),
        (["cases", "show", "7"], "no case 7"),
        (["cases", "notice", "1", "--format", "pdf"], "--format is one of md, html, json"),
        (["licenses", "list", "w_42"], "no work w_42"),
    ],
)
def test_wrong_ids_and_options_are_one_line_and_exit_2(
    data: Path, capsys: Capture, argv: list[str], message: str
) -> None:
    assert rights(data, *argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_commands_refuse_a_missing_registry_and_do_not_create_one(tmp_path: Path, capsys: Capture) -> None:
    missing = tmp_path / "typo"
    for argv in (
        ["works", "list"],
        ["cases", "list"],
        ["licenses", "list", "w_1"],
        ["works", "withdraw", "w_1"],
        ["match", str(SAMPLE)],  # was "clear", from an empty registry
        ["refingerprint"],
    ):
        assert rights(missing, *argv) == 2
        assert "no registry" in capsys.readouterr().err
    assert not missing.exists()


@pytest.mark.parametrize("command", [("works", "list"), ("cases", "list")])
def test_a_creator_filter_naming_no_account_says_so(
    data: Path, capsys: Capture, command: tuple[str, str]
) -> None:
    """A mistyped --creator listed nothing, exit 0, with no word why (an audit)."""
    assert rights(data, *command, "--creator", "ANN") == 2
    out, err = capsys.readouterr()
    assert out == "" and err.strip() == "rights: error: no account named 'ANN'; did you mean 'ann'?"
    assert rights(data, *command, "--creator", "nobody") == 2
    assert capsys.readouterr().err.strip() == "rights: error: no account named 'nobody'"
    assert rights(data, *command, "--creator", "ann") == 0
