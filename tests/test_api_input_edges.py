"""Odd but plausible requests get the contract's 4xx, never a 500 (the tenth session's audit)."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from rights import db
from rights.api.app import create_app
from rights.config import Settings
from rights.registry import Registry
from tests.rights_support import TestClient, artwork_png


@dataclass
class Api:
    client: TestClient
    data: Path
    alice: dict[str, str]
    admin: dict[str, str]
    work_id: str


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    data = tmp_path_factory.mktemp("edges")
    with Registry.open(data) as reg:
        alice = reg.create_key("creator", "alice")
        admin = reg.create_key("admin", "root")
        work_id = reg.register("alice", artwork_png(700))["work_id"]
        reg.register("alice", artwork_png(701))
    with TestClient(create_app(Settings(data=data))) as client:
        yield Api(
            client,
            data,
            {"Authorization": f"Bearer {alice}"},
            {"Authorization": f"Bearer {admin}"},
            work_id,
        )


def test_lone_surrogate_escapes_are_bad_input(api: Api) -> None:
    upload = {"image": ("a.png", artwork_png(702), "image/png")}
    meta = api.client.post(
        "/v1/works", headers=api.alice, files=upload, data={"metadata": '{"a": "\\ud800"}'}
    )
    assert meta.status_code == 400 and "surrogate" in meta.json()["error"]["message"]
    twice = api.client.post(
        "/v1/works", headers=api.alice, files=upload, data={"metadata": '{"year": 1990, "year": 2024}'}
    )
    assert twice.status_code == 400 and "names the key 'year' twice" in twice.json()["error"]["message"]
    lic = api.client.post(
        f"/v1/works/{api.work_id}/licenses",
        headers={**api.alice, "Content-Type": "application/json"},
        content=b'{"licensee": "shop\\ud800"}',
    )
    assert lic.status_code == 400 and "surrogate" in lic.json()["error"]["message"], lic.text
    # The hash-list lookup let it through its model, then failed writing the answer: a 500 (an audit).
    lookup = api.client.post(
        "/v1/hashes/match",
        headers={**api.alice, "Content-Type": "application/json"},
        content=b'{"hashes": ["\\ud800"]}',
    )
    assert lookup.status_code == 400 and "surrogate" in lookup.json()["error"]["message"], lookup.text


@pytest.mark.parametrize("body", [b"", b"   ", b"{", b'{"licensee": NaN}'])
def test_a_json_body_that_is_not_json_text_is_400_on_every_route(api: Api, body: bytes) -> None:
    """The README's rule; an empty body was a 422 on the routes whose model parsed it."""
    json_headers = {**api.alice, "Content-Type": "application/json"}
    for method, path in (
        ("POST", f"/v1/works/{api.work_id}/licenses"),
        ("PUT", "/v1/profile"),
        ("POST", "/v1/hashes/match"),
        ("POST", "/v1/match"),
    ):
        r = api.client.request(method, path, headers=json_headers, content=body)
        assert r.status_code == 400 and r.json()["error"]["code"] == "bad_input", (path, r.text)


@pytest.mark.parametrize("expiry", ["9999-12-31T23:59:59-12:00", "0001-01-01T00:00:00+14:00"])
def test_licence_expiry_at_the_ends_of_the_calendar_is_bad_input(api: Api, expiry: str) -> None:
    r = api.client.post(
        f"/v1/works/{api.work_id}/licenses", headers=api.alice, json={"licensee": "x", "expires_at": expiry}
    )
    assert r.status_code == 400 and r.json()["error"]["code"] == "bad_input", r.text


def test_empty_query_values_count_as_absent(api: Api) -> None:
    plain = api.client.get("/v1/works", headers=api.alice)
    template = api.client.get("/v1/works?creator=&limit=&cursor=", headers=api.alice)
    assert plain.status_code == template.status_code == 200
    assert template.json() == plain.json() and len(plain.json()["works"]) == 2
    paged = api.client.get("/v1/works?creator=&limit=1", headers=api.alice)
    assert len(paged.json()["works"]) == 1  # what is given still counts
    upload = {"image": ("a.png", artwork_png(700), "image/png")}
    match = api.client.post("/v1/match?limit=&seller=&platform=", headers=api.admin, files=upload)
    assert match.status_code == 200 and match.json()["verdict"] == "match"


@pytest.mark.parametrize("spelling", ["w_01", "w_1%0A", "w_0", "w_+1"])
def test_a_work_has_one_id_spelling(api: Api, spelling: str) -> None:
    assert api.work_id == "w_1"
    assert api.client.get("/v1/works/w_1", headers=api.alice).status_code == 200
    r = api.client.get(f"/v1/works/{spelling}", headers=api.alice)
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"


def _busy_timeout(registry: Registry, ms: int) -> None:
    for conn in registry.connections():  # every thread's (they allow use from other threads)
        with contextlib.suppress(sqlite3.ProgrammingError):  # closed meanwhile: its thread ended
            conn.execute(f"PRAGMA busy_timeout = {ms}")


