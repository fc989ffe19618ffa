"""The API under a real uvicorn on 127.0.0.1: uploads, URL matching, limits, receipts and proofs over HTTP."""

from __future__ import annotations

import base64
import json
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from rights.api.app import create_app
from rights.api.limits import FORM_OVERHEAD_BYTES
from rights.config import Settings
from rights.log import load_public_key, verify_receipt
from rights.log.merkle import verify_consistency, verify_inclusion
from rights.log.signing import verify_signature
from rights.registry import Registry
from tests.image_server import Route, serve_images
from tests.rights_support import artwork_png, live_server, near_copy, plain_png

MAX_UPLOAD = 300_000


@dataclass
class Live:
    url: str
    keys: dict[str, str]
    data: Path

    def client(self, who: str) -> httpx.Client:
        return httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {self.keys[who]}"}, timeout=30
        )


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    data = tmp_path_factory.mktemp("live")
    with Registry.open(data) as reg:
        keys = {
            "admin": reg.create_key("admin", "root"),
            "alice": reg.create_key("creator", "alice"),
            "bob": reg.create_key("creator", "bob"),
            "shop": reg.create_key("platform", "shop"),
        }
    settings = Settings(data=data, max_upload_bytes=MAX_UPLOAD, fetch_allow=["127.0.0.1/32"])
    with live_server(create_app(settings)) as url:
        yield Live(url, keys, data)


def _upload(client: httpx.Client, image: bytes, **form: str) -> httpx.Response:
    return client.post("/v1/works", files={"image": ("art.png", image, "image/png")}, data=form)


def test_register_then_contested_by_bytes_and_by_near_duplicate(live: Live) -> None:
    with live.client("alice") as alice, live.client("bob") as bob:
        original = _upload(alice, artwork_png(300), title="Lighthouse")
        assert original.status_code == 201, original.text
        work = original.json()
        assert work["status"] == "registered" and work["title"] == "Lighthouse"
        same = _upload(bob, artwork_png(300))
        near = bob.post("/v1/works", files={"image": ("c.jpg", near_copy(300), "image/jpeg")})
        for answer in (same, near):
            assert answer.status_code == 201
            body = answer.json()
            assert body["status"] == "contested" and body["creator"] == "bob"
            assert body["conflicts"][0]["work_id"] == work["work_id"]
            assert body["conflicts"][0]["log_index"] == work["log_index"]
        assert same.json()["conflicts"][0]["kind"] == "exact"
        assert same.json()["title"] == "art"  # no title given: the file's name
        again = _upload(alice, artwork_png(300))
        assert again.json()["work_id"] == work["work_id"]


def test_refusals_answer_in_the_contract_shape(live: Live) -> None:
    with live.client("alice") as alice:
        low = _upload(alice, plain_png())
        assert low.status_code == 422 and low.json()["error"]["code"] == "low_information"
        junk = _upload(alice, b"GIF89a but not really")
        assert junk.status_code == 400 and junk.json()["error"]["message"]
        meta = _upload(alice, artwork_png(301), metadata="[1, 2]")
        assert meta.status_code == 400 and meta.json()["error"]["code"] == "bad_input"
        missing = alice.post("/v1/works", files={"title": (None, "no image")})  # multipart, no file
        assert missing.status_code == 422 and missing.json()["error"]["code"] == "validation_error"
        urlencoded = alice.post("/v1/works", data={"title": "no image"})  # a form that cannot hold one
        assert (
            urlencoded.status_code == 415 and urlencoded.json()["error"]["code"] == "unsupported_media_type"
        )
        two = [
            ("image", ("a.png", artwork_png(302), "image/png")),
            ("image", ("b.png", artwork_png(303), "image/png")),
        ]
        both = alice.post("/v1/works", files=two)
        assert (
            both.status_code == 400 and "one 'image'" in both.json()["error"]["message"]
        )  # not the last only
        titles = alice.post(
            "/v1/works",
            files=[("image", ("c.png", artwork_png(304), "image/png"))],
            data={"title": ["first", "second"]},
        )
        assert titles.status_code == 400 and "'title' field once" in titles.json()["error"]["message"]


