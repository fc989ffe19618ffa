"""Scan and case routes over the real app, with the workers' background scan service injected."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from rights.api.app import create_app
from rights.registry import Registry
from tests.artwork import artwork, encode, pirate
from tests.image_server import ImageServer, Route, serve_images
from tests.rights_support import TestClient
from tests.scan_support import World, build_world
from workers.service import BackgroundScans


@pytest.fixture(scope="module")
def server() -> Iterator[ImageServer]:
    with serve_images() as srv:
        srv.routes["/a.png"] = Route(body=encode(pirate(artwork(11), "crop")))
        srv.routes["/b.png"] = Route(body=encode(artwork(903)))
        yield srv


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory, server: ImageServer) -> Iterator[tuple]:
    world: World = build_world(tmp_path_factory.mktemp("api"), fetch_allow=["127.0.0.1/32"])
    with Registry.open(world.settings) as registry:
        keys = {
            "shop": registry.create_key("platform", "shop"),
            "ana": registry.create_key("creator", "ana"),
            "ben": registry.create_key("creator", "ben"),
            "root": registry.create_key("admin", "root"),
        }
    service = BackgroundScans(workers=1)
    with TestClient(create_app(world.settings, scan_service=service)) as client:
        yield client, keys, world, server
    service.close()


def _auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def _wait(client: TestClient, scan_id: str, key: str) -> dict:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        body = client.get(f"/v1/scans/{scan_id}", headers=_auth(key)).json()
        if body["status"] in ("done", "failed"):
            return body
        time.sleep(0.1)
    raise AssertionError(f"scan {scan_id} did not finish: {body}")


def test_scan_submitted_as_json_then_cases_and_notices(setup: tuple) -> None:
    client, keys, world, server = setup
    listings = [
        {
            "listing_id": "A1",
            "platform": "shop",
            "image": server.url("/a.png"),
            "title": "Fox <i>poster</i>",
            "url": "https://shop.example/A1",
            "seller": "s1",
        },
        {"listing_id": "B1", "platform": "shop", "image": server.url("/b.png")},
        {"listing_id": "C1", "platform": "shop", "image": "/etc/passwd"},
        {"listing_id": "D1", "platform": "shop", "image": "http://169.254.169.254/latest/meta-data/"},
    ]
    answer = client.post("/v1/scans", json={"listings": listings}, headers=_auth(keys["shop"]))
    assert answer.status_code == 202, answer.text
    scan_id = answer.json()["scan_id"]
    status = _wait(client, scan_id, keys["shop"])
    assert status["status"] == "done" and status["done"] == 4 and status["progress"] == 1.0
    assert status["counts"]["match"] == 1 and status["counts"]["error"] == 2

    found = client.get(f"/v1/scans/{scan_id}/findings", headers=_auth(keys["shop"]))
    assert found.headers["content-type"].startswith("application/x-ndjson")
    findings = [json.loads(line) for line in found.text.splitlines()]
    assert [f["listing_id"] for f in findings] == ["A1", "B1", "C1", "D1"]
    assert findings[0]["matches"][0]["work_id"] == world.works[11]
    assert "local paths are not accepted" in findings[2]["error"]  # no server file reads over HTTP
    assert "cloud metadata" in findings[3]["error"]

    # Work 11 belongs to ana: she sees the case, ben does not, the platform may not list cases.
    ana_cases = client.get("/v1/cases", headers=_auth(keys["ana"])).json()["cases"]
    (case,) = [c for c in ana_cases if c["listing_id"] == "A1"]
    assert case["status"] == "open" and case["listing_url"] == "https://shop.example/A1"
    assert all(
        c["listing_id"] != "A1" for c in client.get("/v1/cases", headers=_auth(keys["ben"])).json()["cases"]
    )
    assert client.get("/v1/cases", headers=_auth(keys["shop"])).status_code == 403
    # Another creator's cases are refused, not quietly swapped for the caller's own.
    assert client.get("/v1/cases?creator=ana", headers=_auth(keys["ben"])).status_code == 403
    assert client.get(f"/v1/cases/{case['id']}", headers=_auth(keys["ben"])).status_code == 404

    notice = client.get(f"/v1/cases/{case['id']}/notice?format=html&lang=en", headers=_auth(keys["ana"]))
    assert notice.status_code == 200 and notice.headers["content-type"].startswith("text/html")
    assert "under penalty of perjury" in notice.text and "Fox &lt;i&gt;poster&lt;/i&gt;" in notice.text
    zh = client.get(f"/v1/cases/{case['id']}/notice?format=md&lang=zh", headers=_auth(keys["ana"]))
    assert "《信息网络传播权保护条例》第十四条" in zh.text
    as_json = client.get(f"/v1/cases/{case['id']}/notice?format=json", headers=_auth(keys["ana"])).json()
    assert as_json["work"]["log_index"] is not None and as_json["work"]["receipt"]["log_index"] is not None

    # A NUL, a terminal escape: they were printed into the notice.
    for query in ("contact=AB%00CD", "contact=%1b[31mred", "holder_name=A%00B"):
        escaped = client.get(f"/v1/cases/{case['id']}/notice?{query}", headers=_auth(keys["ana"]))
        assert escaped.status_code == 400 and "control characters" in escaped.json()["error"]["message"]
    two_lines = client.get(
        f"/v1/cases/{case['id']}/notice?contact=Mei%0AHarbour+Rd", headers=_auth(keys["ana"])
    )
    assert two_lines.status_code == 200
    signed = client.get(
        f"/v1/cases/{case['id']}/notice?format=json&holder_name=Ana+Ltd&contact=x", headers=_auth(keys["ana"])
    ).json()
    assert signed["signature"]["electronic"] == "/Ana Ltd/" and signed["missing"] == []
    nul = client.patch(
        f"/v1/cases/{case['id']}", json={"status": "notified", "note": "a\u0000b"}, headers=_auth(keys["ana"])
    )
    assert nul.status_code == 400

    moved = client.patch(
        f"/v1/cases/{case['id']}", json={"status": "notified", "note": "sent"}, headers=_auth(keys["ana"])
    )
    assert moved.status_code == 200 and moved.json()["status"] == "notified"
    bad = client.patch(f"/v1/cases/{case['id']}", json={"status": "open"}, headers=_auth(keys["ana"]))
    assert bad.status_code == 200  # notified -> open is allowed (reopen)
    refused = client.patch(
        f"/v1/cases/{case['id']}", json={"status": "taken_down"}, headers=_auth(keys["ana"])
    )
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "conflict"

    # A dismissed use gets no takedown notice (it was served, with nothing in it saying so).
    assert client.patch(f"/v1/cases/{case['id']}", json={"status": "dismissed"}, headers=_auth(keys["ana"]))
    no_notice = client.get(f"/v1/cases/{case['id']}/notice", headers=_auth(keys["ana"]))
    assert no_notice.status_code == 409 and "is dismissed" in no_notice.json()["error"]["message"]
    assert client.patch(f"/v1/cases/{case['id']}", json={"status": "open"}, headers=_auth(keys["ana"]))


def test_scan_submitted_as_feed_file(setup: tuple, tmp_path: Path) -> None:
    client, keys, _, server = setup
    feed = "listing_id,platform,image\nF1,shop," + server.url("/a.png") + "\nF2,shop,\n"
    for name in ("feed.csv", "listings.txt"):  # a CSV is told by its name or by its content type
        answer = client.post(
            "/v1/scans", files={"feed": (name, feed.encode(), "text/csv")}, headers=_auth(keys["shop"])
        )
        assert answer.status_code == 202, answer.text
        status = _wait(client, answer.json()["scan_id"], keys["shop"])
        assert status["counts"] == {"match": 1, "review": 0, "clear": 0, "error": 1}


def test_a_platform_scans_only_its_own_listings(setup: tuple) -> None:
    """A platform could name another platform, and so have that platform's licences excuse a copy,
    or open cases against its listings; match already answers a platform caller as itself."""
    client, keys, _, server = setup
    listings = [
        {"listing_id": "P1", "platform": "rival", "image": server.url("/a.png")},
        {"listing_id": "P2", "platform": "shop", "image": server.url("/a.png")},
        {"listing_id": "P3", "platform": "shop", "image": "file:///etc/passwd"},
    ]
    answer = client.post("/v1/scans", json={"listings": listings}, headers=_auth(keys["shop"]))
    scan_id = answer.json()["scan_id"]
    assert _wait(client, scan_id, keys["shop"])["counts"] == {"match": 1, "review": 0, "clear": 0, "error": 2}
    found = client.get(f"/v1/scans/{scan_id}/findings", headers=_auth(keys["shop"])).text.splitlines()
    rival, _, file_url = (json.loads(line) for line in found)
    assert "a platform account scans its own listings ('shop')" in rival["error"]
    assert rival["platform"] == "rival" and rival["listing_id"] == "P1"  # the line as it was sent
    assert "give an http(s) URL" in file_url["error"]  # said "or file paths", which HTTP feeds refuse
    # An admin scans for any platform.
    answer = client.post("/v1/scans", json={"listings": listings[:1]}, headers=_auth(keys["root"]))
    assert _wait(client, answer.json()["scan_id"], keys["root"])["counts"]["match"] == 1


def test_deep_json_and_out_of_range_ids_are_4xx(setup: tuple) -> None:
    client, keys, _, _ = setup
    deep = "[" * 100_000 + "]" * 100_000
    as_json = {"content-type": "application/json"}
    answers = [
        client.post("/v1/match", content=deep, headers={**_auth(keys["shop"]), **as_json}),
        client.post("/v1/scans", content=deep, headers={**_auth(keys["shop"]), **as_json}),
        client.post(
            "/v1/works",
            files={"image": ("a.png", encode(artwork(905)), "image/png")},
            data={"title": "t", "metadata": deep},
            headers=_auth(keys["ana"]),
        ),
    ]
    for answer in answers:
        assert answer.status_code == 400, answer.text
        assert "nested more than" in answer.json()["error"]["message"]
    # A lone surrogate escape parses, but could never be written out as UTF-8: once a 500.
    lone = b'{"listings": [{"listing_id": "a\\ud800", "platform": "etsy", "image": "x.png"}]}'
    answer = client.post("/v1/scans", content=lone, headers={**_auth(keys["shop"]), **as_json})
    assert answer.status_code == 400 and "surrogate" in answer.json()["error"]["message"], answer.text
    huge = 2**63
    for method, path in (
        ("GET", f"/v1/cases/{huge}"),
        ("GET", f"/v1/cases/{huge}/notice"),
        ("PATCH", f"/v1/cases/{huge}"),
    ):
        answer = client.request(method, path, json={"status": "dismissed"}, headers=_auth(keys["ana"]))
        assert answer.status_code == 404, (path, answer.text)
    for cursor in ("99999999999999999999", "²"):
        answer = client.get("/v1/cases", params={"cursor": cursor}, headers=_auth(keys["ana"]))
        assert answer.status_code == 400, answer.text


def test_scan_permissions_and_bad_bodies(setup: tuple) -> None:
    client, keys, _, _ = setup
    listing = {"listings": [{"listing_id": "x", "platform": "shop", "image": "https://cdn.example/x.png"}]}
    assert client.post("/v1/scans", json=listing, headers=_auth(keys["ana"])).status_code == 403
    assert client.post("/v1/scans", json=listing).status_code == 401
    # Well-formed JSON without a listing is a validation error, as on the routes FastAPI validates.
    for body in ({"listings": []}, {"listings": "x"}, [], {}):
        answer = client.post("/v1/scans", json=body, headers=_auth(keys["shop"]))
        assert answer.status_code == 422 and answer.json()["error"]["code"] == "validation_error", body
    broken = client.post(
        "/v1/scans",
        content=b'{"listings": [',
        headers={**_auth(keys["shop"]), "content-type": "application/json"},
    )
    assert broken.status_code == 400 and broken.json()["error"]["code"] == "bad_input"
    assert (
        client.post(
            "/v1/scans", content=b"x", headers={**_auth(keys["shop"]), "content-type": "text/plain"}
        ).status_code
        == 415
    )
    assert (
        client.get("/v1/scans/scan_nope", headers=_auth(keys["shop"])).json()["error"]["code"] == "not_found"
    )


def test_a_scan_whose_workers_cannot_start_is_failed_with_the_reason(tmp_path: Path) -> None:
    """`serve --scheduler` naming no scheduler left every scan "queued" for ever, with no error."""
    import socket

    import dask

    world = build_world(tmp_path / "w", fetch_allow=["127.0.0.1/32"])
    with Registry.open(world.settings) as registry:
        key = registry.create_key("platform", "shop")
    with socket.socket() as sock:  # a port with nothing listening
        sock.bind(("127.0.0.1", 0))
        nowhere = f"tcp://127.0.0.1:{sock.getsockname()[1]}"
    service = BackgroundScans(workers=1, scheduler=nowhere)
    listing = {"listing_id": "a", "platform": "shop", "image": "http://127.0.0.1:9/a.png"}
    with dask.config.set({"distributed.comm.timeouts.connect": "2s"}):
        with TestClient(create_app(world.settings, scan_service=service)) as client:
            r = client.post("/v1/scans", headers=_auth(key), json={"listings": [listing]})
            assert r.status_code == 202, r.text
            body = _wait(client, r.json()["scan_id"], key)
        service.close()
    assert body["status"] == "failed" and "workers could not be started" in body["error"], body


def test_a_server_stopping_mid_scan_does_not_wait_for_fetches_in_flight(tmp_path: Path) -> None:
    """Stopping waited for every running task: 8 URLs on a host that never answers, 30 s each, held
    a stopping server for 237 s (an audit). The scan is left to resume."""
    import socket

    world = build_world(tmp_path / "w", fetch_allow=["127.0.0.1/32"])
    with Registry.open(world.settings) as registry:
        key = registry.create_key("platform", "shop")
    with socket.socket() as silent:  # connections complete in its backlog; nothing is ever answered
        silent.bind(("127.0.0.1", 0))
        silent.listen(64)
        port = silent.getsockname()[1]
        listings = [
            {"listing_id": f"h{i}", "platform": "shop", "image": f"http://127.0.0.1:{port}/{i}.png"}
            for i in range(16)
        ]
        service = BackgroundScans(workers=1)
        with TestClient(create_app(world.settings, scan_service=service)) as client:
            r = client.post("/v1/scans", headers=_auth(key), json={"listings": listings})
            scan_id = r.json()["scan_id"]
            deadline = time.monotonic() + 60
            while client.get(f"/v1/scans/{scan_id}", headers=_auth(key)).json()["status"] != "running":
                assert time.monotonic() < deadline, "the scan never started"
                time.sleep(0.1)
            time.sleep(4)  # the worker has started and is waiting on a fetch
            started = time.monotonic()
            service.close()
            took = time.monotonic() - started
            body = client.get(f"/v1/scans/{scan_id}", headers=_auth(key)).json()
    assert took < 15, took
    assert body["status"] == "queued" and body["done"] == 0, body
