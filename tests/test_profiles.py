"""The rights holder's stored profile: kept per account, checked, upgraded into old data directories,
set and read over the CLI and HTTP, printed by every notice, and kept out of the transparency log."""

from __future__ import annotations

import json
import shutil
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from rights import accounts, cases, db, profiles
from rights.api.app import create_app
from rights.cli import main
from rights.config import Settings
from rights.errors import BadInput, Forbidden, NotFound
from rights.registry import Registry
from tests.rights_support import TestClient, artwork_png

Capture = pytest.CaptureFixture[str]

LEGAL_NAME = "Ann Lee Studio Ltd"
CONTACT = "legal@annlee.example\n+44 20 7946 0000\n1 Harbour Row, Bristol"


# ---------------------------------------------------------------------------------------- the module


@pytest.fixture
def conn(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    connection = db.connect(tmp_path)
    with db.transaction(connection):
        accounts.ensure_account(connection, "ann", "creator")
        accounts.ensure_account(connection, "shop", "platform")
    yield connection
    connection.close()


def _set(conn: sqlite3.Connection, account: str = "ann", **fields: str | None) -> profiles.HolderProfile:
    with db.transaction(conn):
        return profiles.set_profile(conn, account, **fields)  # type: ignore[arg-type]


def test_only_the_fields_given_change_and_an_empty_one_clears(conn: sqlite3.Connection) -> None:
    assert profiles.get_profile(conn, "ann") == profiles.HolderProfile("ann")
    first = _set(conn, legal_name="  Ann\tLee \r\n Studio  Ltd ", contact="legal@annlee.example\r\n1 Row  ")
    assert (first.legal_name, first.contact) == (LEGAL_NAME, "legal@annlee.example\n1 Row")  # one line
    assert first.updated_at is not None
    assert profiles.get_profile(conn, "ann") == first
    assert _set(conn, contact=CONTACT).legal_name == LEGAL_NAME
    assert _set(conn, legal_name="").to_dict() == {
        "account": "ann",
        "legal_name": None,
        "contact": CONTACT,
        "updated_at": profiles.get_profile(conn, "ann").updated_at,
    }
    assert _set(conn, contact=" \n ").contact is None  # blank is cleared too
    assert _set(conn, contact=None).contact is None


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"legal_name": "Ann\x00Lee"}, "legal name must not contain control characters"),
        ({"contact": "ann\x1b[31m@x"}, "contact must not contain control characters"),
        ({"contact": "ann\r1 Row"}, "contact must not contain control characters"),  # a lone CR
        ({"contact": "line\u2028break"}, "contact must not contain control characters"),
        ({"legal_name": "x" * 201}, "at most 200 characters"),
        ({"contact": "x" * 501}, "at most 500 characters"),
        ({"contact": "ann\ud800"}, "not valid Unicode text"),
    ],
)
def test_text_that_notices_cannot_print_is_refused(
    conn: sqlite3.Connection, fields: dict[str, str], message: str
) -> None:
    with pytest.raises(BadInput, match=message):
        _set(conn, **fields)
    assert profiles.get_profile(conn, "ann").updated_at is None  # nothing was written
    assert _set(conn, legal_name="x" * 200, contact="y" * 500).contact == "y" * 500  # the caps themselves


def test_the_database_holding_profiles_is_readable_by_its_owner_only(tmp_path: Path) -> None:
    """It was created 0644: every local user could read the holders' addresses (an audit)."""
    data = tmp_path / "data"
    conn = db.connect(data)
    try:
        with db.transaction(conn):
            accounts.ensure_account(conn, "ann", "creator")
        _set(conn, contact="1 Quay Street, Cork")
        files = sorted(data.glob(f"{db.DB_FILENAME}*"))
        assert {f.name for f in files} >= {db.DB_FILENAME, f"{db.DB_FILENAME}-wal", f"{db.DB_FILENAME}-shm"}
        assert {oct(f.stat().st_mode & 0o777) for f in files} == {oct(0o600)}
    finally:
        conn.close()


def test_unknown_and_platform_accounts_have_no_profile(conn: sqlite3.Connection) -> None:
    with pytest.raises(NotFound, match="no account named 'nobody'"):
        profiles.get_profile(conn, "nobody")
    with pytest.raises(Forbidden, match="platform account"):
        _set(conn, "shop", legal_name="Shop Inc")
    assert profiles.stored_profile(conn, "nobody") == profiles.HolderProfile("nobody")  # notices' view