def test_a_database_locked_by_another_process_is_503_busy(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    registry = api.client.app.state.registry  # type: ignore[attr-defined]
    monkeypatch.setattr(db, "BUSY_TIMEOUT_MS", 200)  # not the 30 s a real overlap may wait
    _busy_timeout(registry, 200)
    holder = sqlite3.connect(api.data / "rights.sqlite3", isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")
    try:
        r = api.client.post(f"/v1/works/{api.work_id}/licenses", headers=api.alice, json={"licensee": "y"})
    finally:
        holder.execute("ROLLBACK")
        holder.close()
        _busy_timeout(registry, db.BUSY_TIMEOUT_MS)
    assert r.status_code == 503 and r.json()["error"]["code"] == "busy", r.text
    assert r.headers["Retry-After"] == "5"
    again = api.client.post(f"/v1/works/{api.work_id}/licenses", headers=api.alice, json={"licensee": "y"})
    assert again.status_code == 201  # nothing half-written by the refused attempt


def test_a_blank_title_lets_the_file_name_stand_in(api: Api) -> None:
    upload = {"image": ("harbour at dusk.png", artwork_png(703), "image/png")}
    r = api.client.post("/v1/works", headers=api.alice, files=upload, data={"title": "   "})
    assert r.status_code == 201 and r.json()["title"] == "harbour at dusk", r.text  # was "   "


def test_a_trailing_slash_is_not_found_not_redirected(api: Api) -> None:
    r = api.client.get("/v1/works/", headers={**api.alice, "Host": "evil.example"}, follow_redirects=False)
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"  # was a 307 to evil.example


def test_a_body_of_the_wrong_media_type_is_415(api: Api) -> None:
    """These routes answered 422 (the body "is not a valid dictionary"); match and scans said 415."""
    text = {**api.alice, "Content-Type": "text/plain"}
    lic = api.client.post(f"/v1/works/{api.work_id}/licenses", headers=text, content=b'{"licensee": "x"}')
    case = api.client.patch("/v1/cases/1", headers=api.alice, data={"status": "dismissed"})
    work = api.client.post("/v1/works", headers=api.alice, json={"image": "a.png"})
    for answer in (lic, case, work):
        assert answer.status_code == 415, answer.text
        assert answer.json()["error"]["code"] == "unsupported_media_type"
    anonymous = api.client.post(f"/v1/works/{api.work_id}/licenses", content=b"x")
    assert anonymous.status_code == 401  # who is asking comes first
    fine = api.client.post(f"/v1/works/{api.work_id}/licenses", headers=api.alice, json={"licensee": "x"})
    assert fine.status_code == 201


def test_a_body_that_is_not_json_is_400_on_every_route(api: Api) -> None:
    """Licences and case changes answered 422 for a broken body, where match and scans said 400."""
    broken = {**api.alice, "Content-Type": "application/json"}
    answers = [
        api.client.post(f"/v1/works/{api.work_id}/licenses", headers=broken, content=b'{"licensee": "x"'),
        api.client.patch("/v1/cases/1", headers=broken, content=b"{status: dismissed}"),
        api.client.post("/v1/match", headers=broken, content=b'{"url": '),
    ]
    for answer in answers:
        assert answer.status_code == 400, answer.text
        assert answer.json()["error"]["code"] == "bad_input"
        assert "JSON" in answer.json()["error"]["message"]
    # Well-formed JSON with the wrong fields is a validation error on every route, those that read
    # their JSON themselves (match and scans, whose bodies take two forms) too: they said 400.
    # (Scans: tests/test_workers_api.py, where the app has a scan service.)
    wrongs = [
        api.client.post(f"/v1/works/{api.work_id}/licenses", headers=api.alice, json={"licensee": 5}),
        api.client.patch("/v1/cases/1", headers=api.alice, json={}),
        api.client.post("/v1/match", headers=api.alice, json={"url": 5}),
        api.client.post("/v1/match", headers=api.alice, json={}),
    ]
    for wrong in wrongs:
        assert wrong.status_code == 422, wrong.text
        assert wrong.json()["error"]["code"] == "validation_error"


def test_a_key_named_twice_is_refused_on_every_json_route(api: Api) -> None:
    """Licences, profiles and case updates took the last of two values (an audit granted a licence to
    the second licensee, written to the signed log); match, scans and metadata refused them."""
    json_headers = {**api.alice, "Content-Type": "application/json"}
    for method, path, body in (
        ("POST", f"/v1/works/{api.work_id}/licenses", b'{"licensee": "goodprints", "licensee": "anyone"}'),
        ("PUT", "/v1/profile", b'{"legal_name": "A", "legal_name": "B"}'),
        ("PATCH", "/v1/cases/1", b'{"status": "dismissed", "status": "open"}'),
        ("PATCH", "/v1/cases/1", b'{"status": "open", "note": {"a": 1, "a": 2}}'),
    ):
        answer = api.client.request(method, path, headers=json_headers, content=body)
        assert answer.status_code == 400, (path, answer.text)
        assert "twice" in answer.json()["error"]["message"]
    granted = api.client.get(f"/v1/works/{api.work_id}/licenses", headers=api.alice).json()
    assert not {"goodprints", "anyone"} & {lic["licensee"] for lic in granted}
    # Unknown keys in a case update are refused as licences and profiles refuse them.
    answer = api.client.request(
        "PATCH", "/v1/cases/1", headers=json_headers, content=b'{"status": "open", "nte": "x"}'
    )
    assert answer.status_code == 422


def test_an_image_sent_as_a_text_field_is_named_so(api: Api) -> None:
    """The 422 said "Expected UploadFile, received: <class 'str'>" (an audit)."""
    r = api.client.post(
        "/v1/works", headers=api.alice, files={"image": (None, "hello"), "title": (None, "x")}
    )
    assert r.status_code == 422, r.text
    assert r.json()["error"]["message"] == "image: must be a file part (with a filename), not a text field"


@pytest.mark.parametrize("spelling", ["1.0", "01", "+1", "0", "1e0", "١"])
def test_a_case_has_one_id_spelling(api: Api, spelling: str) -> None:
    """`/v1/cases/1.0` was case 1 (an audit), as works have one id spelling."""
    r = api.client.get(f"/v1/cases/{spelling}", headers=api.alice)
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found", r.text
    assert api.client.get(f"/v1/cases/{spelling}").status_code == 401  # no key: still 401 first