def test_receipt_and_proofs_verify_offline(live: Live) -> None:
    with live.client("alice") as alice, httpx.Client(base_url=live.url) as public:
        work = _upload(alice, artwork_png(310)).json()
        checkpoint = public.get("/v1/log/checkpoint").json()
        # The published key (API and file agree) verifies the receipt with no further help from the server.
        assert checkpoint["public_key"] == (live.data / "log-public-key.pem").read_text()
        entry = verify_receipt(work["receipt"], checkpoint["public_key"])
        assert entry["work_id"] == work["work_id"] and entry["creator"] == "alice"
        assert alice.get(f"/v1/works/{work['work_id']}/receipt").json() == work["receipt"]
        forged = {**work["receipt"], "entry": work["receipt"]["entry"].replace('"alice"', '"bob"')}
        with pytest.raises(ValueError):
            verify_receipt(forged, checkpoint["public_key"])

        size = checkpoint["tree_size"]
        proof = public.get(
            "/v1/log/proof/inclusion", params={"index": work["log_index"], "size": size}
        ).json()
        verify_inclusion(
            work["log_index"],
            size,
            bytes.fromhex(proof["leaf_hash"]),
            [bytes.fromhex(h) for h in proof["inclusion_path"]],
            bytes.fromhex(checkpoint["root_hash"]),
        )
        first = work["receipt"]["checkpoint"]
        cons = public.get(
            "/v1/log/proof/consistency", params={"first": first["tree_size"], "second": size}
        ).json()
        verify_consistency(
            first["tree_size"],
            size,
            bytes.fromhex(first["root_hash"]),
            bytes.fromhex(checkpoint["root_hash"]),
            [bytes.fromhex(h) for h in cons["consistency_path"]],
        )
        entries = public.get("/v1/log/entries", params={"start": 0, "end": size}).json()
        assert [e["index"] for e in entries["entries"]] == list(range(size))
        assert base64.b64decode(checkpoint["signature"])
        assert public.get("/v1/log/proof/inclusion", params={"index": size}).status_code == 400
        # The tree head at the receipt's size, signed then: a proof against it can be checked too.
        older = public.get("/v1/log/checkpoint", params={"size": first["tree_size"]}).json()
        assert older["tree_size"] == first["tree_size"] and older["root_hash"] == first["root_hash"]
        key = load_public_key(checkpoint["public_key"])
        assert verify_signature(key, base64.b64decode(older["signature"]), older["body"].encode())
        assert public.get("/v1/log/checkpoint", params={"size": size + 1}).status_code == 404
        assert public.get("/v1/log/checkpoint", params={"size": 2**70}).status_code == 422


def test_match_by_upload_and_by_url(live: Live) -> None:
    with live.client("alice") as alice, live.client("shop") as shop:
        work = _upload(alice, artwork_png(320)).json()
        by_upload = shop.post("/v1/match", files={"image": ("q.jpg", near_copy(320), "image/jpeg")})
        assert by_upload.status_code == 200
        body = by_upload.json()
        assert body["verdict"] == "match" and body["matches"][0]["work_id"] == work["work_id"]
        assert isinstance(body["took_ms"], float)
        routes = {"/copy.jpg": Route(body=near_copy(320), headers={"Content-Type": "image/jpeg"})}
        with serve_images(routes) as images:
            by_url = shop.post("/v1/match", json={"url": images.url("/copy.jpg")})
            assert by_url.status_code == 200, by_url.text
            assert by_url.json()["matches"][0]["work_id"] == work["work_id"]
            missing = shop.post("/v1/match", json={"url": images.url("/nothing.jpg")})
            assert missing.status_code == 400
        refused = shop.post("/v1/match", json={"url": "http://169.254.169.254/latest/meta-data"})
        assert refused.status_code == 400 and refused.json()["error"]["code"] == "fetch_refused"
        assert shop.post("/v1/match", json={"nope": 1}).status_code == 422
        assert (
            shop.post("/v1/match", content=b"{", headers={"Content-Type": "application/json"}).status_code
            == 400
        )
        assert (
            shop.post("/v1/match", content=b"raw", headers={"Content-Type": "image/png"}).status_code == 415
        )
        clear = shop.post("/v1/match?limit=3", files={"image": ("q.png", artwork_png(999), "image/png")})
        assert clear.status_code == 200 and clear.json()["verdict"] != "match"
        assert len(clear.json()["matches"]) <= 3


def _raw_request(live: Live, declared_length: int) -> bytes:
    host, port = live.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(
            f"POST /v1/works HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {live.keys['alice']}\r\n"
            f"Content-Type: multipart/form-data; boundary=b\r\nContent-Length: {declared_length}\r\n"
            "Connection: close\r\n\r\n".encode()
        )
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer


def test_upload_limits(live: Live) -> None:
    big = b"\x89PNG\r\n\x1a\n" + b"\x00" * (MAX_UPLOAD + 10)
    with live.client("alice") as alice:
        # Declared too big: refused before the body is sent (raw socket, since httpx will not lie).
        head = _raw_request(live, MAX_UPLOAD + FORM_OVERHEAD_BYTES + 1)
        assert head.startswith(b"HTTP/1.1 413") and b"payload_too_large" in head

        # Chunked, no Content-Length: counted while received.
        def chunks() -> Iterator[bytes]:
            yield b'--b\r\nContent-Disposition: form-data; name="image"; filename="x.png"\r\n\r\n'
            for _ in range(8):
                yield b"\x00" * 64_000
            yield b"\r\n--b--\r\n"

        chunked = alice.post(
            "/v1/works", content=chunks(), headers={"Content-Type": "multipart/form-data; boundary=b"}
        )
        assert chunked.status_code == 413, chunked.text
        # Within the body allowance but the file itself is over the limit.
        file_over = _upload(alice, big[: MAX_UPLOAD + 10])
        assert file_over.status_code == 413
        match_over = alice.post("/v1/match", files={"image": ("q.png", big, "image/png")})
        assert match_over.status_code == 413