def test_a_data_directory_from_before_profiles_is_upgraded_in_place(tmp_path: Path, capsys: Capture) -> None:
    """A registry made by the release before migration 0003 keeps its accounts, works and log, and
    gains the table at its next open; no wipe."""
    before = tmp_path / "migrations-before"
    before.mkdir()
    for migration in db.discover_migrations():
        if migration.name != "holder_profiles":
            shutil.copy(migration.path, before)
    data = tmp_path / "data"
    data.mkdir()
    old = sqlite3.connect(data / db.DB_FILENAME, isolation_level=None)
    db.apply_migrations(old, before)
    with db.transaction(old):
        accounts.ensure_account(old, "ann", "creator")
    assert old.execute("SELECT 1 FROM sqlite_master WHERE name = 'holder_profiles'").fetchone() is None
    old.close()

    assert main(["--data", str(data), "profile", "set", "--account", "ann", "--legal-name", LEGAL_NAME]) == 0
    assert json.loads(capsys.readouterr().out)["legal_name"] == LEGAL_NAME
    with Registry.open(data) as registry:  # the rest of the registry opens as before
        registry.register("ann", artwork_png(41))
        assert registry.log.size() == 1
        versions = {r[0] for r in registry.db.execute("SELECT version FROM schema_version")}
    assert versions == {m.version for m in db.discover_migrations()}


# ------------------------------------------------------------------------------------------- the CLI


def rights(data: Path, *argv: str) -> int:
    return main(["--data", str(data), *argv])