def test_concurrent_requests_never_fail(live: Live) -> None:
    def register(seed: int) -> int:
        with live.client("alice") as alice:
            return _upload(alice, artwork_png(seed)).status_code

    def match(seed: int) -> int:
        with live.client("shop") as shop:
            return shop.post(
                "/v1/match", files={"image": ("q.jpg", near_copy(seed), "image/jpeg")}
            ).status_code

    with ThreadPoolExecutor(6) as pool:
        registered = list(pool.map(register, range(340, 346)))
        matched = list(pool.map(match, range(340, 346)))
    assert registered == [201] * 6 and matched == [200] * 6
    with httpx.Client(base_url=live.url) as public:
        metrics = public.get("/metrics").text
        assert 'rights_http_requests_total{method="POST",route="/v1/works",status="201"}' in metrics
        assert "rights_http_request_duration_seconds_bucket" in metrics
        works = next(line for line in metrics.splitlines() if line.startswith("rights_works_indexed "))
        assert float(works.split()[1]) >= 6
        assert public.get("/healthz").json()["status"] == "ok"


def test_a_client_that_leaves_mid_body_is_no_server_error(live: Live) -> None:
    """A JSON body cut short was an unhandled ClientDisconnect: a 500 in the metrics and a traceback."""
    host, port = live.url.removeprefix("http://").split(":")
    for path, who in (("/v1/match", "shop"), ("/v1/scans", "shop")):
        with socket.create_connection((host, int(port)), timeout=10) as sock:
            sock.sendall(
                f"POST {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {live.keys[who]}\r\n"
                "Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{}".encode()
            )
            time.sleep(0.3)
    time.sleep(0.3)
    with httpx.Client(base_url=live.url) as public:
        metrics = public.get("/metrics").text
    assert 'status="500"' not in metrics


@pytest.mark.parametrize(
    "request_head",
    [
        b"GET /v1/works HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n",
        b"POST /v1/match HTTP/1.1\r\nHost: x\r\nContent-Length: ten\r\n\r\n",
        b"GET /v1/\x00works HTTP/1.1\r\nHost: x\r\n\r\n",
    ],
)
def test_a_request_uvicorn_cannot_parse_gets_the_contracts_error_shape(
    live: Live, request_head: bytes
) -> None:
    """Uvicorn answered these itself, in text/plain ("Invalid HTTP request received.")."""
    host, port = live.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(request_head)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    assert (
        head.startswith(b"HTTP/1.1 400 Bad Request\r\n") and b"content-type: application/json" in head.lower()
    )
    error = json.loads(body)["error"]
    assert error["code"] == "bad_input" and error["message"].startswith("malformed HTTP request"), error


def test_url_fetches_are_capped_so_slow_hosts_cannot_take_every_thread(tmp_path: Path) -> None:
    arrivals: list[float] = []

    class Trickle(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            arrivals.append(time.monotonic())
            try:
                self.send_response(200)
                self.send_header("Content-Length", "100000")
                self.end_headers()
                for _ in range(40):  # about 2 s of a byte at a time: longer than the deadline
                    self.wfile.write(b"\x89")
                    self.wfile.flush()
                    time.sleep(0.05)
            except OSError:
                pass  # the fetcher gave up and closed the connection

        def log_message(self, format: str, *args: object) -> None:
            pass

    slow = ThreadingHTTPServer(("127.0.0.1", 0), Trickle)
    slow.daemon_threads = True
    threading.Thread(target=slow.serve_forever, daemon=True).start()
    with Registry.open(tmp_path) as reg:
        key = reg.create_key("platform", "shop")
    settings = Settings(
        data=tmp_path, fetch_allow=["127.0.0.1/32"], fetch_deadline_s=0.6, fetch_concurrency=3
    )
    try:
        with (
            live_server(create_app(settings)) as url,
            httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=30) as client,
            ThreadPoolExecutor(9) as pool,
        ):
            body = {"url": f"http://127.0.0.1:{slow.server_port}/slow.png"}
            answers = list(pool.map(lambda _: client.post("/v1/match", json=body), range(9)))
    finally:
        slow.shutdown()
        slow.server_close()
    assert [a.status_code for a in answers] == [400] * 9
    assert all("took longer than" in a.json()["error"]["message"] for a in answers)
    # Three at a time: a fetch starts only when one of the three before it has hit its deadline.
    arrivals.sort()
    assert len(arrivals) == 9 and arrivals[2] - arrivals[0] < 0.5, arrivals
    assert all(arrivals[i] - arrivals[i - 3] >= 0.5 for i in range(3, 9)), arrivals