def test_cli_sets_and_shows_a_profile(tmp_path: Path, capsys: Capture) -> None:
    assert rights(tmp_path, "keys", "create", "--role", "creator", "--name", "ann") == 0
    capsys.readouterr()
    assert rights(tmp_path, "profile", "show", "--account", "ann") == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 1
    assert json.loads(out) == {"account": "ann", "legal_name": None, "contact": None, "updated_at": None}

    assert rights(tmp_path, "profile", "set", "--account", "ann", "--legal-name", "Ann  Lee\nStudio Ltd") == 0
    set_once = json.loads(capsys.readouterr().out)
    assert (set_once["legal_name"], set_once["contact"]) == (LEGAL_NAME, None)
    assert rights(tmp_path, "profile", "set", "--account", "ann", "--contact", CONTACT) == 0
    assert json.loads(capsys.readouterr().out)["legal_name"] == LEGAL_NAME  # left as it was
    assert rights(tmp_path, "profile", "show", "--account", "ann") == 0
    shown = json.loads(capsys.readouterr().out)
    assert (shown["legal_name"], shown["contact"]) == (LEGAL_NAME, CONTACT)
    assert rights(tmp_path, "profile", "set", "--account", "ann", "--contact", "") == 0
    assert json.loads(capsys.readouterr().out)["contact"] is None


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["profile", "show", "--account", "nobody"], "no account named 'nobody'"),
        (["profile", "set", "--account", "nobody", "--contact", "x"], "no account named 'nobody'"),
        (["profile", "set", "--account", "shop", "--contact", "x"], "platform account"),
        (["profile", "set", "--account", "ann"], "give --legal-name, --contact or both"),
        (["profile", "set", "--account", "ann", "--contact", "a\x07b"], "control characters"),
        (["profile", "set", "--account", "ann", "--legal-name", "x" * 201], "at most 200 characters"),
    ],
)
def test_cli_refusals_are_one_line_and_exit_2(
    tmp_path: Path, capsys: Capture, argv: list[str], message: str
) -> None:
    with Registry.open(tmp_path) as registry:
        registry.create_key("creator", "ann")
        registry.create_key("platform", "shop")
    assert rights(tmp_path, *argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_cli_wants_an_existing_registry(tmp_path: Path, capsys: Capture) -> None:
    assert rights(tmp_path / "typo", "profile", "show", "--account", "ann") == 2
    assert "no registry in" in capsys.readouterr().err
    assert not (tmp_path / "typo").exists()


# --------------------------------------------------------------------------------- HTTP and notices


@dataclass
class World:
    client: TestClient
    data: Path
    keys: dict[str, str]
    case_id: int

    def headers(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[who]}"}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """ann's work found in a listing (one open case); bo and cy other creators, root an admin."""
    data = tmp_path_factory.mktemp("profiles")
    with Registry.open(data) as registry:
        keys = {
            "ann": registry.create_key("creator", "ann"),
            "bo": registry.create_key("creator", "bo"),
            "cy": registry.create_key("creator", "cy"),
            "root": registry.create_key("admin", "root"),
            "shop": registry.create_key("platform", "shop"),
        }
        work = registry.register("ann", artwork_png(31), title="Harbour")
        match = {
            **{"work_id": work["work_id"], "creator": "ann", "title": "Harbour", "score": 0.95},
            **{"verdict": "match", "kind": "partial", "region": [0, 0, 10, 10], "licensed": False},
        }
        listing = {"listing_id": "L1", "platform": "shop", "seller": "pirate", "title": "Harbour print"}
        with registry.transaction() as conn:
            case = cases.record_hit(conn, match=match, listing=listing, evidence={}, scan_id="scan_1")
    with TestClient(create_app(Settings(data=data))) as client:
        yield World(client, data, keys, case.id)


def test_put_changes_the_keys_given_and_get_reads_them_back(world: World) -> None:
    cy = world.headers("cy")
    put = world.client.put(
        "/v1/profile", headers=cy, json={"legal_name": "Cy  Ng", "contact": "cy@x.example"}
    )
    assert put.status_code == 200, put.text
    assert put.json()["legal_name"] == "Cy Ng" and put.json()["account"] == "cy"
    kept = world.client.put("/v1/profile", headers=cy, json={"contact": "cy@y.example"}).json()
    assert (kept["legal_name"], kept["contact"]) == ("Cy Ng", "cy@y.example")  # absent: unchanged
    assert world.client.put("/v1/profile", headers=cy, json={}).json() == kept  # nothing to change
    cleared = world.client.put("/v1/profile", headers=cy, json={"legal_name": None, "contact": ""}).json()
    assert (cleared["legal_name"], cleared["contact"]) == (None, None)
    assert world.client.get("/v1/profile", headers=cy).json() == cleared


@pytest.mark.parametrize(
    ("who", "method", "query", "expected", "account"),
    [
        ("bo", "GET", "", 200, "bo"),
        ("bo", "PUT", "", 200, "bo"),
        ("bo", "GET", "?account=bo", 200, "bo"),
        ("bo", "GET", "?account=ann", 403, None),
        ("bo", "PUT", "?account=ann", 403, None),
        ("root", "GET", "", 200, "root"),  # an admin may own works, so it has a profile too
        ("root", "PUT", "?account=bo", 200, "bo"),
        ("root", "GET", "?account=bo", 200, "bo"),
        ("root", "GET", "?account=nobody", 404, None),
        ("root", "PUT", "?account=shop", 403, None),  # a platform sends no notices
        ("shop", "GET", "", 403, None),
        ("shop", "PUT", "", 403, None),
        ("anonymous", "GET", "", 401, None),
        ("anonymous", "PUT", "", 401, None),
    ],
)
def test_who_may_read_and_set_a_profile(
    world: World, who: str, method: str, query: str, expected: int, account: str | None
) -> None:
    headers = {} if who == "anonymous" else world.headers(who)
    body = {"contact": f"set by {who}"} if method == "PUT" else None
    answer = world.client.request(method, f"/v1/profile{query}", headers=headers, json=body)
    assert answer.status_code == expected, answer.text
    if expected == 200:
        assert answer.json()["account"] == account
        if method == "PUT":
            assert answer.json()["contact"] == f"set by {who}"
    else:
        error = answer.json()["error"]
        assert error["code"] and error["message"]


JSON_TYPE = {"Content-Type": "application/json"}


@pytest.mark.parametrize(
    ("request_kwargs", "status", "code", "message"),
    [
        ({"json": {"legal_name": "Ann\u0000Lee"}}, 400, "bad_input", "control characters"),
        ({"json": {"contact": "\u001b[2Jcleared"}}, 400, "bad_input", "control characters"),
        ({"json": {"legal_name": "x" * 201}}, 422, "validation_error", "at most 200"),
        ({"json": {"contact": "x" * 501}}, 422, "validation_error", "at most 500"),
        ({"json": {"contact": 5}}, 422, "validation_error", "contact"),
        ({"json": {"legalname": "Ann"}}, 422, "validation_error", "legalname"),  # a typo is not ignored
        ({"json": ["Ann"]}, 422, "validation_error", ""),
        ({"content": b'{"contact": "x"', "headers": JSON_TYPE}, 400, "bad_input", "not valid JSON"),
        ({"content": b'{"contact": "\\ud800"}', "headers": JSON_TYPE}, 400, "bad_input", "surrogate"),
        ({"content": b"", "headers": JSON_TYPE}, 400, "bad_input", "not valid JSON"),
        ({"data": {"contact": "x"}}, 415, "unsupported_media_type", ""),
    ],
)
def test_bad_bodies_are_4xx_in_the_error_shape_and_change_nothing(
    world: World, request_kwargs: dict, status: int, code: str, message: str
) -> None:
    before = world.client.get("/v1/profile", headers=world.headers("ann")).json()
    kwargs = dict(request_kwargs)
    headers = {**world.headers("ann"), **kwargs.pop("headers", {})}
    answer = world.client.put("/v1/profile", headers=headers, **kwargs)
    assert answer.status_code == status, answer.text
    error = answer.json()["error"]
    assert code in error["code"] and message in error["message"]
    assert world.client.get("/v1/profile", headers=world.headers("ann")).json() == before


def test_notices_print_the_stored_profile_unless_told_otherwise(world: World) -> None:
    ann, notice = world.headers("ann"), f"/v1/cases/{world.case_id}/notice"
    blank = world.client.get(f"{notice}?format=json", headers=ann).json()
    assert blank["missing"] == [
        "rights_holder.name",
        "rights_holder.contact",
        "infringing_material.url",
        "signature",
    ]
    stored = world.client.put("/v1/profile", headers=ann, json={"legal_name": LEGAL_NAME, "contact": CONTACT})
    assert stored.status_code == 200, stored.text

    for lang, placeholder, unsigned in (
        ("en", "[to be completed by the rights holder]", "[to be signed by the rights holder]"),
        ("zh", "【由权利人填写】", "【由权利人签名或盖章】"),
    ):
        as_json = world.client.get(f"{notice}?format=json&lang={lang}", headers=ann).json()
        assert as_json["rights_holder"] == {"name": LEGAL_NAME, "account": "ann", "contact": CONTACT}
        assert as_json["signature"] == {"name": LEGAL_NAME, "electronic": f"/{LEGAL_NAME}/"}
        assert as_json["missing"] == ["infringing_material.url"]  # the feed gave no listing URL
        markdown = world.client.get(f"{notice}?format=md&lang={lang}", headers=ann).text
        assert f"/{LEGAL_NAME}/" in markdown and "legal@annlee.example" in markdown, lang
        assert "1 Harbour Row, Bristol" in markdown
        assert markdown.count(placeholder) == 1 and unsigned not in markdown  # the listing URL alone
    # An admin's view of ann's case prints ann's profile, not the admin's.
    by_admin = world.client.get(f"{notice}?format=json", headers=world.headers("root")).json()
    assert by_admin["rights_holder"]["name"] == LEGAL_NAME

    # What the request gives wins, field by field.
    given = world.client.get(f"{notice}?format=json&holder_name=Ann+Lee+as+agent&lang=zh", headers=ann).json()
    assert given["rights_holder"] == {"name": "Ann Lee as agent", "account": "ann", "contact": CONTACT}
    given = world.client.get(f"{notice}?format=md&contact=press%40annlee.example", headers=ann).text
    assert "press@annlee.example" in given and "legal@annlee.example" not in given
    assert f"/{LEGAL_NAME}/" in given


def test_the_cli_notice_prints_the_stored_profile(world: World, capsys: Capture) -> None:
    with Registry.open(world.data) as registry, registry.transaction() as conn:
        profiles.set_profile(conn, "ann", legal_name=LEGAL_NAME, contact=CONTACT)
    assert rights(world.data, "cases", "notice", str(world.case_id), "--format", "json", "--lang", "zh") == 0
    notice = json.loads(capsys.readouterr().out)
    assert (notice["rights_holder"]["name"], notice["rights_holder"]["contact"]) == (LEGAL_NAME, CONTACT)
    assert notice["missing"] == ["infringing_material.url"]
    assert rights(world.data, "cases", "notice", str(world.case_id), "--holder-name", "Someone Else") == 0
    markdown = capsys.readouterr().out
    assert "/Someone Else/" in markdown and "1 Harbour Row" in markdown


def test_a_profile_never_reaches_the_transparency_log(world: World) -> None:
    size = world.client.get("/v1/log/checkpoint").json()["tree_size"]
    secret = {"legal_name": "Private Person Zq", "contact": "42 Secret Lane, Hidden Town"}
    assert world.client.put("/v1/profile", headers=world.headers("bo"), json=secret).status_code == 200
    assert world.client.get("/v1/log/checkpoint").json()["tree_size"] == size  # nothing appended
    entries = world.client.get(f"/v1/log/entries?start=0&end={size}").json()["entries"]
    assert entries and not any("Zq" in e["entry"] or "Secret Lane" in e["entry"] for e in entries)
    with sqlite3.connect(world.data / db.DB_FILENAME) as raw:
        for table in ("log_entries", "log_checkpoints"):
            dump = repr(raw.execute(f"SELECT * FROM {table}").fetchall())
            assert "Zq" not in dump and "Secret Lane" not in dump, table
    raw.close()
